"""Query engine behaviour: single-flight, batching, bucketed cache, invalidation, TTL, limits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from prometheus_client import generate_latest

from tables.aggstore import InMemoryAggregateStore, WindowAggregate
from tables.query import (
    EngineConfig,
    MetricCatalog,
    MetricSpec,
    QueryEngine,
    QueryLimits,
    ResultTooLarge,
)

MIN = 60_000
HOUR = 60 * MIN
KEYS = ("web|de", "web|fr", "app|de")
SPEC = MetricSpec(
    "clicks", MIN, dimensions=("source", "country"), freshness_ms=10_000, closed_after_ms=MIN
)


class ManualClock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def minute_windows(hours: int, value: float = 1.0) -> list[WindowAggregate]:
    return [
        WindowAggregate(
            "clicks", key, m * MIN, (m + 1) * MIN, {"clicks.count": 1, "amount.sum": value}, True
        )
        for m in range(hours * 60)
        for key in KEYS
    ]


def make_engine(
    store: InMemoryAggregateStore, clock: ManualClock, config: EngineConfig | None = None
) -> QueryEngine:
    return QueryEngine(store, MetricCatalog([SPEC]), config, clock=clock)


def body(from_ms: int, to_ms: int, **extra: Any) -> dict[str, Any]:
    return {
        "metric": "clicks",
        "from": from_ms,
        "to": to_ms,
        "step": "5m",
        "aggregate": "amount.sum",
        **extra,
    }


@pytest.fixture
def store() -> InMemoryAggregateStore:
    data = InMemoryAggregateStore()
    data.put_many(minute_windows(6))
    return data


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(24 * HOUR)  # all six hours of data are long settled


async def test_identical_concurrent_queries_cause_one_backend_fetch(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock)
    results = await asyncio.gather(*(engine.query(body(0, 2 * HOUR)) for _ in range(10)))
    assert engine.metrics.counts["backend_fetches"] == 1
    assert engine.metrics.counts["coalesced_queries"] == 9
    assert all(r == results[0] for r in results)
    assert results[0]["series"][0]["points"][0] == [0, 15.0]  # 3 keys x 5 minutes x 1.0

    baseline = make_engine(store, clock, EngineConfig.unoptimised())
    again = await asyncio.gather(*(baseline.query(body(0, 2 * HOUR)) for _ in range(10)))
    assert baseline.metrics.counts["backend_fetches"] == 10
    assert again == results


async def test_single_flight_alone_without_cache_or_batching(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock, EngineConfig(cache=False, batching=False))
    await asyncio.gather(*(engine.query(body(0, HOUR)) for _ in range(5)))
    assert engine.metrics.counts["backend_fetches"] == 1


async def test_queries_for_one_metric_within_the_window_share_one_read(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock, EngineConfig(cache=False, single_flight=False))
    baseline = make_engine(store, clock, EngineConfig.unoptimised())
    ranges = [(0, HOUR), (30 * MIN, 3 * HOUR), (2 * HOUR, 4 * HOUR), (HOUR, 2 * HOUR)]
    merged = await asyncio.gather(*(engine.query(body(lo, hi)) for lo, hi in ranges))
    assert engine.metrics.counts["backend_fetches"] == 1
    assert engine.metrics.counts["merged_batches"] == 1
    assert engine.metrics.counts["merged_queries"] == 3
    assert engine.metrics.counts["records_read"] == 4 * 60 * len(KEYS)  # union, read once
    for (lo, hi), result in zip(ranges, merged, strict=True):
        assert result == await baseline.query(body(lo, hi))  # each caller got its own slice
        assert all(lo <= p[0] < hi for s in result["series"] for p in s["points"])


async def test_overlapping_range_fetches_only_missing_blocks(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock, EngineConfig(block_ms=HOUR))  # 1 h blocks of 12 steps
    baseline = make_engine(store, clock, EngineConfig.unoptimised())
    await engine.query(body(0, 2 * HOUR))
    assert engine.metrics.counts["records_read"] == 2 * 60 * len(KEYS)
    result = await engine.query(body(HOUR, 4 * HOUR))
    counts = engine.metrics.counts
    assert counts["backend_fetches"] == 2
    assert counts["records_read"] == 4 * 60 * len(KEYS)  # only hours 2 and 3 were read
    assert (counts["cache_hits"], counts["cache_misses"]) == (1, 2 + 2)
    assert result == await baseline.query(body(HOUR, 4 * HOUR))
    await engine.query(body(15 * MIN, 3 * HOUR + 20 * MIN))  # unaligned: fully cached
    assert counts["backend_fetches"] == 2


async def test_window_update_is_visible_in_the_very_next_query(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock)
    before = await engine.query(body(0, HOUR))
    assert before["series"][0]["points"][2] == [10 * MIN, 15.0]
    late = WindowAggregate("clicks", "web|de", 11 * MIN, 12 * MIN, {"amount.sum": 101.0}, True)

    store.put_many([late])  # written without invalidation: the cached block still answers
    assert await engine.query(body(0, HOUR)) == before

    await engine.record_windows([late])  # the window engine's hook: write + invalidate
    after = await engine.query(body(0, HOUR))
    assert after["series"][0]["points"][2] == [10 * MIN, 115.0]
    assert engine.metrics.counts["invalidated_blocks"] == 1


async def test_invalidation_only_drops_overlapping_blocks(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock, EngineConfig(block_ms=HOUR))
    await engine.query(body(0, 6 * HOUR))
    await engine.query(body(0, 6 * HOUR, group_by=["source"]))
    assert len(engine.cache) == 12
    assert engine.invalidate_local("clicks", 2 * HOUR + 5, 2 * HOUR + 6) == 2
    assert engine.invalidate_local("other", 0, 6 * HOUR) == 0
    await engine.query(body(0, 6 * HOUR))
    assert engine.metrics.counts["cache_misses"] == 6 + 6 + 1


async def test_query_after_invalidation_does_not_join_an_older_flight(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock, EngineConfig(batch_window_ms=20))
    first = asyncio.create_task(engine.query(body(0, HOUR)))
    await asyncio.sleep(0)  # first is now waiting for its batched read
    engine.invalidate_local("clicks", 0, HOUR)
    second = asyncio.create_task(engine.query(body(0, HOUR)))
    await asyncio.gather(first, second)
    assert engine.metrics.counts["coalesced_queries"] == 0


async def test_open_blocks_expire_after_freshness_settled_blocks_do_not(
    store: InMemoryAggregateStore,
) -> None:
    clock = ManualClock(6 * HOUR - 10 * MIN)  # last hour still open, earlier hours settled
    engine = make_engine(store, clock, EngineConfig(block_ms=HOUR))
    await engine.query(body(0, 6 * HOUR))
    store.put_many(
        WindowAggregate("clicks", "web|de", t, t + MIN, {"amount.sum": 50.0}, True)
        for t in (HOUR, 5 * HOUR)
    )

    def value_at(result: dict[str, Any], ts: int) -> float:
        points = {point[0]: point[1] for point in result["series"][0]["points"]}
        return float(points[ts])

    clock.now_ms += SPEC.freshness_ms - 1
    stale = await engine.query(body(0, 6 * HOUR))
    assert (value_at(stale, HOUR), value_at(stale, 5 * HOUR)) == (15.0, 15.0)

    clock.now_ms += 1  # the open block's TTL has run out, the settled one never expires
    fresh = await engine.query(body(0, 6 * HOUR))
    assert (value_at(fresh, HOUR), value_at(fresh, 5 * HOUR)) == (15.0, 64.0)
    assert engine.metrics.counts["backend_fetches"] == 2


async def test_open_windows_keep_a_settled_block_on_a_ttl(clock: ManualClock) -> None:
    store = InMemoryAggregateStore()
    store.put_many([WindowAggregate("clicks", "web|de", 0, MIN, {"amount.sum": 1.0}, False)])
    engine = make_engine(store, clock)  # hour 0 is long past, but its window is not final
    await engine.query(body(0, HOUR))
    store.put_many([WindowAggregate("clicks", "web|de", 0, MIN, {"amount.sum": 7.0}, True)])
    clock.now_ms += SPEC.freshness_ms
    result = await engine.query(body(0, HOUR))
    assert result["series"][0]["points"] == [[0, 7.0]]


async def test_aggregate_functions_combine_windows_correctly(clock: ManualClock) -> None:
    store = InMemoryAggregateStore()
    windows = [  # (key, minute, sum, count, min, max, last)
        ("web|de", 0, 10.0, 2, 1.0, 9.0, 9.0),
        ("web|fr", 1, 30.0, 1, 30.0, 30.0, 30.0),
        ("app|de", 2, 2.0, 4, 0.5, 0.5, 0.5),
        ("web|de", 6, 4.0, 4, -1.0, 3.0, 2.0),
    ]
    store.put_many(
        WindowAggregate(
            "clicks",
            key,
            m * MIN,
            (m + 1) * MIN,
            {"v.sum": s, "v.count": c, "v.min": lo, "v.max": hi, "v.last": last},
        )
        for key, m, s, c, lo, hi, last in windows
    )
    engine = make_engine(store, clock)

    async def points(aggregate: str, **extra: Any) -> list[Any]:
        result = await engine.query(body(0, 10 * MIN, aggregate=aggregate, **extra))
        return [(s["key"], s["points"]) for s in result["series"]]

    assert await points("v.mean") == [({}, [[0, 42.0 / 7], [5 * MIN, 1.0]])]  # not mean of means
    assert await points("v.sum") == [({}, [[0, 42.0], [5 * MIN, 4.0]])]
    assert await points("v.count") == [({}, [[0, 7], [5 * MIN, 4]])]
    assert await points("v.min") == [({}, [[0, 0.5], [5 * MIN, -1.0]])]
    assert await points("v.max") == [({}, [[0, 30.0], [5 * MIN, 3.0]])]
    assert await points("v.last") == [({}, [[0, 0.5], [5 * MIN, 2.0]])]
    assert await points("v.sum", group_by=["country"]) == [
        ({"country": "de"}, [[0, 12.0], [5 * MIN, 4.0]]),
        ({"country": "fr"}, [[0, 30.0]]),
    ]
    assert await points("v.mean", group_by=["source"], filters={"country": "de"}) == [
        ({"source": "app"}, [[0, 0.5]]),
        ({"source": "web"}, [[0, 5.0], [5 * MIN, 1.0]]),
    ]


async def test_too_many_series_is_413(store: InMemoryAggregateStore, clock: ManualClock) -> None:
    engine = make_engine(store, clock, EngineConfig(limits=QueryLimits(max_series=2)))
    with pytest.raises(ResultTooLarge) as caught:
        await engine.query(body(0, HOUR, group_by=["source", "country"]))
    assert caught.value.status == 413
    [error] = await engine.query_many([body(0, HOUR, group_by=["country", "source"])])
    assert error["error"] == "result_too_large"
    assert engine.metrics.counts["errors"] == 2


async def test_cache_stays_within_its_size_bound(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock, EngineConfig(block_ms=HOUR, cache_max_points=30))
    await engine.query(body(0, 6 * HOUR))  # 6 blocks x (12 points + 1)
    assert engine.cache.weight <= 30
    assert engine.cache.evictions == 4
    await engine.query(body(5 * HOUR, 6 * HOUR))  # most recently used block is still there
    assert engine.metrics.counts["backend_fetches"] == 1


async def test_stats_and_prometheus_agree(
    store: InMemoryAggregateStore, clock: ManualClock
) -> None:
    engine = make_engine(store, clock, EngineConfig(block_ms=HOUR))
    await engine.query(body(0, 2 * HOUR))
    await engine.query(body(0, 2 * HOUR))
    stats = engine.stats()
    assert (stats["cache_hits"], stats["cache_misses"], stats["cache_hit_ratio"]) == (2, 2, 0.5)
    assert stats["queries"] == 2 and stats["cache_blocks"] == 2
    exposition = generate_latest(engine.metrics.registry).decode()
    assert "datanexus_query_cache_hits_total 2.0" in exposition
    assert "datanexus_query_cache_hit_ratio 0.5" in exposition
    assert "datanexus_query_latency_seconds_count 2.0" in exposition
