"""The query engine: validation, single-flight, bucketed cache with partial reuse, batched reads.

Path of one query: parse -> single-flight (identical query + same invalidation generation shares
one execution) -> look up its aligned blocks in the cache -> read only the missing blocks (merged
with other queries' reads of the same metric by ``RangeBatcher``; re-reads of the live edge
come from the ``LiveTail`` mirror that ``record_windows`` keeps exact) -> compute and cache those
blocks -> stitch the points of the requested range together. A query whose blocks are all cached
and fresh is answered synchronously (``_cached``), without a task.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tables.aggstore.types import AggregateStore, WindowAggregate
from tables.query.aggregate import GroupMemo, Points, compute_buckets
from tables.query.batching import RangeBatcher
from tables.query.blocks import BlockRefresher, build_entry, slice_records
from tables.query.cache import BucketCache, CacheEntry
from tables.query.errors import QueryError, ResultTooLarge
from tables.query.livetail import LiveTail
from tables.query.metrics import QueryMetrics
from tables.query.models import (
    GroupKey,
    MetricCatalog,
    MetricSpec,
    Query,
    QueryLimits,
    Series,
    parse_query,
    result_to_json,
)
from tables.query.types import Clock, InvalidationPublisher

_MAX_MEMO_KEYS = 1_000_000
_MAX_RESULTS = 4_096
_OFFLOAD_RECORDS = 20_000
"""With ``offload_reads``, folds of at least this many windows also run in a worker thread."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class EngineConfig:
    cache: bool = True
    batching: bool = True
    single_flight: bool = True
    batch_window_ms: float = 2.0
    """How long a metric's first read waits for others to join it."""
    block_ms: int = 3_600_000
    """Target cache block length (rounded down to whole steps, at least one step): the unit of
    caching, partial reuse and invalidation. Short blocks keep invalidation of the live edge
    cheap; long ones mean fewer lookups per query."""
    cache_max_points: int = 2_000_000
    """LRU bound: total points held in the cache (about 100 bytes each)."""
    offload_reads: bool = False
    """Read (and fold big reads) in a worker thread so they do not block the event loop."""
    refresh_ahead: float = 0.5
    """Re-read an open block in the background once a hit finds less than this fraction of its
    freshness left (0 disables): at the live edge of many keys the TTL re-read is big."""
    live_tail: bool = True
    """With the cache: answer re-reads of the live edge (the tail of an open block after a
    ``record_windows`` write) from ``LiveTail``, a write-through mirror, instead of the store."""
    limits: QueryLimits = field(default_factory=QueryLimits)

    @classmethod
    def unoptimised(cls, **changes: Any) -> EngineConfig:
        """Every query reads its own range from the store: the baseline for tests and bench."""
        return cls(cache=False, batching=False, single_flight=False, live_tail=False, **changes)


class QueryEngine:
    """Answers queries over an ``AggregateStore``; one per process, shared by all HTTP views."""

    def __init__(
        self,
        store: AggregateStore,
        catalog: MetricCatalog,
        config: EngineConfig | None = None,
        *,
        clock: Clock = wall_clock_ms,
        metrics: QueryMetrics | None = None,
        publisher: InvalidationPublisher | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.config = config or EngineConfig()
        self.clock = clock
        self.metrics = metrics or QueryMetrics()
        self.publisher = publisher
        self.cache = BucketCache(self.config.cache_max_points)
        self._batcher = RangeBatcher(
            store,
            self.metrics,
            enabled=self.config.batching,
            window_s=self.config.batch_window_ms / 1000,
            offload=self.config.offload_reads,
            tail=self._live_tail(),
        )
        self._inflight: dict[tuple[Query, int], asyncio.Future[dict[str, Any]]] = {}
        self._groups: dict[tuple[object, ...], GroupMemo] = {}
        self._results: dict[Query, tuple[list[CacheEntry], dict[str, Any]]] = {}
        """Last answer per query with the blocks it was stitched from (results are read-only)."""
        self._refresher = BlockRefresher(
            self.cache,
            lambda metric, ranges: self._batcher.fetch(metric, ranges, background=True),
            catalog,
            clock,
            self.metrics,
            self._memo,
            ahead=self.config.refresh_ahead if self.config.cache else 0.0,
        )

    def _live_tail(self) -> LiveTail | None:
        if not (self.config.cache and self.config.live_tail):
            return None
        return LiveTail(self.clock, lambda metric: self.catalog.get(metric).freshness_ms)

    def read_time(self, metric: str) -> int:
        """'Now' for blocks computed from a fetch that just returned: the clock, or the time the
        live-edge mirror was read from the store if earlier (a block is not trusted for longer
        than the reads it was built from)."""
        now = self.clock()
        tail = self._batcher.tail
        learnt = None if tail is None else tail.learnt_at(metric)
        return now if learnt is None else min(now, learnt)

    # -- queries -----------------------------------------------------------------------------

    def parse(self, raw: Mapping[str, Any]) -> Query:
        """Validate a request body (raises ``QueryError`` with an HTTP status)."""
        return parse_query(raw, self.catalog, self.clock(), self.config.limits)

    async def query(self, raw: Mapping[str, Any] | Query) -> dict[str, Any]:
        """JSON-ready time series for one query. Shared between coalesced callers: read-only."""
        started = time.perf_counter()
        try:
            query = raw if isinstance(raw, Query) else self.parse(raw)
            result = await self._single_flight(query)
        except QueryError:
            self.metrics.inc("errors")
            raise
        finally:
            self.metrics.latency.observe(time.perf_counter() - started)
        self.metrics.inc("queries")
        return result

    async def query_many(self, raws: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Concurrent queries; each item is a result or an error object (``QueryError.to_dict``)."""
        return list(await asyncio.gather(*(self._query_or_error(raw) for raw in raws)))

    async def _query_or_error(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return await self.query(raw)
        except QueryError as exc:
            return exc.to_dict()

    async def _single_flight(self, query: Query) -> dict[str, Any]:
        cached = self._cached(query) if self.config.cache else None
        if cached is not None:
            return cached
        if not self.config.single_flight:
            return await self._execute(query)
        key = (query, self.cache.generation(query.metric))
        running = self._inflight.get(key)
        if running is not None:
            self.metrics.inc("coalesced_queries")
            return await asyncio.shield(running)
        task = asyncio.ensure_future(self._execute(query))
        self._inflight[key] = task

        def forget(_: object) -> None:
            if self._inflight.get(key) is task:
                del self._inflight[key]

        task.add_done_callback(forget)
        return await asyncio.shield(task)

    async def _execute(self, query: Query) -> dict[str, Any]:
        spec = self.catalog.get(query.metric)
        if not self.config.cache:
            [records] = await self._batcher.fetch(query.metric, [(query.from_ms, query.to_ms)])
            values = compute_buckets(records, query, spec, memo=self._memo(query))
            return self._finish(query, values.points.items())
        return self._stitch(query, await self._blocks(query, spec))

    def _cached(self, query: Query) -> dict[str, Any] | None:
        """The answer when every block is cached and fresh, computed right here: no task, no
        trip through the event loop (most refreshes of a busy dashboard). None otherwise."""
        spec = self.catalog.get(query.metric)
        block_ms = self._block_ms(query)
        signature, now = query.signature, self.clock()
        blocks: list[CacheEntry] = []
        for start in range(query.from_ms - query.from_ms % block_ms, query.to_ms, block_ms):
            entry = self.cache.get((signature, start), now)
            if entry is None or entry.stale_from is not None:
                return None  # counted (and read) by ``_blocks``
            blocks.append(entry)
        self.metrics.inc("cache_hits", len(blocks))
        for entry in blocks:
            self._refresher.consider(entry, spec, now)
        return self._stitch(query, blocks)

    def _block_ms(self, query: Query) -> int:
        return query.step_ms * max(1, self.config.block_ms // query.step_ms)

    def _stitch(self, query: Query, blocks: list[CacheEntry]) -> dict[str, Any]:
        previous = self._results.get(query)
        if previous is not None and _same_blocks(previous[0], blocks):
            return previous[1]  # same cached blocks as last time: the same answer
        groups: dict[GroupKey, Points] = {}
        for entry in blocks:
            inside = query.from_ms <= entry.start_ms and entry.end_ms <= query.to_ms
            for group, points in entry.points.items():
                selected = points if inside else _trim(points, query.from_ms, query.to_ms)
                if selected:
                    groups.setdefault(group, []).extend(selected)
        result = self._finish(query, groups.items())
        if len(self._results) >= _MAX_RESULTS:
            self._results.pop(next(iter(self._results)))
        self._results[query] = (blocks, result)
        return result

    async def _blocks(self, query: Query, spec: MetricSpec) -> list[CacheEntry]:
        """The cache blocks covering the query, reading and caching the missing ones.

        A block marked stale from a checkpoint only re-reads its tail and resumes the fold.
        """
        block_ms = self._block_ms(query)
        signature = query.signature
        now = self.clock()
        generation = self.cache.generation(query.metric)
        first = query.from_ms - query.from_ms % block_ms
        found: list[CacheEntry | None] = []
        jobs: list[tuple[int, int, CacheEntry | None]] = []  # (block index, read from, stale)
        for start in range(first, query.to_ms, block_ms):
            entry = self.cache.get((signature, start), now)
            if entry is None:
                jobs.append((len(found), start, None))
            elif entry.stale_from is not None:
                jobs.append((len(found), entry.stale_from.at_ms, entry))
                entry = None
            else:
                self._refresher.consider(entry, spec, now)
            found.append(entry)
        self.metrics.inc("cache_hits", len(found) - len(jobs))
        self.metrics.inc("cache_misses", len(jobs))
        self.metrics.inc("resumed_blocks", sum(stale is not None for _, _, stale in jobs))
        if not jobs:
            return [entry for entry in found if entry is not None]
        runs: list[tuple[int, int]] = []  # contiguous ranges to read
        for index, read_from, _ in jobs:
            end = first + (index + 1) * block_ms
            if runs and runs[-1][1] == read_from:
                runs[-1] = (runs[-1][0], end)
            else:
                runs.append((read_from, end))
        reads = await self._batcher.fetch(query.metric, runs)
        records = [record for run in reads for record in run]
        now = self.read_time(query.metric)
        memo = self._memo(query)

        def compute() -> list[CacheEntry]:
            starts = [record.start_ms for record in records]
            computed = []
            for index, read_from, stale in jobs:
                start = first + index * block_ms
                block = (start, start + block_ms)
                mine = slice_records(records, starts, read_from, block[1])
                computed.append(build_entry(query, spec, block, mine, now, memo, stale))
            return computed

        big = self.config.offload_reads and len(records) >= _OFFLOAD_RECORDS
        computed = await asyncio.to_thread(compute) if big else compute()
        for (index, _, _), entry in zip(jobs, computed, strict=True):
            found[index] = entry
            admitted = self.cache.admit(entry, generation)
            if admitted is not None:
                self.cache.put((signature, entry.start_ms), admitted)
        return [entry for entry in found if entry is not None]

    def _memo(self, query: Query) -> GroupMemo:
        """Decoded groups of window keys for the query's metric, group_by and filters."""
        key = (query.metric, query.group_by, query.filters)
        memo = self._groups.get(key)
        if memo is None or len(memo) > _MAX_MEMO_KEYS:
            memo = self._groups[key] = {}
        return memo

    def _finish(self, query: Query, groups: Iterable[tuple[GroupKey, Points]]) -> dict[str, Any]:
        series = sorted((Series(key, points) for key, points in groups), key=lambda s: s.key)
        if len(series) > self.config.limits.max_series:
            raise ResultTooLarge(
                f"{len(series)} series exceeds the limit of {self.config.limits.max_series}; "
                "group by fewer dimensions or add filters"
            )
        return result_to_json(query, series)

    # -- invalidation ------------------------------------------------------------------------

    async def record_windows(self, records: Iterable[WindowAggregate]) -> int:
        """Window engine hook: store updated/closed windows, then invalidate what they touch.

        Call once per processed batch (not per window). Writes first, invalidates after, so a
        query that runs after this returns reads the new values.
        """
        batch = list(records)
        tail = self._batcher.tail
        try:
            written = self.store.put_many(batch)
        except BaseException:
            if tail is not None:  # maybe partly written: forget what the mirror cannot know
                for metric in {record.metric for record in batch}:
                    tail.drop(metric, 0, 2**63)
            raise
        if tail is not None:
            tail.write(batch)  # the mirror of the live edge stays exact: no re-read needed
        touched: dict[str, tuple[int, int]] = {}
        for record in batch:
            lo, hi = touched.get(record.metric, (record.start_ms, record.start_ms + 1))
            touched[record.metric] = (min(lo, record.start_ms), max(hi, record.start_ms + 1))
        for metric, (lo, hi) in touched.items():
            await self._invalidate(metric, lo, hi, seen=True)
        return written

    def invalidate_local(self, metric: str, from_ms: int, to_ms: int) -> int:
        """Drop this process's cached blocks holding windows that start in ``[from_ms, to_ms)``
        (and the live-edge mirror there: the change was not seen here)."""
        return self._invalidate_local(metric, from_ms, to_ms, seen=False)

    def _invalidate_local(self, metric: str, from_ms: int, to_ms: int, *, seen: bool) -> int:
        tail = self._batcher.tail
        if tail is not None and not seen:
            tail.drop(metric, from_ms, to_ms)
        dropped = self.cache.invalidate(metric, from_ms, to_ms)
        self.metrics.inc("invalidations")
        self.metrics.inc("invalidated_blocks", dropped)
        return dropped

    async def invalidate(self, metric: str, from_ms: int, to_ms: int) -> int:
        """Invalidate here and, through the publisher (Redis pub/sub), on every other instance."""
        return await self._invalidate(metric, from_ms, to_ms, seen=False)

    async def _invalidate(self, metric: str, from_ms: int, to_ms: int, *, seen: bool) -> int:
        dropped = self._invalidate_local(metric, from_ms, to_ms, seen=seen)
        if self.publisher is not None:
            await self.publisher.publish(metric, from_ms, to_ms)
        return dropped

    async def close(self) -> None:
        """Cancel background block refreshes (call before the event loop ends)."""
        await self._refresher.close()

    def stats(self) -> dict[str, Any]:
        """Body of ``GET /v1/query/stats``."""
        return {
            **self.metrics.snapshot(),
            "cache_blocks": len(self.cache),
            "cache_points": self.cache.weight,
            "cache_evictions": self.cache.evictions,
            "inflight_queries": len(self._inflight),
            "config": {
                "cache": self.config.cache,
                "batching": self.config.batching,
                "single_flight": self.config.single_flight,
                "batch_window_ms": self.config.batch_window_ms,
                "block_ms": self.config.block_ms,
                "offload_reads": self.config.offload_reads,
                "refresh_ahead": self.config.refresh_ahead,
                "live_tail": self._batcher.tail is not None,
            },
        }


def _same_blocks(old: list[CacheEntry], new: list[CacheEntry]) -> bool:
    """Blocks are immutable once built: the same objects mean the same points."""
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


def _trim(points: Points, from_ms: int, to_ms: int) -> Points:
    return [point for point in points if from_ms <= point[0] < to_ms]
