"""Bucketed result cache: computed points per (query signature, aligned block of steps).

Blocks whose windows are all closed never change and stay until the size-bounded LRU evicts
them; blocks that may still change (open windows, or too recent to be settled) expire after the
metric's freshness. ``invalidate`` drops overlapping blocks of every signature at once and bumps
the metric's generation, so fetches that started before the invalidation neither get cached nor
get shared with queries that arrive after it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from tables.query.aggregate import Points
from tables.query.models import GroupKey

CacheKey = tuple[tuple[object, ...], int]
"""(query signature, block start ms); the signature's first element is the metric name."""


@dataclass(frozen=True, slots=True)
class CacheEntry:
    metric: str
    start_ms: int
    end_ms: int
    points: dict[GroupKey, Points]
    expires_at_ms: int | None
    """None: immutable (all windows closed)."""

    @property
    def weight(self) -> int:
        return 1 + sum(len(p) for p in self.points.values())


class BucketCache:
    def __init__(self, max_points: int = 2_000_000) -> None:
        self.max_points = max_points
        self._entries: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._by_metric: dict[str, set[CacheKey]] = {}
        self._generation: dict[str, int] = {}
        self._weight = 0
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def weight(self) -> int:
        return self._weight

    def generation(self, metric: str) -> int:
        return self._generation.get(metric, 0)

    def get(self, key: CacheKey, now_ms: int) -> CacheEntry | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at_ms is not None and now_ms >= entry.expires_at_ms:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return entry

    def put(self, key: CacheKey, entry: CacheEntry) -> None:
        if entry.weight > self.max_points:
            return
        if key in self._entries:
            self._remove(key)
        self._entries[key] = entry
        self._by_metric.setdefault(entry.metric, set()).add(key)
        self._weight += entry.weight
        while self._weight > self.max_points:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self.evictions += 1

    def invalidate(self, metric: str, from_ms: int, to_ms: int) -> int:
        """Drop the metric's blocks overlapping ``[from_ms, to_ms)``; returns how many."""
        self._generation[metric] = self.generation(metric) + 1
        doomed = [
            key
            for key in self._by_metric.get(metric, ())
            if self._entries[key].start_ms < to_ms and from_ms < self._entries[key].end_ms
        ]
        for key in doomed:
            self._remove(key)
        return len(doomed)

    def clear(self) -> None:
        for metric in list(self._by_metric):
            self._generation[metric] = self.generation(metric) + 1
        self._entries.clear()
        self._by_metric.clear()
        self._weight = 0

    def _remove(self, key: CacheKey) -> None:
        entry = self._entries.pop(key)
        self._weight -= entry.weight
        keys = self._by_metric[entry.metric]
        keys.discard(key)
        if not keys:
            del self._by_metric[entry.metric]
