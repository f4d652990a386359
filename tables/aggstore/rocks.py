"""Aggregate store on rocksdict (RocksDB); byte layout documented in ``tables.aggstore.keys``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

import orjson
from rocksdict import Options, Rdict, ReadOptions, WriteBatch

from tables.aggstore.keys import SEPARATOR, START_BYTES, metric_prefix, seek_key
from tables.aggstore.types import WindowAggregate


def encode_value(record: WindowAggregate) -> bytes:
    return orjson.dumps({"e": record.end_ms, "a": dict(record.aggregates), "f": record.final})


class RocksAggregateStore:
    """Window results in RocksDB, read by seeking to the range start (never a full scan).

    Opened in rocksdict raw mode (bytes keys and values). ``retention_ms`` is applied by
    ``apply_retention(now_ms)``, which the owner calls periodically (e.g. a Faust timer).
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        db: Rdict | None = None,
        retention_ms: int | None = None,
    ) -> None:
        if db is None:
            if path is None:
                raise ValueError("give either a path or an open raw-mode Rdict")
            db = Rdict(str(path), options=Options(raw_mode=True))
        self._db = db
        self.retention_ms = retention_ms

    def put_many(self, records: Iterable[WindowAggregate]) -> int:
        batch = WriteBatch(raw_mode=True)
        written = 0
        prefixes: dict[str, bytes] = {}  # metric -> prefix, encoded once per batch
        dumps = orjson.dumps
        for record in records:
            prefix = prefixes.get(record.metric)
            if prefix is None:
                prefix = prefixes[record.metric] = metric_prefix(record.metric)
            if record.start_ms < 0:
                raise ValueError(f"window start must be >= 0, got {record.start_ms}")
            # == encode_key(...) and encode_value(record), without the per-record prefix work
            key = prefix + record.start_ms.to_bytes(START_BYTES, "big") + record.key.encode()
            value = {"e": record.end_ms, "a": dict(record.aggregates), "f": record.final}
            batch.put(key, dumps(value))
            written += 1
        if written:
            self._db.write(batch)
        return written

    def range(self, metric: str, from_ms: int, to_ms: int) -> Iterator[WindowAggregate]:
        if to_ms <= from_ms or to_ms <= 0:
            return
        prefix_len = len(metric_prefix(metric))
        key_from = prefix_len + START_BYTES
        options = ReadOptions()
        options.set_iterate_upper_bound(seek_key(metric, to_ms))
        # items() iterates in Rust and hands back (key, value) pairs: one call per window
        # instead of key()/value()/next()/valid(); the start is the big-endian field of the key
        loads, from_bytes = orjson.loads, int.from_bytes
        items = self._db.items(from_key=seek_key(metric, from_ms), read_opt=options)
        for raw_key, raw_value in cast("Iterable[tuple[bytes, bytes]]", items):  # raw mode
            value: dict[str, Any] = loads(raw_value)
            yield WindowAggregate(
                metric,
                raw_key[key_from:].decode(),
                from_bytes(raw_key[prefix_len:key_from], "big"),
                value["e"],
                value["a"],
                value["f"],
            )

    def delete_before(self, cutoff_ms: int) -> int:
        deleted = 0
        for metric in self.metrics():
            begin, end = seek_key(metric, 0), seek_key(metric, cutoff_ms)
            options = ReadOptions()
            options.set_iterate_upper_bound(end)
            it = self._db.iter(options)
            it.seek(begin)
            while it.valid():
                deleted += 1
                it.next()
            self._db.delete_range(begin, end)
        return deleted

    def apply_retention(self, now_ms: int) -> int:
        """Delete windows older than ``now_ms - retention_ms``; no-op without a retention."""
        if self.retention_ms is None:
            return 0
        return self.delete_before(now_ms - self.retention_ms)

    def metrics(self) -> list[str]:
        """Skip-scan: one seek per metric, jumping past each metric's keys."""
        names: list[str] = []
        it = self._db.iter(ReadOptions())
        it.seek_to_first()
        while it.valid():
            raw_key: bytes = it.key()
            name = raw_key[: raw_key.index(SEPARATOR)]
            names.append(name.decode())
            it.seek(name + b"\x01")
        return names

    def flush(self) -> None:
        self._db.flush()

    def close(self) -> None:
        self._db.close()
