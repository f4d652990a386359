"""LiveTail: the write-through mirror of the live edge answers exactly like the store."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.aggstore import InMemoryAggregateStore, RocksAggregateStore, WindowAggregate
from tables.query import EngineConfig, MetricCatalog, MetricSpec, QueryEngine
from tables.query.livetail import LiveTail
from tests.unit.test_query_live_edge import Clock

MIN = 60_000
HOUR = 60 * MIN
FRESH = 30_000
KEYS = ["web|de", "web|fr", "app|de", "app|fr", "ä|x", "a|y"]
SPEC = MetricSpec("clicks", MIN, ("source", "country"), freshness_ms=FRESH)
NOW = 3 * HOUR - 30_000


def window(key: str, start: int, value: float, final: bool = False) -> WindowAggregate:
    return WindowAggregate(
        "clicks", key, start, start + MIN, {"n.sum": value, "n.count": 1, "n.max": value}, final
    )


def body(aggregate: str = "n.sum", step: str = "5m", **extra: Any) -> dict[str, Any]:
    query = {"metric": "clicks", "from": 2 * HOUR, "to": 3 * HOUR, "step": step}
    return {**query, "aggregate": aggregate, **extra}


def tail(clock: Clock) -> LiveTail:
    return LiveTail(clock, lambda metric: FRESH)


def test_reads_in_store_order_with_writes_applied() -> None:
    clock = Clock(NOW)
    mirror = tail(clock)
    store = InMemoryAggregateStore()
    store.put_many([window(k, s, 1.0) for s in (0, MIN) for k in KEYS[:3]])
    assert mirror.read("clicks", 0, 2 * MIN) is None  # nothing learnt yet
    mirror.learn("clicks", 0, 2 * MIN, list(store.range("clicks", 0, 2 * MIN)), 0, NOW)
    updates = [window(k, MIN, 7.0) for k in KEYS]  # new keys too, in no particular order
    store.put_many(updates)
    mirror.write(updates)
    assert mirror.read("clicks", 0, 2 * MIN) == list(store.range("clicks", 0, 2 * MIN))
    assert mirror.read("clicks", MIN, 2 * MIN) == list(store.range("clicks", MIN, 2 * MIN))
    assert mirror.read("clicks", 0, 3 * MIN) is None  # beyond what was learnt


def test_a_read_that_overlapped_a_write_is_not_learnt() -> None:
    mirror = tail(Clock(NOW))
    version = mirror.version("clicks")
    mirror.write([window("web|de", 0, 1.0)])
    mirror.learn("clicks", 0, MIN, [], version, NOW)
    assert mirror.read("clicks", 0, MIN) is None


def test_values_the_store_would_change_drop_the_metric() -> None:
    mirror = tail(Clock(NOW))
    mirror.learn("clicks", 0, MIN, [window("web|de", 0, 1.0)], 0, NOW)
    mirror.write([window("web|de", 0, float("nan"))])  # the store's JSON turns NaN into null
    assert mirror.read("clicks", 0, MIN) is None


def test_trust_ends_after_the_freshness_and_drop_forgets() -> None:
    clock = Clock(NOW)
    mirror = tail(clock)
    mirror.learn("clicks", 0, MIN, [window("web|de", 0, 1.0)], 0, NOW)
    assert mirror.learnt_at("clicks") == NOW
    clock.now_ms += FRESH - 1
    assert mirror.read("clicks", 0, MIN) is not None
    clock.now_ms += 1
    assert mirror.read("clicks", 0, MIN) is None
    mirror.learn("clicks", 0, MIN, [], mirror.version("clicks"), clock.now_ms)
    mirror.drop("clicks", 0, 1)
    assert mirror.read("clicks", 0, MIN) is None


def test_oldest_minutes_go_first_past_the_row_limit() -> None:
    mirror = LiveTail(Clock(NOW), lambda metric: FRESH, max_rows=4)
    rows = [window(k, s, 1.0) for s in (0, MIN, 2 * MIN) for k in KEYS[:2]]
    mirror.learn("clicks", 0, 3 * MIN, rows, 0, NOW)  # more than it may hold: not learnt
    assert mirror.rows("clicks") == 0
    mirror.learn("clicks", 0, 3 * MIN, rows[:4], 0, NOW)
    mirror.write(rows[4:])  # a new minute: the oldest one goes
    assert mirror.rows("clicks") == 4
    assert mirror.read("clicks", 0, 3 * MIN) is None
    assert mirror.read("clicks", MIN, 3 * MIN) == rows[2:]


async def test_open_minute_updates_are_answered_without_store_reads() -> None:
    store, clock = InMemoryAggregateStore(), Clock(NOW)
    current = NOW - NOW % MIN
    store.put_many(
        window(k, s, s / MIN, s < current) for s in range(0, 3 * HOUR, MIN) for k in KEYS
    )
    catalog = MetricCatalog([SPEC])
    fast = QueryEngine(store, catalog, EngineConfig(block_ms=HOUR, refresh_ahead=0), clock=clock)
    slow = QueryEngine(store, catalog, EngineConfig.unoptimised(), clock=clock)
    await fast.query(body())  # a small block read: the mirror learns it
    fetches = fast.metrics.counts["backend_fetches"]
    for value in (6.0, 7.5, -1.0):  # resumed blocks read their tail from the mirror
        await fast.record_windows([window(KEYS[1], current, value), window("new|k", current, 1)])
        assert await fast.query(body()) == await slow.query(body())
    assert fast.metrics.counts["backend_fetches"] == fetches
    assert fast.metrics.counts["tail_reads"] == 3

    store.put_many([window(KEYS[2], current, 1_000.0)])  # a write nobody signalled
    clock.now_ms += FRESH  # the mirror is trusted no longer than the blocks it feeds
    assert await fast.query(body()) == await slow.query(body())
    fast.invalidate_local("clicks", current, current + 1)  # another instance's write
    assert fast.stats()["config"]["live_tail"] is True
    await fast.close()


values = st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6, allow_nan=False))


@given(
    rounds=st.lists(
        st.tuples(
            st.lists(st.tuples(st.sampled_from(KEYS), st.integers(-3, 1), values), max_size=8),
            st.integers(0, 20_000),
        ),
        min_size=1,
        max_size=6,
    ),
    aggregate=st.sampled_from(["n.sum", "n.mean", "n.max"]),
    step=st.sampled_from(["1m", "5m", "1h"]),
    group_by=st.sampled_from([[], ["source"]]),
)
@settings(max_examples=25, deadline=None)
def test_rocks_store_and_mirror_answer_alike(
    tmp_path_factory: Any,
    rounds: list[tuple[list[tuple[str, int, float]], int]],
    aggregate: str,
    step: str,
    group_by: list[str],
) -> None:
    """Through the RocksDB JSON round trip (ints stay ints, floats stay floats) as well."""
    path: Path = tmp_path_factory.mktemp("agg")
    store, clock = RocksAggregateStore(path), Clock(NOW)
    catalog = MetricCatalog([SPEC])
    current = NOW - NOW % MIN
    history = range(2 * HOUR, 3 * HOUR, MIN)
    store.put_many(window(k, s, 1.5, s < current) for s in history for k in KEYS)
    config = EngineConfig(block_ms=HOUR, refresh_ahead=0, batch_window_ms=0.2)
    fast = QueryEngine(store, catalog, config, clock=clock)
    slow = QueryEngine(store, catalog, EngineConfig.unoptimised(), clock=clock)
    query = body(aggregate, step, group_by=group_by)

    async def run() -> None:
        for writes, advance in rounds:
            clock.now_ms += advance
            edge = clock.now_ms - clock.now_ms % MIN
            await fast.record_windows(
                window(key, edge + minutes * MIN, value) for key, minutes, value in writes
            )
            assert await fast.query(query) == await slow.query(query)
        await fast.close()

    try:
        asyncio.run(run())
    finally:
        store.close()
