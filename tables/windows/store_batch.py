"""A write-back cache over a store for one batch: each key is read and written at most once.

Faust table writes are changelog records, so the manager never writes a key twice per batch.
"""

from __future__ import annotations

from typing import Any

from tables.types import KeyValueStore

_MISSING = object()


class StoreBatch:
    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self._cache: dict[str, Any] = {}
        self._dirty: dict[str, None] = {}  # in order of last write

    def get(self, key: str) -> Any:
        value = self._cache.get(key, _MISSING)
        if value is _MISSING:
            value = self._store.get(key)
            self._cache[key] = value
        return value

    def put(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._dirty.pop(key, None)
        self._dirty[key] = None

    def delete(self, key: str) -> None:
        self.put(key, None)

    def flush(self) -> int:
        """Write dirty keys back in the order of their last ``put``; returns the store writes."""
        store = self._store
        writes = 0
        for key in self._dirty:
            value = self._cache[key]
            if value is None:
                if key in store:
                    del store[key]
                    writes += 1
            else:
                store[key] = value
                writes += 1
        self._dirty.clear()
        return writes
