"""Merging range reads: requests for one metric within a short window share one store read.

The first request for a metric opens a batch and schedules its flush ``window_s`` later; every
request for that metric until then joins it. The flush reads the union of the requested ranges
(one backend fetch per disjoint interval; overlapping dashboard ranges make that one) and hands
each request exactly the windows of its own ranges.
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from tables.aggstore.types import AggregateStore, WindowAggregate
from tables.query.livetail import LiveTail
from tables.query.metrics import QueryMetrics

Range = tuple[int, int]

_BACKGROUND: ContextVar[bool] = ContextVar("datanexus_background_read", default=False)
"""Set while a background fetch runs: its reads go to a worker thread (also through subclasses'
``_read``, e.g. the cluster batcher's local read)."""


POLITE_EVERY = 256
"""Background work in a worker thread offers the GIL to the event loop this often (rows)."""


def polite(rows: Iterable[WindowAggregate], every: int = POLITE_EVERY) -> Iterator[WindowAggregate]:
    """``rows``, handing the GIL over every ``every`` rows (``time.sleep(0)`` releases it, and a
    waiting event loop takes it first): a worker thread decoding or folding a big read then
    delays the loop by a fraction of a millisecond instead of a whole switch interval (5 ms)
    each time the loop wants to run."""
    for index, row in enumerate(rows):
        if not index % every:
            time.sleep(0)
        yield row


@dataclass
class _Request:
    ranges: list[Range]
    future: asyncio.Future[list[list[WindowAggregate]]]


@dataclass
class _Batch:
    requests: list[_Request] = field(default_factory=list)


def union_of(ranges: list[Range]) -> list[Range]:
    merged: list[Range] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


class RangeBatcher:
    """Reads ranges of a metric from the store, merging concurrent requests when enabled.

    ``offload``: run store reads in a worker thread so a long read does not block the event loop
    (RocksDB releases the GIL while seeking/reading blocks). ``tail``: answer reads of the live
    edge from this mirror of the local store when it covers them (whoever writes to the store
    must then hand every write to ``tail.write``, as ``QueryEngine.record_windows`` does).
    """

    def __init__(
        self,
        store: AggregateStore,
        metrics: QueryMetrics,
        *,
        enabled: bool = True,
        window_s: float = 0.002,
        offload: bool = False,
        tail: LiveTail | None = None,
    ) -> None:
        self._store = store
        self.tail = tail
        self._metrics = metrics
        self.enabled = enabled
        self.window_s = window_s
        self.offload = offload
        self._open: dict[str, _Batch] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def fetch(
        self, metric: str, ranges: list[Range], *, background: bool = False
    ) -> list[list[WindowAggregate]]:
        """Windows of ``metric`` starting in each range, one list per range, store order.

        ``background``: nobody waits for this read (e.g. a block refresh): it is neither batched
        with queries (it would make them wait for a big read) nor run on the event loop.
        """
        if background:
            token = _BACKGROUND.set(True)
            try:
                return [await self._read(metric, lo, hi) for lo, hi in ranges]
            finally:
                _BACKGROUND.reset(token)
        if not self.enabled:
            return [await self._read(metric, lo, hi) for lo, hi in ranges]
        loop = asyncio.get_running_loop()
        batch = self._open.get(metric)
        if batch is None:
            batch = self._open[metric] = _Batch()
            loop.call_later(self.window_s, self._flush, metric, batch)
        request = _Request(list(ranges), loop.create_future())
        batch.requests.append(request)
        return await request.future

    def _flush(self, metric: str, batch: _Batch) -> None:
        if self._open.get(metric) is batch:
            del self._open[metric]
        task = asyncio.get_running_loop().create_task(self._run(metric, batch))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _run(self, metric: str, batch: _Batch) -> None:
        requests = [r for r in batch.requests if not r.future.done()]
        if not requests:
            return
        if len(requests) > 1:
            self._metrics.inc("merged_batches")
            self._metrics.inc("merged_queries", len(requests) - 1)
        try:
            intervals = union_of([rng for r in requests for rng in r.ranges])
            reads = [await self._read(metric, lo, hi) for lo, hi in intervals]
        except Exception as exc:
            for request in requests:
                if not request.future.done():
                    request.future.set_exception(exc)
            return
        starts = [[w.start_ms for w in records] for records in reads]
        interval_starts = [lo for lo, _ in intervals]
        for request in requests:
            if request.future.done():
                continue
            slices: list[list[WindowAggregate]] = []
            for lo, hi in request.ranges:
                i = bisect.bisect_right(interval_starts, lo) - 1  # the interval covering it
                first = bisect.bisect_left(starts[i], lo)
                last = bisect.bisect_left(starts[i], hi)
                slices.append(reads[i][first:last])
            request.future.set_result(slices)

    async def _read(self, metric: str, lo: int, hi: int) -> list[WindowAggregate]:
        tail, version, read_at = self.tail, 0, 0
        if tail is not None and not _BACKGROUND.get():  # refreshes are the TTL's store re-read
            mirrored = tail.read(metric, lo, hi)
            if mirrored is not None:
                self._metrics.inc("tail_reads")
                return mirrored
            version, read_at = tail.version(metric), tail.clock()
        self._metrics.inc("backend_fetches")
        if _BACKGROUND.get():
            records = await asyncio.to_thread(
                lambda: list(polite(self._store.range(metric, lo, hi)))
            )
        elif self.offload:
            records = await asyncio.to_thread(lambda: list(self._store.range(metric, lo, hi)))
        else:
            records = list(self._store.range(metric, lo, hi))
        self._metrics.inc("records_read", len(records))
        if tail is not None:  # (not learnt if a write to the metric came in between)
            tail.learn(metric, lo, hi, records, version, read_at)
        return records
