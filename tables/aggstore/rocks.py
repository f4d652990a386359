"""Aggregate store on rocksdict (RocksDB); byte layout documented in ``tables.aggstore.keys``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
from rocksdict import Options, Rdict, ReadOptions, WriteBatch

from tables.aggstore.keys import SEPARATOR, encode_key, metric_prefix, seek_key, start_of
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
        for record in records:
            batch.put(encode_key(record.metric, record.start_ms, record.key), encode_value(record))
            written += 1
        if written:
            self._db.write(batch)
        return written

    def range(self, metric: str, from_ms: int, to_ms: int) -> Iterator[WindowAggregate]:
        if to_ms <= from_ms or to_ms <= 0:
            return
        prefix_len = len(metric_prefix(metric))
        options = ReadOptions()
        options.set_iterate_upper_bound(seek_key(metric, to_ms))
        it = self._db.iter(options)
        it.seek(seek_key(metric, from_ms))
        loads = orjson.loads
        while it.valid():
            raw_key: bytes = it.key()
            value: dict[str, Any] = loads(it.value())
            yield WindowAggregate(
                metric,
                raw_key[prefix_len + 8 :].decode(),
                start_of(raw_key, prefix_len),
                value["e"],
                value["a"],
                value["f"],
            )
            it.next()

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
