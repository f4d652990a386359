"""Write-through mirror of the live edge of the local aggregate store: the answer to "re-read
the tail of an open block" without a store read.

At the live edge an ``on_update`` pipeline rewrites the current minute of every key several times
a second. Each write marks the open cache blocks stale from a fold checkpoint, and the next query
re-reads the windows from that checkpoint on (1,000 keys x a minute or two per metric): a RocksDB
scan that builds a Python object per row, several times a second per metric, on the event loop.

``LiveTail`` keeps, per metric, every window of the local store whose start lies in one interval
``[lo, hi)`` ("covered"): learnt from a store read of that interval, then kept exact by applying
every write that ``QueryEngine.record_windows`` makes (upserts, in the store's key order). A read
inside the covered interval is answered from it with the same windows, in the same order and with
equal values as the store would give, so folds resumed from a checkpoint stay bit-identical.

Writes that nobody signals (straight to the store) are what the open blocks' TTL is for: the
mirror trusts a store read for the metric's freshness only, like a cache block, and blocks built
from it expire no later than ``learnt_at(metric) + freshness`` (the engine uses that as the time
of their read). Anything that changes the store without handing over the windows (another
instance's invalidation, retention) calls ``drop``; a write whose values would not survive the
store's JSON round trip unchanged (NaN, infinities, non-numbers) drops the metric too. Reads that
ran off the event loop only teach the mirror if no write to the metric happened meanwhile.

Only ``QueryEngine`` (not ``ClusterQueryEngine``, whose batcher it does not give one) uses it,
with the cache on (``EngineConfig.live_tail``).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tables.aggstore.types import WindowAggregate
from tables.query.types import Clock

MAX_ROWS = 20_000
"""Windows kept per metric (the oldest starts go first): 1,000 keys x 20 minutes."""


@dataclass
class _Metric:
    lo: int
    hi: int
    learnt_at_ms: int
    """Clock time of the oldest store read the covered interval was learnt from."""
    expires_at_ms: int
    rows: dict[int, dict[str, WindowAggregate]] = field(default_factory=dict)
    starts: list[int] = field(default_factory=list)
    """Sorted keys of ``rows``."""
    ordered: dict[int, list[WindowAggregate]] = field(default_factory=dict)
    """Store-ordered rows per start, rebuilt lazily after a write to that start."""
    count: int = 0


def _exact(record: WindowAggregate) -> WindowAggregate | None:
    """``record`` as the store hands it back, or None when the store's JSON round trip could
    change a value (NaN, infinities, non-numbers). Records handed to ``record_windows`` are not
    mutated afterwards (``InMemoryAggregateStore`` keeps them too): a plain dict is shared."""
    aggregates = record.aggregates
    for value in aggregates.values():
        kind = type(value)
        if kind is float:
            if value - value != 0.0:  # inf - inf and nan - nan are nan
                return None
        elif kind is not int:
            return None
    if type(aggregates) is dict:
        return record
    return WindowAggregate(
        record.metric, record.key, record.start_ms, record.end_ms, dict(aggregates), record.final
    )


class LiveTail:
    def __init__(
        self, clock: Clock, ttl_of: Callable[[str], int], max_rows: int = MAX_ROWS
    ) -> None:
        self.clock = clock
        self.ttl_of = ttl_of
        """Trust in a store read, per metric (ms): the metric's freshness."""
        self.max_rows = max_rows
        self._metrics: dict[str, _Metric] = {}
        self._writes: dict[str, int] = {}

    def version(self, metric: str) -> int:
        """Changes whenever the metric is written or dropped (guards reads off the loop)."""
        return self._writes.get(metric, 0)

    def learnt_at(self, metric: str) -> int | None:
        """When the mirror of ``metric`` was (first) read from the store; None: no mirror."""
        state = self._live(metric)
        return None if state is None else state.learnt_at_ms

    def _live(self, metric: str) -> _Metric | None:
        state = self._metrics.get(metric)
        if state is not None and self.clock() >= state.expires_at_ms:
            del self._metrics[metric]
            return None
        return state

    def read(self, metric: str, lo: int, hi: int) -> list[WindowAggregate] | None:
        """The store's windows of ``metric`` starting in ``[lo, hi)``, or None if not covered."""
        state = self._live(metric)
        if state is None or lo < state.lo or hi > state.hi:
            return None
        out: list[WindowAggregate] = []
        starts = state.starts
        for index in range(bisect.bisect_left(starts, lo), bisect.bisect_left(starts, hi)):
            start = starts[index]
            ordered = state.ordered.get(start)
            if ordered is None:
                rows = state.rows[start]
                ordered = state.ordered[start] = [rows[key] for key in sorted(rows)]
            out.extend(ordered)
        return out

    def learn(
        self,
        metric: str,
        lo: int,
        hi: int,
        records: Sequence[WindowAggregate],
        version: int,
        read_at_ms: int,
    ) -> None:
        """Cover ``[lo, hi)`` with a store read of it (store order) that began at ``read_at_ms``
        and ``version``."""
        if version != self.version(metric) or len(records) > self.max_rows or lo >= hi:
            return
        state = self._live(metric)
        if state is not None and (hi < state.lo or lo > state.hi):
            if hi <= state.hi:
                return  # older than what is covered: not the live edge
            state = None  # a newer, disjoint interval replaces the old one
        if state is None:
            expires = read_at_ms + self.ttl_of(metric)
            state = self._metrics[metric] = _Metric(lo, hi, read_at_ms, expires)
        else:
            state.lo, state.hi = min(state.lo, lo), max(state.hi, hi)
        for start in [s for s in state.starts if lo <= s < hi]:
            state.count -= len(state.rows.pop(start))
            state.ordered.pop(start, None)
        state.starts = [s for s in state.starts if not lo <= s < hi]
        for record in records:
            rows = state.rows.get(record.start_ms)
            if rows is None:
                rows = state.rows[record.start_ms] = {}
                bisect.insort(state.starts, record.start_ms)
            rows[record.key] = record
            state.count += 1
        state.ordered.update((s, list(state.rows[s].values())) for s in _runs(records))
        self._trim(state)

    def write(self, records: Iterable[WindowAggregate]) -> None:
        """Apply windows just written to the store (call right after ``put_many``)."""
        writes = self._writes
        for record in records:
            metric = record.metric
            writes[metric] = writes.get(metric, 0) + 1
            state = self._metrics.get(metric)
            if state is None or not state.lo <= record.start_ms < state.hi:
                continue
            exact = _exact(record)
            if exact is None:
                del self._metrics[metric]
                continue
            rows = state.rows.get(record.start_ms)
            if rows is None:
                rows = state.rows[record.start_ms] = {}
                bisect.insort(state.starts, record.start_ms)
            if record.key not in rows:
                state.count += 1
            rows[record.key] = exact
            state.ordered.pop(record.start_ms, None)
        for state in self._metrics.values():
            self._trim(state)

    def drop(self, metric: str, lo: int, hi: int) -> None:
        """The store changed in ``[lo, hi)`` in a way this mirror did not see."""
        self._writes[metric] = self._writes.get(metric, 0) + 1
        state = self._metrics.get(metric)
        if state is not None and lo < state.hi and state.lo < hi:
            del self._metrics[metric]

    def clear(self) -> None:
        for metric in list(self._metrics):
            self.drop(metric, 0, 2**63)

    def rows(self, metric: str) -> int:
        state = self._metrics.get(metric)
        return 0 if state is None else state.count

    def _trim(self, state: _Metric) -> None:
        while state.count > self.max_rows and state.starts:
            oldest = state.starts.pop(0)
            state.count -= len(state.rows.pop(oldest))
            state.ordered.pop(oldest, None)
            state.lo = state.starts[0] if state.starts else state.hi


def _runs(records: Sequence[WindowAggregate]) -> list[int]:
    """Distinct starts of store-ordered ``records`` (their rows arrived already in order)."""
    starts: list[int] = []
    for record in records:
        if not starts or starts[-1] != record.start_ms:
            starts.append(record.start_ms)
    return starts
