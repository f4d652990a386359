"""Property tests: the manager against the brute-force reference model, for every window type
and late policy, on random out-of-order streams split into random batches, with restarts
(store round-tripped through JSON, new manager) at random batch boundaries."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.windows.manager import WindowStateManager
from tables.windows.results import BatchResult
from tables.windows.spec import WindowSpec, parse_window_spec
from tables.windows.types import Event
from tests.unit.windows_reference_model import ReferenceModel

AGGREGATE = {
    "*": ["count"],
    "v": ["sum", "min", "max", "mean", "first", "last", "distinct"],
    "m.x": ["sum", "last"],
}
POLICIES = ["drop", "side_output", "update"]


@st.composite
def specs(draw: st.DrawFn, kind: str) -> WindowSpec:
    raw: dict[str, Any] = {"name": "t", "type": kind, "group_by": ["k"], "aggregate": AGGREGATE}
    if kind == "tumbling":
        raw["size"] = draw(st.sampled_from([5, 10, 20]))
    elif kind == "sliding":
        raw["size"] = draw(st.sampled_from([10, 20]))
        raw["step"] = draw(st.sampled_from([3, 5, 10]))
    elif kind == "session":
        raw["gap"] = draw(st.sampled_from([3, 8, 15]))
    elif kind == "count":
        raw["size"] = draw(st.integers(1, 5))
        raw["step"] = draw(st.integers(1, raw["size"]))
    if kind == "global":
        raw["emit"] = "on_update"
    else:
        raw["emit"] = draw(st.sampled_from(["on_update", "on_close"]))
    raw["late"] = draw(st.sampled_from(POLICIES))
    raw["allowed_lateness"] = draw(st.sampled_from([0, 10, 25]))  # only acts under "update"
    raw["grace"] = draw(st.sampled_from([0, 5]))
    raw["max_out_of_orderness"] = draw(st.sampled_from([0, 5, 15]))
    return parse_window_spec(raw)


@st.composite
def batched_streams(draw: st.DrawFn) -> list[tuple[list[Event], bool]]:
    raw = draw(
        st.lists(
            st.tuples(
                st.integers(0, 8),  # clock advance
                st.integers(-45, 0),  # out-of-orderness, often beyond grace
                st.sampled_from(["a", "b", "c"]),
                st.one_of(st.none(), st.integers(-5, 5), st.sampled_from(["x", "y"])),
                st.booleans(),  # nested field present
            ),
            max_size=70,
        )
    )
    events, clock = [], 1000
    for advance, jitter, key, v, nested in raw:
        clock += advance
        payload: dict[str, Any] = {"k": key}
        if v is not None:
            payload["v"] = v
        if nested:
            payload["m"] = {"x": advance}
        events.append(Event(clock + jitter, payload))
    batches: list[tuple[list[Event], bool]] = []
    i = 0
    while i < len(events):
        size = draw(st.integers(1, 12))
        batches.append((events[i : i + size], draw(st.booleans())))
        i += size
    return batches


def _engine_records(result: BatchResult) -> list[tuple[Any, ...]]:
    return [
        (r.key, r.start, r.end, r.final, r.revision, r.aggregates)
        for r in result.updated + result.closed
    ]


def _split_distinct(records: list[tuple[Any, ...]]) -> tuple[list[str], list[int]]:
    exact, distinct = [], []
    for rec in records:
        aggs = orjson.loads(orjson.dumps(rec[5]))
        distinct.append(aggs["v"].pop("distinct"))
        exact.append(orjson.dumps([*rec[:5], aggs], option=orjson.OPT_SORT_KEYS).decode())
    order = sorted(range(len(exact)), key=exact.__getitem__)
    return [exact[i] for i in order], [distinct[i] for i in order]


def check_against_reference(spec: WindowSpec, batches: list[tuple[list[Event], bool]]) -> None:
    store: dict[str, Any] = {}
    manager = WindowStateManager(spec, store)
    model = ReferenceModel(spec)
    for events, restart in batches:
        if restart:
            store = orjson.loads(orjson.dumps(store))
            manager = WindowStateManager(spec, store)
        got = manager.process_batch(0, events)
        want = model.process_batch(events)
        got_exact, got_distinct = _split_distinct(_engine_records(got))
        want_exact, want_distinct = _split_distinct(want["emitted"])
        assert got_exact == want_exact
        for g, w in zip(got_distinct, want_distinct, strict=True):
            assert abs(g - w) <= 1
        assert [(r.key, r.event.timestamp, r.event.value) for r in got.late] == want["late"]
        assert got.dropped == want["dropped"]
        assert manager.stored_window_count(0) == model.live_window_count()
        assert manager.watermark(0) == model.watermark


SETTINGS = settings(max_examples=200, deadline=None)


@SETTINGS
@given(st.data())
def test_tumbling_matches_reference(data: st.DataObject) -> None:
    check_against_reference(data.draw(specs("tumbling")), data.draw(batched_streams()))


@SETTINGS
@given(st.data())
def test_sliding_matches_reference(data: st.DataObject) -> None:
    check_against_reference(data.draw(specs("sliding")), data.draw(batched_streams()))


@SETTINGS
@given(st.data())
def test_session_matches_reference(data: st.DataObject) -> None:
    check_against_reference(data.draw(specs("session")), data.draw(batched_streams()))


@SETTINGS
@given(st.data())
def test_count_matches_reference(data: st.DataObject) -> None:
    check_against_reference(data.draw(specs("count")), data.draw(batched_streams()))


@SETTINGS
@given(st.data())
def test_global_matches_reference(data: st.DataObject) -> None:
    check_against_reference(data.draw(specs("global")), data.draw(batched_streams()))


@settings(max_examples=100, deadline=None)
@given(st.data(), st.sampled_from(["tumbling", "sliding", "session"]))
def test_every_policy_sees_late_events(data: st.DataObject, kind: str) -> None:
    """Each policy on a stream that surely has late events (guards against vacuous runs)."""
    spec = data.draw(specs(kind))
    early = [Event(1000 + i, {"k": "a", "v": i}) for i in range(0, 400, 7)]
    late = [Event(1000, {"k": "b", "v": 99}), Event(1001, {"k": "c", "v": 98})]
    batches = [(early, False), (late, data.draw(st.booleans()))]
    check_against_reference(spec, batches)
    manager = WindowStateManager(spec, {})
    manager.process_batch(0, early)
    result = manager.process_batch(0, late)
    if spec.late.value == "side_output":
        assert len(result.late) == 2
    elif spec.late.value == "drop" or spec.allowed_lateness < 300:
        assert result.dropped == 2
