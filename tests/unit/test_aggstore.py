"""Aggregate store: key layout ordering, and both stores honouring the same range contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.aggstore import (
    AggregateStore,
    InMemoryAggregateStore,
    RocksAggregateStore,
    WindowAggregate,
    decode_key,
    encode_key,
)

MIN = 60_000


def window(metric: str, start: int, key: str = "k", value: float = 1.0) -> WindowAggregate:
    return WindowAggregate(metric, key, start, start + MIN, {"x.sum": value}, True)


@pytest.fixture(params=["memory", "rocks"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AggregateStore]:
    if request.param == "memory":
        yield InMemoryAggregateStore(retention_ms=10 * MIN)
    else:
        rocks = RocksAggregateStore(tmp_path / "agg", retention_ms=10 * MIN)
        yield rocks
        rocks.close()


names = st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), min_size=1, max_size=6)


@given(
    a=st.tuples(names, st.integers(0, 2**63), st.text(max_size=5)),
    b=st.tuples(names, st.integers(0, 2**63), st.text(max_size=5)),
)
@settings(max_examples=300, deadline=None)
def test_key_bytes_order_like_metric_then_start(
    a: tuple[str, int, str], b: tuple[str, int, str]
) -> None:
    ka, kb = encode_key(*a), encode_key(*b)
    assert decode_key(ka) == a
    if a[0] == b[0] and a[1] != b[1]:
        assert (ka < kb) == (a[1] < b[1])
    if a[0] != b[0]:
        # all keys of one metric are contiguous: order decided by the metric alone
        assert (ka < kb) == (a[0].encode() + b"\x00" < b[0].encode() + b"\x00")


def test_metric_names_with_nul_are_rejected() -> None:
    with pytest.raises(ValueError):
        encode_key("bad\x00name", 0, "k")


def test_range_is_half_open_by_start_and_ordered(store: AggregateStore) -> None:
    store.put_many(window("m", s * MIN, key) for s in range(10) for key in ("b", "a"))
    store.put_many([window("m2", 3 * MIN), window("l", 3 * MIN)])  # neighbours in key order
    got = [(w.start_ms, w.key) for w in store.range("m", 2 * MIN, 5 * MIN)]
    assert got == [(s * MIN, k) for s in (2, 3, 4) for k in ("a", "b")]
    assert list(store.range("m", 5 * MIN, 5 * MIN)) == []
    assert [w.metric for w in store.range("m2", 0, 100 * MIN)] == ["m2"]


def test_later_write_replaces_open_window(store: AggregateStore) -> None:
    store.put_many([WindowAggregate("m", "k", 0, MIN, {"x.sum": 1}, final=False)])
    store.put_many([WindowAggregate("m", "k", 0, MIN, {"x.sum": 5}, final=True)])
    [only] = list(store.range("m", 0, MIN))
    assert only.aggregates == {"x.sum": 5}
    assert only.final is True


def test_delete_before_and_retention(store: AggregateStore) -> None:
    store.put_many(window(metric, s * MIN) for metric in ("a", "b") for s in range(20))
    assert store.delete_before(5 * MIN) == 10
    assert min(w.start_ms for w in store.range("a", 0, 100 * MIN)) == 5 * MIN
    assert store.apply_retention(25 * MIN) == 20
    assert [w.start_ms // MIN for w in store.range("b", 0, 100 * MIN)] == list(range(15, 20))
    assert store.metrics() == ["a", "b"]
    store.delete_before(100 * MIN)
    assert store.metrics() == []


@given(
    data=st.lists(
        st.tuples(st.sampled_from(["m", "m1", "n"]), st.integers(0, 50), st.sampled_from("xyz")),
        max_size=60,
    ),
    lo=st.integers(0, 55),
    span=st.integers(1, 30),
)
@settings(max_examples=60, deadline=None)
def test_rocks_matches_memory_on_random_data(
    tmp_path_factory: pytest.TempPathFactory,
    data: list[tuple[str, int, str]],
    lo: int,
    span: int,
) -> None:
    rocks = RocksAggregateStore(tmp_path_factory.mktemp("agg") / "db")
    memory = InMemoryAggregateStore()
    records = [window(m, s * MIN, k, float(i)) for i, (m, s, k) in enumerate(data)]
    for target in (rocks, memory):
        target.put_many(records)
    for metric in ("m", "m1", "n"):
        expected = list(memory.range(metric, lo * MIN, (lo + span) * MIN))
        assert list(rocks.range(metric, lo * MIN, (lo + span) * MIN)) == expected
    assert rocks.metrics() == memory.metrics()
    rocks.close()
