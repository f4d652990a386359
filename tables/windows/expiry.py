"""The expiry index: which group keys become due when the watermark advances.

Entries ``[due_time, group]`` are appended to chunked buckets (see :mod:`tables.windows.layout`);
the partition meta lists the non-empty buckets, so finding due keys reads only buckets at or
below the watermark and never scans the key space. Appends rewrite only the last chunk.
"""

from __future__ import annotations

from typing import Any

from tables.windows.layout import INDEX_CHUNK, index_chunk_key
from tables.windows.store_batch import StoreBatch


class ExpiryIndex:
    def __init__(
        self, batch: StoreBatch, name: str, partition: int, width: int, buckets: list[Any]
    ) -> None:
        self._batch = batch
        self._name = name
        self._partition = partition
        self._width = width
        # bucket -> [n_chunks, last_chunk_len]
        self._buckets: dict[int, list[int]] = {b: [n, last] for b, n, last in buckets}

    def stored_form(self) -> list[list[int]]:
        return [[b, n, last] for b, (n, last) in sorted(self._buckets.items())]

    def add(self, due: int, group: str) -> None:
        bucket = due // self._width
        info = self._buckets.get(bucket)
        if info is None:
            info = self._buckets[bucket] = [1, 0]
        elif info[1] >= INDEX_CHUNK:
            info[0] += 1
            info[1] = 0
        key = index_chunk_key(self._name, self._partition, bucket, info[0] - 1)
        chunk = self._batch.get(key) if info[1] else None
        if chunk is None:
            chunk = []
        chunk.append([due, group])
        info[1] += 1
        self._batch.put(key, chunk)

    def pop_due(self, watermark: int) -> list[tuple[int, str]]:
        """Remove and return entries with ``due_time <= watermark``, oldest bucket first."""
        due: list[tuple[int, str]] = []
        for bucket in sorted(self._buckets):
            if bucket * self._width > watermark:
                break
            n_chunks = self._buckets.pop(bucket)[0]
            rest: list[list[Any]] = []
            for chunk in range(n_chunks):
                key = index_chunk_key(self._name, self._partition, bucket, chunk)
                for entry in self._batch.get(key) or ():
                    if entry[0] <= watermark:
                        due.append((entry[0], entry[1]))
                    else:
                        rest.append(entry)
                self._batch.delete(key)
            for entry in rest:
                self.add(entry[0], entry[1])
        return due

    def entry_count(self) -> int:
        return sum((n - 1) * INDEX_CHUNK + last for n, last in self._buckets.values())
