"""In-memory aggregate store (sorted lists per metric) with the same ordering as RocksDB."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator

from tables.aggstore.types import WindowAggregate


class InMemoryAggregateStore:
    """Same contract as ``RocksAggregateStore``; for unit tests and small single-process use."""

    def __init__(self, retention_ms: int | None = None) -> None:
        self.retention_ms = retention_ms
        self._index: dict[str, list[tuple[int, str]]] = {}
        self._records: dict[tuple[str, int, str], WindowAggregate] = {}

    def put_many(self, records: Iterable[WindowAggregate]) -> int:
        written = 0
        for record in records:
            ident = (record.metric, record.start_ms, record.key)
            if ident not in self._records:
                bisect.insort(self._index.setdefault(record.metric, []), ident[1:])
            self._records[ident] = record
            written += 1
        return written

    def range(self, metric: str, from_ms: int, to_ms: int) -> Iterator[WindowAggregate]:
        index = self._index.get(metric, [])
        lo = bisect.bisect_left(index, (from_ms, ""))
        hi = bisect.bisect_left(index, (to_ms, ""))
        for start, key in index[lo:hi]:
            yield self._records[(metric, start, key)]

    def delete_before(self, cutoff_ms: int) -> int:
        deleted = 0
        for metric, index in self._index.items():
            cut = bisect.bisect_left(index, (cutoff_ms, ""))
            for start, key in index[:cut]:
                del self._records[(metric, start, key)]
            del index[:cut]
            deleted += cut
        return deleted

    def apply_retention(self, now_ms: int) -> int:
        if self.retention_ms is None:
            return 0
        return self.delete_before(now_ms - self.retention_ms)

    def metrics(self) -> list[str]:
        return sorted(metric for metric, index in self._index.items() if index)
