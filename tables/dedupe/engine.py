"""The de-duplication engine: one local-state read/write per key and one Redis round trip per
batch; decides verdict and action, the caller (ingest agent or HTTP edge) emits."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from tables.bloom import RedisSlicedBloom
from tables.bloom.redis_sliced import ScriptHandle, execute_pipeline
from tables.dedupe.config import DedupeConfigRegistry, DedupeMode, WindowClock
from tables.dedupe.filters import FilterCache, SourceFilters
from tables.dedupe.inflight import InFlightBloomAdds
from tables.dedupe.local_state import WindowedMemoryState
from tables.dedupe.metrics import DedupeMetrics
from tables.dedupe.plan import (
    NO_SOURCE,
    BatchPlan,
    Candidate,
    adds_of,
    group_adds,
    make_verdict,
    plan_locally,
    take_answers,
)
from tables.dedupe.prefetch import BloomAnswers
from tables.dedupe.redis_mirror import (
    RELEASE_FIRST_SEEN,
    RELEASED,
    SET_FIRST_SEEN,
    CatchUpQueue,
    PendingBloomAdd,
    PendingFirstSeen,
    parse_first_seen,
    queue_catch_up,
    queue_release,
    queue_set_first_seen,
)
from tables.dedupe.types import DedupeResult, DedupeStage, DedupeState, Record, Verdict

REDIS_DOWN_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)
_BLOOM_SCRIPTS: list[ScriptHandle] = [*RedisSlicedBloom.scripts, SET_FIRST_SEEN]


class DedupeEngine:
    """Exact, fuzzy and Bloom de-duplication for one process.

    `state` is the authoritative key -> first-seen table: the Faust table at the STREAM stage,
    an in-process `WindowedMemoryState` at the EDGE (default). With Redis unreachable the
    engine runs on local state only, reports `degraded`, and replays first-seen keys to Redis
    (in the next successful round trip) once it is back.
    """

    def __init__(
        self,
        registry: DedupeConfigRegistry,
        redis: Redis | None,
        *,
        stage: DedupeStage = DedupeStage.EDGE,
        state: DedupeState | None = None,
        key_prefix: str = "dn:dedupe",
        metrics: DedupeMetrics | None = None,
        retry_interval_ms: int = 1_000,
        catch_up_max_items: int = 1_000_000,
    ) -> None:
        self.registry = registry
        self.redis = redis
        self.stage = stage
        self.state: DedupeState = state if state is not None else WindowedMemoryState()
        self.key_prefix = key_prefix
        self.metrics = metrics
        self.retry_interval_ms = retry_interval_ms
        self.catch_up = CatchUpQueue(catch_up_max_items)
        self.in_flight = InFlightBloomAdds()
        self.bloom_answers: BloomAnswers = {}
        """Lookups fetched for the whole batch (tables/dedupe/prefetch.py); used, then cleared."""
        """Deferred additions still running (`add_in_background`); lookups count them as seen."""
        self.degraded = False
        self.last_error: str | None = None
        self._retry_at_ms = 0
        self._filter_cache = FilterCache(key_prefix, stage)

    # ----------------------------------------------------------------- batch check

    async def check_batch(
        self,
        records: Sequence[Record],
        now_ms: int,
        deferred_adds: list[PendingBloomAdd] | None = None,
    ) -> list[Verdict]:
        """Verdicts in record order. With `deferred_adds` (the stream stage), nothing is added
        to the Bloom filters (window and late summary): the adds are appended there instead,
        for `apply_bloom_adds` once the output is acknowledged. A Bloom addition cannot be
        undone, so adding before a crash or a failed send would make the replay drop the
        batch's records as "seen" (data loss); adding after acknowledgement can at worst
        forward a record twice after a crash."""
        prune = getattr(self.state, "prune", None)
        if prune is not None:
            prune(now_ms)
        plan = plan_locally(
            records,
            now_ms,
            registry=self.registry,
            state=self.state,
            in_flight=self.in_flight,
            key_prefix=self.key_prefix,
        )
        plan.add = deferred_adds is None
        answered = (
            take_answers(plan, self.bloom_answers) if self.bloom_answers and not plan.add else None
        )
        if answered is not None and not plan.candidates and not len(self.catch_up):
            self._finish(plan, {}, *answered)
        elif plan.candidates or plan.bloom_keys or len(self.catch_up):
            if self.redis is not None and now_ms >= self._retry_at_ms:
                try:
                    await self._decide_with_redis(plan, now_ms)
                except REDIS_DOWN_ERRORS as exc:
                    self._enter_degraded(exc, now_ms)
                    self._decide_locally(plan, now_ms)
            else:
                self._decide_locally(plan, now_ms)
        verdicts = [v for v in plan.verdicts if v is not None]
        assert len(verdicts) == len(records)
        if deferred_adds is not None:
            deferred_adds.extend(adds_of(plan, now_ms))
        self._count(records, verdicts)
        return verdicts

    async def _decide_with_redis(self, plan: BatchPlan, now_ms: int) -> None:
        assert self.redis is not None
        pending_first, pending_bloom = self.catch_up.take()
        parsers: list[Any] = []

        def build(pipe: Pipeline) -> None:
            parsers.clear()
            if pending_first or pending_bloom:
                queued = queue_catch_up(
                    pipe, pending_first, pending_bloom, now_ms, self.filters_for
                )
                parsers.extend([None] * queued)
            by_prefix: dict[str, list[Candidate]] = defaultdict(list)
            for candidate in plan.candidates:
                by_prefix[candidate.redis_prefix].append(candidate)
            for prefix, group in by_prefix.items():
                queue_set_first_seen(
                    pipe,
                    prefix,
                    [c.key for c in group],
                    [c.clock for c in group],
                    [c.config.window_ms for c in group],
                )
                parsers.append(("first_seen", group))
            for source, items in plan.bloom_keys.items():
                filters = self.filters_for(source)
                assert filters.window is not None
                filters.window.queue_check_and_add(pipe, [k for _, k in items], now_ms, plan.add)
                parsers.append(("window", source))
            for source, items in plan.late_keys.items():
                late = self.filters_for(source).late
                assert late is not None
                late.queue_check_and_add(pipe, [k for _, k in items], now_ms, plan.add)
                parsers.append(("late", source))

        try:
            results = await execute_pipeline(self.redis, _BLOOM_SCRIPTS, build)
        except BaseException:
            self.catch_up.restore(pending_first, pending_bloom)
            raise
        if self.degraded:
            self.degraded = False
            self.last_error = None
        shared: dict[int, int | None] = {}
        window_seen: dict[int, bool] = {}
        late_seen: dict[int, bool] = {}
        for parser, raw in zip(parsers, results, strict=True):
            if parser is None:
                continue
            kind, arg = parser
            if kind == "first_seen":
                for candidate, value in zip(arg, parse_first_seen(raw), strict=True):
                    shared[candidate.index] = value
            elif kind == "window":
                flags = RedisSlicedBloom.parse(raw)
                for (index, _), seen in zip(plan.bloom_keys[arg], flags, strict=True):
                    window_seen[index] = seen
            else:
                flags = RedisSlicedBloom.parse(raw)
                for (index, _), seen in zip(plan.late_keys[arg], flags, strict=True):
                    late_seen[index] = seen
        self._finish(plan, shared, window_seen, late_seen)

    def _decide_locally(self, plan: BatchPlan, now_ms: int) -> None:
        window_seen: dict[int, bool] = {}
        late_seen: dict[int, bool] = {}
        for source, items in plan.bloom_keys.items():
            local = self.filters_for(source).window_local
            seen = local.check_and_add_sync([k for _, k in items], now_ms, plan.add)
            for (index, key), was_seen in zip(items, seen, strict=True):
                window_seen[index] = was_seen
                if plan.add and not was_seen and self.redis is not None:
                    self.catch_up.add_bloom(PendingBloomAdd("window", source, key, now_ms))
        for source, items in plan.late_keys.items():
            local = self.filters_for(source).late_local
            seen = local.check_and_add_sync([k for _, k in items], now_ms, plan.add)
            for (index, key), was_seen in zip(items, seen, strict=True):
                late_seen[index] = was_seen
                if plan.add and not was_seen and self.redis is not None:
                    self.catch_up.add_bloom(PendingBloomAdd("late", source, key, now_ms))
        if self.redis is not None:
            for candidate in plan.candidates:
                expires = now_ms + candidate.config.window_ms
                self.catch_up.add_first_seen(
                    PendingFirstSeen(
                        candidate.redis_prefix, candidate.key, candidate.clock, expires
                    )
                )
        self._finish(plan, {}, window_seen, late_seen)

    def _finish(
        self,
        plan: BatchPlan,
        shared: dict[int, int | None],
        window_seen: dict[int, bool],
        late_seen: dict[int, bool],
    ) -> None:
        plan.window_seen, plan.late_seen = window_seen, late_seen
        verdicts = plan.verdicts
        for c in plan.candidates:
            key = c.key
            seen_at = shared.get(c.index)
            if seen_at == RELEASED:
                verdicts[c.index] = make_verdict(
                    DedupeResult.UNIQUE, c.config, "first seen (earlier sighting released)", key
                )
                self.state[c.state_key] = c.clock
                continue
            if self.stage is DedupeStage.EDGE and seen_at is not None:
                age = abs(c.clock - seen_at)
                if age <= c.config.window_ms:
                    reason = "seen within window (shared state)"
                    verdicts[c.index] = make_verdict(DedupeResult.DUPLICATE, c.config, reason, key)
                    self.state[c.state_key] = seen_at
                    continue
                c.local_late_age = age
            if c.local_late_age is not None:
                reason = f"seen {c.local_late_age} ms ago, outside the window"
                verdicts[c.index] = make_verdict(DedupeResult.LATE, c.config, reason, key)
            elif late_seen.get(c.index, False):
                reason = "probably seen before the window (late summary, approximate)"
                verdicts[c.index] = make_verdict(DedupeResult.LATE, c.config, reason, key)
            else:
                verdicts[c.index] = make_verdict(DedupeResult.UNIQUE, c.config, "first seen", key)
            self.state[c.state_key] = c.clock
        for source, items in plan.bloom_keys.items():
            config = self.filters_for(source).config
            for index, key_bytes in items:
                key = key_bytes.decode()
                if window_seen.get(index, False):
                    reason = "probably seen within window (bloom)"
                    verdicts[index] = make_verdict(DedupeResult.DUPLICATE, config, reason, key)
                elif late_seen.get(index, False):
                    reason = "probably seen before the window (late summary, approximate)"
                    verdicts[index] = make_verdict(DedupeResult.LATE, config, reason, key)
                else:
                    reason = "first seen (bloom)"
                    verdicts[index] = make_verdict(DedupeResult.UNIQUE, config, reason, key)

    async def apply_bloom_adds(self, adds: Sequence[PendingBloomAdd], now_ms: int) -> None:
        """Add deferred keys (see `check_batch`) to the Redis filters, or, while Redis is
        unreachable, to the in-process filters and the catch-up queue. Never raises for Redis."""
        if not adds:
            return
        for add in adds:
            if self.redis is not None:
                self.catch_up.add_bloom(add)
        if self.redis is not None and not self.degraded and await self.flush_catch_up(now_ms):
            return
        for (target, source), keys in group_adds(adds).items():
            filters = self.filters_for(source)
            local = filters.window_local if target == "window" else filters.late_local
            local.check_and_add_sync(keys, now_ms)

    def add_in_background(self, adds: Sequence[PendingBloomAdd], now_ms: int) -> None:
        """`apply_bloom_adds` off the caller's critical path; until it lands, lookups of this
        engine count the window keys as seen (see tables/dedupe/inflight.py)."""
        if adds:
            self.in_flight.start(adds, lambda: self.apply_bloom_adds(adds, now_ms))

    # ----------------------------------------------------------------- outage and catch-up

    def _enter_degraded(self, exc: BaseException, now_ms: int) -> None:
        self.degraded = True
        self.last_error = f"{type(exc).__name__}: {exc}"
        self._retry_at_ms = now_ms + self.retry_interval_ms

    async def flush_catch_up(self, now_ms: int) -> bool:
        """Push queued first-seen keys to Redis now (call from a timer so the mirror catches
        up without traffic). Returns True when Redis answered and the queue is empty."""
        if self.redis is None:
            return True
        if not len(self.catch_up):
            if not self.degraded:
                return True
            try:
                await self.redis.ping()
            except REDIS_DOWN_ERRORS as exc:
                self._enter_degraded(exc, now_ms)
                return False
            self.degraded = False
            self.last_error = None
            return True
        try:
            await self._decide_with_redis(BatchPlan(verdicts=[]), now_ms)
        except REDIS_DOWN_ERRORS as exc:
            self._enter_degraded(exc, now_ms)
            return False
        return True

    async def release(
        self, records: Sequence[Record], verdicts: Sequence[Verdict], now_ms: int
    ) -> None:
        """Forget the first sightings this batch recorded (exact/fuzzy), e.g. when the edge
        could not hand the batch to Kafka, so the client's retry is not taken for a duplicate.
        `now_ms` must be the value given to `check_batch`. Keys another writer changed since
        are left alone; Bloom additions cannot be undone."""
        by_prefix: dict[str, list[tuple[str, int]]] = defaultdict(list)
        for record, verdict in zip(records, verdicts, strict=True):
            config = self.registry.for_source(record.get("source"))
            if verdict.result is DedupeResult.DUPLICATE or config.mode not in (
                DedupeMode.EXACT,
                DedupeMode.FUZZY,
            ):
                continue
            source = record.get("source") or NO_SOURCE
            clock = now_ms if config.clock is WindowClock.RECEIVE_TIME else record["event_time"]
            state_key = f"{source}|{config.mode.value}|{verdict.key}"
            if self.state.get(state_key) == clock:
                del self.state[state_key]
            by_prefix[f"{self.key_prefix}:{{{source}}}:{config.mode.value}:"].append(
                (verdict.key, clock)
            )
        if self.redis is None or not by_prefix:
            return

        def build(pipe: Pipeline) -> None:
            for prefix, entries in by_prefix.items():
                queue_release(pipe, prefix, entries)

        try:
            await execute_pipeline(self.redis, [RELEASE_FIRST_SEEN], build)
        except REDIS_DOWN_ERRORS as exc:
            self._enter_degraded(exc, now_ms)

    def health(self) -> dict[str, Any]:
        """For /health: degraded while Redis is unreachable (local state still decides)."""
        return {
            "degraded": self.degraded,
            "redis_error": self.last_error,
            "catch_up_pending": len(self.catch_up),
            "catch_up_dropped": self.catch_up.dropped,
        }

    # ----------------------------------------------------------------- metrics

    def _count(self, records: Sequence[Record], verdicts: Sequence[Verdict]) -> None:
        if self.metrics is None:
            return
        counts: dict[tuple[str, str], dict[DedupeResult, int]] = defaultdict(
            lambda: dict.fromkeys(DedupeResult, 0)
        )
        for record, verdict in zip(records, verdicts, strict=True):
            source = record.get("source")
            mode = self.registry.for_source(source).mode.value
            counts[(mode, source or NO_SOURCE)][verdict.result] += 1
        for (mode, source), by_result in counts.items():
            self.metrics.record(mode, source, by_result)

    async def stats(self, now_ms: int) -> dict[str, Any]:
        """`GET /v1/dedupe/stats`: counts and ratios per source, Bloom fill and expected
        false-positive rate, degraded state. Also refreshes the Bloom fill gauge."""
        counts = self.metrics.counts_json() if self.metrics is not None else {}
        sources: dict[str, Any] = {name: {"results": by_mode} for name, by_mode in counts.items()}
        for source, filters in self._filter_cache.items():
            if filters.config.mode is not DedupeMode.BLOOM:
                continue
            fills = await self._fill_ratios(filters, now_ms)
            if self.metrics is not None and fills:
                self.metrics.set_bloom_fill(source, fills[0])
            sources.setdefault(source, {})["bloom"] = filters.bloom_report(fills)
        return {"stage": self.stage.value, **self.health(), "sources": sources}

    async def _fill_ratios(self, filters: SourceFilters, now_ms: int) -> list[float]:
        if filters.window is not None and not self.degraded:
            try:
                return await filters.window.fill_ratios(now_ms)
            except REDIS_DOWN_ERRORS as exc:
                self._enter_degraded(exc, now_ms)
        return await filters.window_local.fill_ratios(now_ms)

    # ----------------------------------------------------------------- helpers

    def filters_for(self, source: str) -> SourceFilters:
        config = self.registry.for_source(None if source == NO_SOURCE else source)
        return self._filter_cache.get(source, config, self.redis)
