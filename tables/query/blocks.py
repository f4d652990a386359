"""Computing cache blocks from store reads, and refreshing open blocks before their TTL ends.

An open block (some windows still open or not yet settled) lives ``freshness_ms`` after the read
that produced its head; when that runs out it must be read again in full, which at the live edge
of a metric with many keys is a big read (1,000 keys x 60 minutes = 60k windows for a 1 h block).
``BlockRefresher`` does that read *before* the block expires, once per (metric, block) for every
signature cached there, off the request path and off the event loop (read and folded in a
worker thread that offers the GIL back to the loop every few hundred rows, ``polite``; one
refresh at a time), and swaps the fresh blocks in. It always reads the store, never the
``LiveTail`` mirror: catching writes nobody signalled is what the TTL is for. A block is still
never served past its TTL: if the refresh is late, the query reads the block itself as before.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence

from tables.aggstore.types import WindowAggregate
from tables.query.aggregate import GroupMemo, compute_buckets
from tables.query.batching import polite
from tables.query.cache import BucketCache, CacheEntry
from tables.query.metrics import QueryMetrics
from tables.query.models import MetricCatalog, MetricSpec, Query
from tables.query.types import Clock

log = logging.getLogger(__name__)

_LATE = 0.1
"""Less than this fraction of the freshness left: no refresh (it would only race the query)."""

MemoOf = Callable[[Query], GroupMemo]
Fetch = Callable[[str, list[tuple[int, int]]], Awaitable[list[list[WindowAggregate]]]]
"""A background ``RangeBatcher.fetch`` (looked up late: a cluster engine swaps its batcher)."""


def build_entry(
    query: Query,
    spec: MetricSpec,
    block: tuple[int, int],
    records: Iterable[WindowAggregate],
    now_ms: int,
    memo: GroupMemo,
    stale: CacheEntry | None = None,
) -> CacheEntry:
    """The cache block ``[start, end)`` of ``query`` from ``records`` (store order).

    Fresh block: ``records`` are all its windows. Resumed block (``stale`` marked stale from a
    checkpoint): ``records`` are the windows from the checkpoint on; the result keeps the expiry
    of ``stale``'s read, since its head was not read again.
    """
    start, end = block
    read_from = start if stale is None else stale.stale_from.at_ms  # type: ignore[union-attr]
    settled_edge = now_ms - spec.settle_ms
    values = compute_buckets(
        records,
        query,
        spec,
        resume=None if stale is None else stale.stale_from,
        checkpoints_from=max(settled_edge - settled_edge % spec.window_ms, read_from),
        memo=memo,
    )
    if stale is not None:
        expires = stale.expires_at_ms
        kept = tuple(c for c in stale.checkpoints if c.at_ms < read_from)
    else:
        settled = values.all_final and end + spec.settle_ms <= now_ms
        expires = None if settled else now_ms + spec.freshness_ms
        kept = ()
    checkpoints = (*kept, *values.checkpoints) if expires is not None else ()
    return CacheEntry(query.metric, start, end, values.points, expires, checkpoints)


def slice_records(
    records: Sequence[WindowAggregate], starts: Sequence[int], lo: int, hi: int
) -> Sequence[WindowAggregate]:
    return records[bisect.bisect_left(starts, lo) : bisect.bisect_left(starts, hi)]


class BlockRefresher:
    """Background re-reads of open blocks whose TTL is running out (see module docstring)."""

    def __init__(
        self,
        cache: BucketCache,
        fetch: Fetch,
        catalog: MetricCatalog,
        clock: Clock,
        metrics: QueryMetrics,
        memo_of: MemoOf,
        *,
        ahead: float,
    ) -> None:
        self._cache = cache
        self._fetch = fetch
        self._catalog = catalog
        self._clock = clock
        self._metrics = metrics
        self._memo_of = memo_of
        self.ahead = ahead
        self._pending: dict[tuple[str, int], asyncio.Task[None]] = {}
        self._one_at_a_time = asyncio.Lock()
        """Refreshes run one after the other: one worker thread competes with the loop, not
        one per metric."""

    def consider(self, entry: CacheEntry, spec: MetricSpec, now_ms: int) -> None:
        """Called for every cache hit: schedule a refresh if ``entry`` expires soon."""
        if entry.expires_at_ms is None or self.ahead <= 0:
            return
        left = entry.expires_at_ms - now_ms
        if left > self.ahead * spec.freshness_ms or left < _LATE * spec.freshness_ms:
            return  # not due yet, or too late to finish first: the next query reads it itself
        key = (entry.metric, entry.start_ms)
        if key in self._pending:
            return
        task = asyncio.get_running_loop().create_task(self._refresh(*key))
        self._pending[key] = task
        task.add_done_callback(lambda done: self._done(key, done))

    def _done(self, key: tuple[str, int], task: asyncio.Task[None]) -> None:
        self._pending.pop(key, None)
        if not task.cancelled() and task.exception() is not None:
            # the block simply expires and the next query reads it itself
            log.warning("background refresh of %s@%d failed", *key, exc_info=task.exception())

    async def _refresh(self, metric: str, start_ms: int) -> None:
        async with self._one_at_a_time:
            await self._refresh_now(metric, start_ms)

    async def _refresh_now(self, metric: str, start_ms: int) -> None:
        spec = self._catalog.get(metric)
        targets = [
            (key, entry)
            for key, entry in self._cache.entries_at(metric, start_ms)
            if entry.expires_at_ms is not None
        ]
        if not targets:
            return
        lo = min(entry.start_ms for _, entry in targets)
        hi = max(entry.end_ms for _, entry in targets)
        generation = self._cache.generation(metric)
        [records] = await self._fetch(metric, [(lo, hi)])
        self._metrics.inc("refreshed_blocks", len(targets))
        now = self._clock()
        queries = [Query(metric, e.start_ms, e.end_ms, *key[0][1:]) for key, e in targets]  # type: ignore[arg-type]
        memos = [self._memo_of(query) for query in queries]

        def compute() -> list[CacheEntry]:
            starts = [record.start_ms for record in records]
            return [
                build_entry(
                    query,
                    spec,
                    (query.from_ms, query.to_ms),
                    polite(slice_records(records, starts, query.from_ms, query.to_ms)),
                    now,
                    memo,
                )
                for query, memo in zip(queries, memos, strict=True)
            ]

        fresh = await asyncio.to_thread(compute)  # nobody waits for it: keep the loop free
        for (key, _), entry in zip(targets, fresh, strict=True):
            admitted = self._cache.admit(entry, generation)
            if admitted is not None:
                self._cache.put(key, admitted)

    async def close(self) -> None:
        pending = list(self._pending.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
