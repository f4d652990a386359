"""Window specs -> metric catalog, window output -> stored aggregates, cross-worker merge."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.query.catalog import (
    RecordError,
    catalog_from_specs,
    metric_spec_for,
    window_aggregate,
)
from agents.query.cluster import PeerClient, decode_windows, encode_windows, merge_reads
from agents.query.runtime import QueryRuntime
from tables.aggstore import InMemoryAggregateStore, WindowAggregate
from tables.query import Dashboard, EngineConfig, decode_group_key
from tables.windows import parse_window_spec

MIN = 60_000
SPEC = {
    "name": "spend",
    "type": "tumbling",
    "size": "1m",
    "grace": "10s",
    "group_by": ["source", "user.country"],
    "aggregate": {"amount": ["sum", "count", "mean"], "*": ["count"]},
}


def record(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "spend",
        "key": ["web", "de"],
        "group_key": '["web","de"]',
        "start": 2 * MIN,
        "end": 3 * MIN,
        "aggregates": {"amount.sum": 12, "amount.count": 3, "amount.mean": 4.0, "*.count": 3},
        "final": True,
        "revision": 0,
        "kind": "tumbling",
    }
    base.update(changes)
    return base


def test_metric_spec_follows_the_window_spec() -> None:
    tumbling = metric_spec_for(parse_window_spec(SPEC), freshness_ms=2_000)
    assert tumbling.window_ms == MIN
    assert tumbling.dimensions == ("source", "user.country")
    assert tumbling.fields == ("amount", "*")
    assert tumbling.freshness_ms == 2_000
    assert tumbling.closed_after_ms == MIN + 10_000
    sliding = metric_spec_for(
        parse_window_spec({**SPEC, "type": "sliding", "size": "10m", "step": "1m"}), 1
    )
    assert (sliding.window_ms, sliding.closed_after_ms) == (MIN, 10 * MIN + 10_000)
    late = metric_spec_for(
        parse_window_spec({**SPEC, "late": "update", "allowed_lateness": "5m"}), 1
    )
    assert late.closed_after_ms == MIN + 10_000 + 5 * MIN
    session_raw = {k: v for k, v in SPEC.items() if k != "size"}
    session = metric_spec_for(
        parse_window_spec({**session_raw, "type": "session", "gap": "30s"}), 1
    )
    assert session.window_ms == 1  # session starts are not on a grid: any step works


def test_record_becomes_a_window_aggregate_with_a_decodable_group_key() -> None:
    catalog = catalog_from_specs([parse_window_spec(SPEC)], 5_000)
    stored = window_aggregate(record(key=["a|b", None]), catalog)
    assert (stored.metric, stored.start_ms, stored.end_ms, stored.final) == (
        "spend",
        2 * MIN,
        3 * MIN,
        True,
    )
    assert stored.aggregates == {
        "amount.sum": 12.0,
        "amount.count": 3.0,
        "amount.mean": 4.0,
        "*.count": 3.0,
    }
    dims = catalog.get("spend").dimensions
    assert decode_group_key(stored.key, dims) == {"source": "a|b", "user.country": ""}


def test_nested_aggregates_are_flattened_and_non_numbers_dropped() -> None:
    catalog = catalog_from_specs([parse_window_spec(SPEC)], 5_000)
    nested = {"amount": {"sum": 5, "last": "x", "max": 2.5}, "flag": True}
    stored = window_aggregate(record(aggregates=nested, final=False), catalog)
    assert stored.aggregates == {"amount.sum": 5.0, "amount.max": 2.5}
    assert stored.final is False


@pytest.mark.parametrize(
    "bad",
    [
        record(name="other"),
        record(start=-1),
        record(start="5"),
        record(aggregates=[1]),
        {"name": "spend"},
        [1, 2],
    ],
)
def test_malformed_records_are_rejected(bad: object) -> None:
    catalog = catalog_from_specs([parse_window_spec(SPEC)], 5_000)
    with pytest.raises(RecordError):
        window_aggregate(bad, catalog)  # type: ignore[arg-type]


windows = st.lists(
    st.builds(
        WindowAggregate,
        metric=st.just("m"),
        key=st.sampled_from(["a", "b", '{"x":"1"}']),
        start_ms=st.integers(0, 20).map(lambda m: m * MIN),
        end_ms=st.just(0),
        aggregates=st.dictionaries(st.just("v.sum"), st.integers(0, 9).map(float)),
        final=st.booleans(),
    ),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(windows, st.lists(st.integers(0, 2), max_size=30))
def test_merge_of_partitioned_reads_equals_one_store(
    records: list[WindowAggregate], owners: list[int]
) -> None:
    """Windows split over three workers read back exactly like one store (same order)."""
    unique = {(r.start_ms, r.key): r for r in records}
    whole, parts = InMemoryAggregateStore(), [InMemoryAggregateStore() for _ in range(3)]
    whole.put_many(unique.values())
    for index, item in enumerate(unique.values()):
        parts[owners[index] if index < len(owners) else 0].put_many([item])
    reads = [decode_windows("m", encode_windows(p.range("m", 0, 30 * MIN))) for p in parts]
    assert merge_reads(reads) == list(whole.range("m", 0, 30 * MIN))


def test_merge_prefers_the_final_copy_of_a_moved_window() -> None:
    open_copy = WindowAggregate("m", "k", MIN, 2 * MIN, {"v.sum": 1.0}, False)
    final_copy = WindowAggregate("m", "k", MIN, 2 * MIN, {"v.sum": 2.0}, True)
    other = WindowAggregate("m", "a", MIN, 2 * MIN, {"v.sum": 5.0}, True)
    assert merge_reads([[open_copy], [other, final_copy]]) == [other, final_copy]
    assert merge_reads([[final_copy], [open_copy]]) == [final_copy]
    assert orjson.loads(encode_windows([other])) == [["a", MIN, 2 * MIN, {"v.sum": 5.0}, True]]


async def test_runtime_opens_stores_in_its_state_dir_and_applies_retention(tmp_path: Path) -> None:
    catalog = catalog_from_specs([parse_window_spec(SPEC)], 5_000)
    runtime = QueryRuntime(
        tmp_path / "query",
        catalog,
        EngineConfig(),
        retention_ms=60 * MIN,
        peers=list,
        client=PeerClient(1.0),
    )
    now = 1000 * MIN
    old = WindowAggregate("spend", "", now - 61 * MIN, now - 60 * MIN, {"amount.sum": 1.0})
    new = WindowAggregate("spend", "", now - 59 * MIN, now - 58 * MIN, {"amount.sum": 2.0})
    assert await runtime.engine.record_windows([old, new]) == 2
    assert runtime.apply_retention(now) == 1
    assert list(runtime.store.range("spend", 0, now)) == [new]
    runtime.dashboards.put(Dashboard.from_dict({"widgets": []}, "d1"))
    await runtime.close()
    reopened = QueryRuntime(
        tmp_path / "query",
        catalog,
        EngineConfig(),
        retention_ms=None,
        peers=list,
        client=PeerClient(1.0),
    )
    assert list(reopened.store.range("spend", 0, now)) == [new]
    assert reopened.dashboards.ids() == ["d1"]
    await reopened.close()
