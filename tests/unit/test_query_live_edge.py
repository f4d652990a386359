"""The live edge: partial invalidation resumes a block from a checkpoint, reads overlapping an
invalidation stay cacheable, open blocks are refreshed ahead of their TTL — all without ever
answering differently from the unoptimised engine."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.aggstore import InMemoryAggregateStore, WindowAggregate
from tables.query import EngineConfig, MetricCatalog, MetricSpec, QueryEngine

MIN = 60_000
HOUR = 60 * MIN
KEYS = [f"{src}|{geo}{i}" for src in ("web", "app") for geo in ("de", "fr") for i in range(5)]
SPEC = MetricSpec("clicks", MIN, ("source", "country"), freshness_ms=10_000)
NOW = 3 * HOUR - 30_000  # half a minute into the last minute of hour 2


class Clock:
    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms


def window(key: str, start: int, value: float, final: bool = True) -> WindowAggregate:
    aggregates = {"amount.sum": value, "amount.count": 1, "amount.max": value}
    return WindowAggregate("clicks", key, start, start + MIN, aggregates, final)


def history(until_ms: int) -> list[WindowAggregate]:
    """Final windows for every key and minute before the current one, the current one open."""
    current = until_ms - until_ms % MIN
    return [
        window(key, start, 0.1 * (start // MIN) + i, start < current)
        for start in range(0, current + MIN, MIN)
        for i, key in enumerate(KEYS)
    ]


def body(aggregate: str = "amount.sum", **extra: Any) -> dict[str, Any]:
    query = {"metric": "clicks", "from": 2 * HOUR, "to": 3 * HOUR, "step": "5m"}
    return {**query, "aggregate": aggregate, **extra}


def engines(
    store: InMemoryAggregateStore, clock: Clock, **config: Any
) -> tuple[QueryEngine, QueryEngine]:
    catalog = MetricCatalog([SPEC])
    fast = QueryEngine(store, catalog, EngineConfig(block_ms=HOUR, **config), clock=clock)
    slow = QueryEngine(store, catalog, EngineConfig.unoptimised(), clock=clock)
    return fast, slow


async def test_update_of_the_open_minute_rereads_only_the_tail() -> None:
    store, clock = InMemoryAggregateStore(), Clock(NOW)
    store.put_many(history(NOW))
    fast, slow = engines(store, clock, refresh_ahead=0, live_tail=False)  # the store re-read
    await fast.query(body())
    read = fast.metrics.counts["records_read"]
    assert read == 60 * len(KEYS)

    current = NOW - NOW % MIN
    await fast.record_windows([window(KEYS[3], current, 99.0, final=False)])
    result = await fast.query(body())
    assert result == await slow.query(body())
    counts = fast.metrics.counts
    assert counts["resumed_blocks"] == 1
    # checkpoints sit before each window start from the settled edge on: only the updated minute
    assert counts["records_read"] - read == len(KEYS)


async def test_invalidation_before_every_checkpoint_drops_the_block() -> None:
    store, clock = InMemoryAggregateStore(), Clock(NOW)
    store.put_many(history(NOW))
    fast, slow = engines(store, clock, refresh_ahead=0, live_tail=False)  # the store re-read
    await fast.query(body())
    await fast.record_windows([window(KEYS[0], 2 * HOUR + 10 * MIN, -5.0)])  # late, far back
    assert await fast.query(body()) == await slow.query(body())
    assert fast.metrics.counts["resumed_blocks"] == 0
    assert fast.metrics.counts["records_read"] == 2 * 60 * len(KEYS)


async def test_a_read_overlapping_an_invalidation_is_cached_stale_from_its_checkpoint() -> None:
    store, clock = InMemoryAggregateStore(), Clock(NOW)
    store.put_many(history(NOW))
    fast, slow = engines(store, clock, batch_window_ms=20, refresh_ahead=0)
    current = NOW - NOW % MIN
    pending = asyncio.create_task(fast.query(body()))
    await asyncio.sleep(0.005)  # the query waits in its batching window
    await fast.record_windows([window(KEYS[1], current, 42.0, final=False)])
    await pending
    assert len(fast.cache) == 1  # not thrown away: kept, but stale from a checkpoint
    assert await fast.query(body()) == await slow.query(body())
    assert fast.metrics.counts["resumed_blocks"] == 1


async def test_open_blocks_are_refreshed_before_their_ttl_and_never_served_after_it() -> None:
    store, clock = InMemoryAggregateStore(), Clock(NOW)
    store.put_many(history(NOW))
    fast, slow = engines(store, clock, refresh_ahead=0.5, batch_window_ms=0.5)
    await fast.query(body())
    [(_, first)] = fast.cache.entries_at("clicks", 2 * HOUR)
    assert first.expires_at_ms == NOW + SPEC.freshness_ms

    clock.now_ms += SPEC.freshness_ms // 2 + 1  # less than half the freshness left: refresh
    store.put_many([window(KEYS[2], 2 * HOUR, 1_000.0)])  # a write nobody invalidated
    await fast.query(body())
    await asyncio.sleep(0.05)  # the background refresh reads and swaps the block
    [(_, refreshed)] = fast.cache.entries_at("clicks", 2 * HOUR)
    assert refreshed.expires_at_ms == clock.now_ms + SPEC.freshness_ms
    assert fast.metrics.counts["refreshed_blocks"] == 1
    assert await fast.query(body()) == await slow.query(body())  # the unsignalled write shows
    await fast.close()


values = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@given(
    rounds=st.lists(
        st.tuples(
            st.lists(
                st.tuples(st.sampled_from(KEYS), st.integers(-4, 1), values, st.booleans()),
                max_size=6,
            ),
            st.integers(0, 40_000),
        ),
        min_size=1,
        max_size=6,
    ),
    aggregate=st.sampled_from(["amount.sum", "amount.mean", "amount.max"]),
    step=st.sampled_from(["1m", "5m", "15m", "1h"]),
    group_by=st.sampled_from([[], ["source"], ["country", "source"]]),
    offload=st.booleans(),
)
@settings(max_examples=60, deadline=None)
def test_live_edge_updates_never_change_an_answer(
    rounds: list[tuple[list[tuple[str, int, float, bool]], int]],
    aggregate: str,
    step: str,
    group_by: list[str],
    offload: bool,
) -> None:
    clock = Clock(NOW)
    store = InMemoryAggregateStore()
    store.put_many(history(NOW))
    fast, slow = engines(store, clock, offload_reads=offload, batch_window_ms=0.2)
    query = body(aggregate, step=step, group_by=group_by) | {"to": "now+1h"}

    async def run() -> None:
        for updates, advance in rounds:
            got = await asyncio.gather(fast.query(query), fast.query(query))
            assert got[0] == got[1] == await slow.query(query)
            current = clock.now_ms - clock.now_ms % MIN
            await fast.record_windows(
                window(key, current + minutes * MIN, value, final)
                for key, minutes, value, final in updates
            )
            clock.now_ms += advance
        assert await fast.query(query) == await slow.query(query)
        await fast.close()

    asyncio.run(run())
