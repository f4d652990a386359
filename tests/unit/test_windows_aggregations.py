"""Aggregations: incremental add equals merge of parts; state survives JSON; HLL accuracy."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.windows.aggregations import AggregationKind, make_aggregation

EXACT = [k for k in AggregationKind if k is not AggregationKind.DISTINCT]


def _fold(kind: AggregationKind, items: list[tuple[int, int, Any]]) -> Any:
    agg = make_aggregation(kind)
    state = agg.initial()
    for ts, ordinal, value in items:
        state = agg.add(state, value, ts, ordinal)
    return agg.decode(orjson.loads(orjson.dumps(agg.encode(state))))


items_strategy = st.lists(
    st.tuples(
        st.integers(0, 50),
        st.just(0),
        st.one_of(st.none(), st.integers(-9, 9), st.text(max_size=2)),
    ),
    max_size=40,
).map(lambda xs: [(ts, i, v) for i, (ts, _, v) in enumerate(xs)])


@settings(max_examples=200, deadline=None)
@given(items_strategy, st.integers(0, 40), st.sampled_from(list(AggregationKind)))
def test_merge_of_parts_equals_whole(
    items: list[tuple[int, int, Any]], cut: int, kind: AggregationKind
) -> None:
    agg = make_aggregation(kind)
    whole = agg.result(_fold(kind, items))
    merged = agg.result(agg.merge(_fold(kind, items[:cut]), _fold(kind, items[cut:])))
    assert merged == whole


@settings(max_examples=200, deadline=None)
@given(items_strategy, st.sampled_from(EXACT))
def test_exact_aggregations_match_definitions(
    items: list[tuple[int, int, Any]], kind: AggregationKind
) -> None:
    nums = [v for _, _, v in items if type(v) is int]
    present = [(ts, o, v) for ts, o, v in items if v is not None]
    want = {
        AggregationKind.COUNT: len(items),
        AggregationKind.SUM: sum(nums),
        AggregationKind.MIN: min(nums, default=None),
        AggregationKind.MAX: max(nums, default=None),
        AggregationKind.MEAN: sum(nums) / len(nums) if nums else None,
        AggregationKind.FIRST: min(present)[2] if present else None,
        AggregationKind.LAST: max(present, key=lambda e: (e[0], e[1]))[2] if present else None,
    }[kind]
    assert make_aggregation(kind).result(_fold(kind, items)) == want


def test_distinct_estimate_within_error_and_stored_small() -> None:
    agg = make_aggregation(AggregationKind.DISTINCT)
    for n in (0, 1, 50, 1000, 20_000):
        state = agg.initial()
        for i in range(n):
            state = agg.add(state, f"user-{i}", 0, i)
            state = agg.add(state, f"user-{i}", 0, i)  # duplicates do not count
        assert abs(agg.result(state) - n) <= max(2, 0.05 * n)
    assert len(orjson.dumps(agg.encode(agg.initial()))) < 100
