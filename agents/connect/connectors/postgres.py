"""PostgreSQL sink (psycopg 3): upsert by key, tables created from the record schema.

At-least-once delivery is made idempotent by the upsert: a batch redelivered after a crash
rewrites the same rows. Each batch is one transaction; within a batch the last record per key
wins (one statement may not touch a row twice).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time
from typing import Any

import orjson
import psycopg
from psycopg import sql

from agents.connect.configdef import ConfigKey, at_least, non_empty, one_of
from agents.connect.converters import infer_schema
from agents.connect.plugins import ConnectorPlugin, TaskContext
from agents.connect.types import (
    ConfigType,
    ConnectorError,
    ConnectorType,
    ConnectRecord,
    RetriableError,
)

_PG_TYPES = {
    "int8": "SMALLINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "float32": "REAL",
    "float64": "DOUBLE PRECISION",
    "double": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "string": "TEXT",
    "bytes": "BYTEA",
}
COPY_THRESHOLD = 64
"""Batches at least this large are written with COPY + one upsert instead of executemany."""
_LOGICAL = {
    "org.apache.kafka.connect.data.Timestamp": "TIMESTAMPTZ",
    "org.apache.kafka.connect.data.Date": "DATE",
    "org.apache.kafka.connect.data.Time": "TIME",
}


def column_type(field_schema: Mapping[str, Any]) -> str:
    logical = _LOGICAL.get(str(field_schema.get("name")))
    if logical:
        return logical
    return _PG_TYPES.get(str(field_schema.get("type")), "JSONB")


def _cell(value: Any, pg_type: str) -> Any:
    if pg_type == "JSONB" and value is not None:
        return orjson.dumps(value).decode()
    if pg_type == "TIMESTAMPTZ" and isinstance(value, int):
        from agents.connect.timestamps import to_datetime

        return to_datetime(value, None, "milliseconds")
    if isinstance(value, datetime | date | time):
        return value
    return value


class PostgresSinkTask:
    def __init__(self, config: Mapping[str, Any], context: TaskContext) -> None:
        self.url = str(config["connection.url"])
        self.table_format = str(config.get("table.name.format") or "${topic}")
        self.pk_mode = str(config.get("pk.mode") or "record_key")
        self.pk_fields = [f for f in str(config.get("pk.fields") or "").split(",") if f]
        self.auto_create = str(config.get("auto.create", "true")).lower() == "true"
        self.delete_enabled = str(config.get("delete.enabled", "false")).lower() == "true"
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._columns: dict[str, dict[str, str]] = {}

    async def start(self) -> None:
        await self._connect()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=False)
            except psycopg.OperationalError as exc:
                raise RetriableError(f"cannot connect to PostgreSQL: {exc}") from None
        return self._conn

    def _table(self, topic: str) -> str:
        return self.table_format.replace("${topic}", topic).replace(".", "_").replace("-", "_")

    def _row(self, record: ConnectRecord) -> dict[str, Any]:
        if not isinstance(record.value, Mapping):
            raise ConnectorError(
                f"PostgreSQL sink needs struct/map values, got {type(record.value).__name__}"
            )
        row = dict(record.value)
        if self.pk_mode == "record_key":
            key = record.key
            names = self.pk_fields or ["id"]
            if isinstance(key, Mapping):
                row.update({n: key.get(n) for n in names})
            else:
                row[names[0]] = key
        return row

    def _key_names(self) -> list[str]:
        if self.pk_mode == "none":
            return []
        return self.pk_fields or ["id"]

    def _schema_columns(self, record: ConnectRecord, row: Mapping[str, Any]) -> dict[str, str]:
        schema = record.value_schema
        if not schema or schema.get("type") != "struct":
            schema = infer_schema(row)
        columns = {str(f["field"]): column_type(f) for f in schema.get("fields", [])}
        for name, value in row.items():
            columns.setdefault(name, column_type(infer_schema(value)))
        if self.pk_mode == "record_key":
            for name in self._key_names():
                if row.get(name) is not None:
                    columns[name] = column_type(infer_schema(row[name]))
        return columns

    async def _ensure_table(
        self, cur: psycopg.AsyncCursor[Any], table: str, columns: dict[str, str]
    ) -> None:
        if table in self._columns:
            return
        await cur.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
            (table,),
        )
        existing = {name: kind for name, kind in await cur.fetchall()}
        if existing:
            self._columns[table] = {n: columns.get(n, "TEXT") for n in existing}
            return
        if not self.auto_create:
            raise ConnectorError(f"table {table} does not exist and auto.create is false")
        keys = self._key_names()
        parts = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(name),
                sql.SQL(kind),
                sql.SQL(" NOT NULL" if name in keys else ""),
            )
            for name, kind in columns.items()
        ]
        if keys:
            parts.append(
                sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, keys)))
            )
        await cur.execute(
            sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                sql.Identifier(table), sql.SQL(", ").join(parts)
            )
        )
        self._columns[table] = dict(columns)

    def _upsert(self, table: str, names: list[str], stage: str | None = None) -> sql.Composed:
        keys = self._key_names()
        columns = sql.SQL(", ").join(map(sql.Identifier, names))
        source = (
            sql.SQL("SELECT {} FROM {}").format(columns, sql.Identifier(stage))
            if stage
            else sql.SQL("VALUES ({})").format(sql.SQL(", ").join(sql.Placeholder() * len(names)))
        )
        statement = sql.SQL("INSERT INTO {} ({}) {}").format(sql.Identifier(table), columns, source)
        if not keys:
            return statement
        updates = [n for n in names if n not in keys]
        action = (
            sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(n), sql.Identifier(n))
                    for n in updates
                )
            )
            if updates
            else sql.SQL("DO NOTHING")
        )
        return sql.SQL("{} ON CONFLICT ({}) {}").format(
            statement, sql.SQL(", ").join(map(sql.Identifier, keys)), action
        )

    async def put(self, records: Sequence[ConnectRecord]) -> None:
        by_table: dict[str, dict[Any, tuple[ConnectRecord, dict[str, Any] | None]]] = {}
        keys = self._key_names()
        for index, record in enumerate(records):
            table = self._table(record.topic)
            if record.value is None:
                if self.delete_enabled and record.key is not None:
                    by_table.setdefault(table, {})[_key_of(record.key)] = (record, None)
                continue
            row = self._row(record)
            ident = tuple(_key_of(row.get(k)) for k in keys) if keys else index
            by_table.setdefault(table, {})[ident] = (record, row)
        if not by_table:
            return
        conn = await self._connect()
        try:
            async with conn.transaction(), conn.cursor() as cur:
                for table, entries in by_table.items():
                    rows = [(r, row) for r, row in entries.values() if row is not None]
                    deletes = [r for r, row in entries.values() if row is None]
                    if rows:
                        await self._write_rows(cur, table, rows)
                    if deletes and keys:
                        await cur.executemany(
                            sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                                sql.Identifier(table), sql.Identifier(keys[0])
                            ),
                            [(r.key,) for r in deletes],
                        )
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            raise RetriableError(f"PostgreSQL unavailable: {exc}") from None
        except psycopg.Error as exc:
            self._columns.clear()
            raise ConnectorError(f"PostgreSQL rejected the batch: {exc}") from None

    async def _write_rows(
        self,
        cur: psycopg.AsyncCursor[Any],
        table: str,
        rows: list[tuple[ConnectRecord, dict[str, Any]]],
    ) -> None:
        first_record, first_row = rows[0]
        await self._ensure_table(cur, table, self._schema_columns(first_record, first_row))
        columns = self._columns[table]
        names = [n for n in columns if any(n in row for _, row in rows)]
        unknown = {n for _, row in rows for n in row} - set(columns)
        if unknown:
            raise ConnectorError(f"table {table} has no column(s) {sorted(unknown)}")
        params = [tuple(_cell(row.get(n), columns[n]) for n in names) for _, row in rows]
        if len(params) < COPY_THRESHOLD:
            await cur.executemany(self._upsert(table, names), params)
            return
        # Large batches: COPY into a session-local staging table, then one upsert from it.
        stage = f"dn_stage_{table}"[:63]
        await cur.execute(
            sql.SQL(
                "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {} INCLUDING DEFAULTS) "
                "ON COMMIT DELETE ROWS"
            ).format(sql.Identifier(stage), sql.Identifier(table))
        )
        copy_sql = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(stage), sql.SQL(", ").join(map(sql.Identifier, names))
        )
        async with cur.copy(copy_sql) as copy:
            for values in params:
                await copy.write_row(values)
        await cur.execute(self._upsert(table, names, stage))

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


def _key_of(value: Any) -> Any:
    if isinstance(value, dict | list):
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return value


SINK = ConnectorPlugin(
    "io.confluent.connect.jdbc.JdbcSinkConnector",
    ConnectorType.SINK,
    (
        ConfigKey("connection.url", ConfigType.STRING, "postgresql:// URL", validator=non_empty),
        ConfigKey(
            "table.name.format",
            ConfigType.STRING,
            "Table name; ${topic} is replaced",
            default="${topic}",
        ),
        ConfigKey(
            "pk.mode",
            ConfigType.STRING,
            "Where the primary key comes from",
            default="record_key",
            validator=one_of("record_key", "record_value", "none"),
        ),
        ConfigKey("pk.fields", ConfigType.LIST, "Primary key columns", default=[]),
        ConfigKey("insert.mode", ConfigType.STRING, default="upsert", validator=one_of("upsert")),
        ConfigKey("auto.create", ConfigType.BOOLEAN, default=True),
        ConfigKey("delete.enabled", ConfigType.BOOLEAN, default=False),
        ConfigKey("batch.size", ConfigType.INT, default=3000, validator=at_least(1)),
    ),
    PostgresSinkTask,
    aliases=("PostgresSink", "PostgresSinkConnector"),
)
