"""In-process key -> first-seen state for the HTTP edge (no Faust table there) and tests."""

from __future__ import annotations

from collections.abc import Iterator

from tables.dedupe.config import MAX_WINDOW_MS


class WindowedMemoryState:
    """Insertion-ordered dict that forgets entries older than `retention_ms` and caps its size.

    Keeps an edge instance exact on its own while Redis is unreachable. Entries are written in
    time order, so pruning pops from the front and costs O(expired).
    """

    def __init__(self, retention_ms: int = MAX_WINDOW_MS, max_entries: int = 1_000_000) -> None:
        self.retention_ms = retention_ms
        self.max_entries = max_entries
        self._entries: dict[str, int] = {}
        self.evicted = 0

    def get(self, key: str, /) -> int | None:
        return self._entries.get(key)

    def __setitem__(self, key: str, value: int, /) -> None:
        self._entries.pop(key, None)
        self._entries[key] = value
        if len(self._entries) > self.max_entries:
            del self._entries[next(iter(self._entries))]
            self.evicted += 1

    def __delitem__(self, key: str, /) -> None:
        del self._entries[key]

    def __contains__(self, key: object, /) -> bool:
        return key in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def prune(self, now_ms: int) -> int:
        cutoff = now_ms - self.retention_ms
        removed = 0
        entries = self._entries
        while entries:
            oldest = next(iter(entries))
            if entries[oldest] >= cutoff:
                break
            del entries[oldest]
            removed += 1
        return removed
