"""Property: cache + batching + single-flight never change an answer, even across updates."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.aggstore import InMemoryAggregateStore, WindowAggregate
from tables.query import EngineConfig, MetricCatalog, MetricSpec, QueryEngine

MIN = 60_000
SPAN_MIN = 240
KEYS = ("a|x", "a|y", "b|x", "b|y", "c|x")
CATALOG = MetricCatalog(
    [
        MetricSpec("m", MIN, ("src", "geo"), freshness_ms=5 * MIN, closed_after_ms=2 * MIN),
        MetricSpec("n", 2 * MIN, ("src", "geo"), freshness_ms=MIN),
    ]
)

values = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def windows(draw: st.DrawFn) -> WindowAggregate:
    metric = draw(st.sampled_from(["m", "n"]))
    width = 2 * MIN if metric == "n" else MIN
    start = draw(st.integers(0, SPAN_MIN * MIN // width)) * width
    count = draw(st.integers(1, 5))
    aggregates = {
        "v.sum": draw(values),
        "v.count": count,
        "v.min": draw(values),
        "v.max": draw(values),
        "v.last": draw(values),
    }
    return WindowAggregate(
        metric, draw(st.sampled_from(KEYS)), start, start + width, aggregates, draw(st.booleans())
    )


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    metric = draw(st.sampled_from(["m", "n", "missing"]))
    start = draw(st.integers(0, SPAN_MIN + 30)) * MIN
    length = draw(st.integers(-5, 180)) * MIN
    body: dict[str, Any] = {
        "metric": metric,
        "from": start,
        "to": start + length,
        "step": draw(st.sampled_from([MIN, 2 * MIN, 4 * MIN, 10 * MIN, 60 * MIN])),
        "aggregate": "v." + draw(st.sampled_from(["sum", "count", "min", "max", "mean", "last"])),
    }
    body["group_by"] = draw(st.sampled_from([[], ["src"], ["geo"], ["geo", "src"]]))
    if draw(st.booleans()):
        body["filters"] = {"src": draw(st.lists(st.sampled_from("abc"), min_size=1, max_size=2))}
    return body


@given(
    initial=st.lists(windows(), max_size=120),
    rounds=st.lists(
        st.tuples(st.lists(queries(), min_size=1, max_size=8), st.lists(windows(), max_size=10)),
        min_size=1,
        max_size=4,
    ),
    block_ms=st.sampled_from([MIN, 3 * MIN, 10 * MIN, 60 * MIN, 150 * MIN]),
    clock_start=st.integers(0, SPAN_MIN + 10),
    clock_steps=st.lists(st.integers(0, 6 * MIN), min_size=4, max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_optimised_engine_answers_exactly_like_the_baseline(
    initial: list[WindowAggregate],
    rounds: list[tuple[list[dict[str, Any]], list[WindowAggregate]]],
    block_ms: int,
    clock_start: int,
    clock_steps: list[int],
) -> None:
    now = [clock_start * MIN]
    store = InMemoryAggregateStore()
    store.put_many(initial)
    fast = QueryEngine(
        store,
        CATALOG,
        EngineConfig(block_ms=block_ms, batch_window_ms=0.5),
        clock=lambda: now[0],
    )
    slow = QueryEngine(store, CATALOG, EngineConfig.unoptimised(), clock=lambda: now[0])

    async def run() -> None:
        for (mix, updates), advance in zip(rounds, clock_steps, strict=False):
            doubled = mix + mix[::2]  # identical queries in flight together
            got = await fast.query_many(doubled)
            expected = await slow.query_many(doubled)
            assert got == expected
            await fast.record_windows(updates)  # the window-engine path: write + invalidate
            now[0] += advance

    asyncio.run(run())
