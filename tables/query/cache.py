"""Bucketed result cache: computed points per (query signature, aligned block of steps).

Blocks whose windows are all closed never change and stay until the size-bounded LRU evicts
them; blocks that may still change (open windows, or too recent to be settled) expire after the
metric's freshness. ``invalidate`` drops overlapping blocks of every signature at once and bumps
the metric's generation, so fetches that started before the invalidation neither get cached nor
get shared with queries that arrive after it.

An open block may carry fold checkpoints (``aggregate.Checkpoint``). If an invalidation starts
at or after one of them, the block is not dropped but marked stale from that checkpoint: the
next query re-reads only the tail and resumes the fold (the live edge of a metric with many
keys is then a small read instead of the whole block). Such a block keeps the expiry of its
first read: the TTL still bounds how long the untouched head is trusted.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, replace

from tables.query.aggregate import Checkpoint, Points
from tables.query.models import GroupKey

_LOG_LENGTH = 256
"""Invalidations remembered per metric, to admit blocks whose read overlapped a few of them."""

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
    checkpoints: tuple[Checkpoint, ...] = ()
    stale_from: Checkpoint | None = None
    """Set by a partial invalidation: windows from ``stale_from.at_ms`` on must be re-read."""

    def resume_point(self, from_ms: int) -> Checkpoint | None:
        """The latest checkpoint at or before ``from_ms`` (and before any earlier staleness)."""
        limit = from_ms if self.stale_from is None else min(from_ms, self.stale_from.at_ms)
        best = None
        for checkpoint in self.checkpoints:
            if checkpoint.at_ms <= limit:
                best = checkpoint
        return best

    @property
    def weight(self) -> int:
        return 1 + sum(len(p) for p in self.points.values())


class BucketCache:
    def __init__(self, max_points: int = 2_000_000) -> None:
        self.max_points = max_points
        self._entries: OrderedDict[CacheKey, CacheEntry] = OrderedDict()
        self._by_metric: dict[str, set[CacheKey]] = {}
        self._generation: dict[str, int] = {}
        self._log: dict[str, deque[tuple[int, int, int]]] = {}  # (generation, from, to)
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
        """Drop (or mark stale from a checkpoint) the metric's blocks overlapping
        ``[from_ms, to_ms)``; returns how many were touched."""
        self._generation[metric] = generation = self.generation(metric) + 1
        log = self._log.get(metric)
        if log is None:
            log = self._log[metric] = deque(maxlen=_LOG_LENGTH)
        log.append((generation, from_ms, to_ms))
        touched = [
            key
            for key in self._by_metric.get(metric, ())
            if self._entries[key].start_ms < to_ms and from_ms < self._entries[key].end_ms
        ]
        for key in touched:
            entry = self._entries[key]
            checkpoint = entry.resume_point(max(from_ms, entry.start_ms))
            if checkpoint is None:
                self._remove(key)
            else:
                self._entries[key] = replace(entry, stale_from=checkpoint)
        return len(touched)

    def entries_at(self, metric: str, start_ms: int) -> list[tuple[CacheKey, CacheEntry]]:
        """Cached blocks of ``metric`` (any signature) starting at ``start_ms``."""
        keys = self._by_metric.get(metric, ())
        return [(key, self._entries[key]) for key in keys if key[1] == start_ms]

    def admit(self, entry: CacheEntry, read_generation: int) -> CacheEntry | None:
        """``entry`` as computed from a read that began at ``read_generation``, with the
        invalidations since then applied (like ``invalidate`` does to cached blocks): unchanged,
        marked stale from a checkpoint, or None (not cacheable, e.g. history no longer logged).
        """
        current = self.generation(entry.metric)
        if current == read_generation:
            return entry
        log = self._log.get(entry.metric, ())
        if current - read_generation > len(log):
            return None
        for generation, from_ms, to_ms in log:
            if generation <= read_generation:
                continue
            if entry.start_ms < to_ms and from_ms < entry.end_ms:
                checkpoint = entry.resume_point(max(from_ms, entry.start_ms))
                if checkpoint is None:
                    return None
                entry = replace(entry, stale_from=checkpoint)
        return entry

    def clear(self) -> None:
        for metric in list(self._by_metric):
            self.invalidate(metric, 0, 2**63)
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
