"""WindowStateManager behaviour through its public API with a dict-backed store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from tables.windows.manager import WindowStateManager
from tables.windows.spec import parse_window_spec
from tables.windows.types import (
    Assignment,
    Clock,
    Event,
    LateReason,
    Window,
    WindowKind,
    WindowType,
)


class AuditedStore(dict[str, Any]):
    """Counts writes per key and refuses key scans while a batch runs."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: Counter[str] = Counter()
        self.scans_allowed = True

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes[key] += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.writes[key] += 1
        super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        if not self.scans_allowed:
            raise AssertionError("the manager scanned the store")
        return super().__iter__()


def _spec(**extra: Any) -> Any:
    raw = {
        "name": "clicks",
        "group_by": ["user.id"],
        "aggregate": {"*": ["count"], "amount": ["sum"]},
        **(extra if "type" in extra else {"type": "tumbling", "size": 1000, **extra}),
    }
    return parse_window_spec(raw)


def _ev(ts: int, user: str, amount: int = 1) -> Event:
    return Event(ts, {"user": {"id": user}, "amount": amount})


@pytest.mark.parametrize(
    "window",
    [
        {"type": "tumbling", "size": 1000},
        {"type": "sliding", "size": 1000, "step": 250},
        {"type": "session", "gap": 300},
    ],
)
def test_each_key_written_at_most_once_per_batch_without_scans(window: dict[str, Any]) -> None:
    store = AuditedStore()
    store.scans_allowed = False
    manager = WindowStateManager(_spec(**window, grace=100), store)
    closed = 0
    for batch in range(40):
        store.writes.clear()
        events = [_ev(batch * 1000 + i * 7, f"u{i % 13}") for i in range(70)]
        closed += len(manager.process_batch(3, events).closed)
        assert store.writes and max(store.writes.values()) == 1
    assert closed > 0
    store.writes.clear()
    assert manager.process_batch(3, []).closed == [] and not store.writes


def test_on_update_emits_revisions_then_final() -> None:
    manager = WindowStateManager(_spec(emit="on_update"), {})
    first = manager.process_batch(0, [_ev(10, "a"), _ev(20, "a", 5)])
    assert [(r.aggregates, r.final, r.revision) for r in first.updated] == [
        ({"*": {"count": 2}, "amount": {"sum": 6}}, False, 0)
    ]
    second = manager.process_batch(0, [_ev(30, "a", 2)])
    assert [(r.aggregates["*"]["count"], r.revision) for r in second.updated] == [(3, 1)]
    third = manager.process_batch(0, [_ev(1000, "b")])
    (final,) = third.closed
    assert (final.key, final.start, final.end, final.final, final.revision) == (
        ["a"],
        0,
        1000,
        True,
        2,
    )
    assert final.aggregates == {"*": {"count": 3}, "amount": {"sum": 8}}


def test_side_output_names_reason_and_key() -> None:
    manager = WindowStateManager(_spec(late="side_output", grace=100), {})
    manager.process_batch(0, [_ev(10, "a"), _ev(1200, "a")])
    result = manager.process_batch(0, [_ev(999, "z", 7)])
    (late,) = result.late
    assert (late.key, late.reason, late.watermark) == (["z"], LateReason.WINDOW_CLOSED, 1200)
    assert late.to_dict()["value"] == {"user": {"id": "z"}, "amount": 7}
    assert result.closed == [] and result.dropped == 0


def test_update_policy_re_emits_within_allowed_lateness_then_drops() -> None:
    manager = WindowStateManager(_spec(late="update", allowed_lateness=500), {})
    first = manager.process_batch(0, [_ev(10, "a"), _ev(1100, "a")])
    assert [(r.start, r.aggregates["*"]["count"], r.revision) for r in first.closed] == [(0, 1, 0)]
    fix = manager.process_batch(0, [_ev(20, "a", 4)])
    assert [(r.start, r.aggregates, r.final, r.revision) for r in fix.closed] == [
        (0, {"*": {"count": 2}, "amount": {"sum": 5}}, True, 1)
    ]
    assert fix.late_updates == 1
    manager.process_batch(0, [_ev(1600, "a")])  # watermark passes end + allowed lateness
    too_late = manager.process_batch(0, [_ev(30, "a")])
    assert too_late.dropped == 1 and too_late.closed == []


def test_partitions_keep_their_own_watermarks() -> None:
    manager = WindowStateManager(_spec(), {})
    manager.process_batch(0, [_ev(5000, "a")])
    result = manager.process_batch(1, [_ev(10, "a")])
    assert result.dropped == 0 and manager.watermark(0) == 5000 and manager.watermark(1) == 10


def test_session_bridging_event_merges_aggregates() -> None:
    manager = WindowStateManager(_spec(type="session", gap=100, max_out_of_orderness=200), {})
    manager.process_batch(0, [_ev(0, "a", 1), _ev(150, "a", 2)])  # two sessions
    manager.process_batch(0, [_ev(90, "a", 4)])  # bridges them
    (merged,) = manager.process_batch(0, [_ev(1000, "b")]).closed
    assert (merged.start, merged.end) == (0, 250)
    assert merged.aggregates == {"*": {"count": 3}, "amount": {"sum": 7}}


class DailyWindows(WindowType):
    """The module docstring's example of adding a window type."""

    kind = WindowKind.TUMBLING
    clock = Clock.EVENT_TIME

    def assign(self, position: int, existing: Sequence[Window]) -> Assignment:
        start = position - position % 86_400_000
        return Assignment((Window(start, start + 86_400_000),))


def test_a_new_window_type_needs_only_the_interface() -> None:
    day = 86_400_000
    manager = WindowStateManager(_spec(late="side_output"), {}, window_type=DailyWindows())
    first = manager.process_batch(0, [_ev(5, "a", 2), _ev(day - 1, "a", 3), _ev(day + 5, "a")])
    result = manager.process_batch(0, [_ev(2 * day, "b"), _ev(7, "a")])
    assert [(r.start, r.end, r.aggregates["amount"]["sum"]) for r in first.closed] == [(0, day, 5)]
    assert [(r.start, r.end, r.aggregates["amount"]["sum"]) for r in result.closed] == [
        (day, 2 * day, 1)
    ]
    assert [r.event.timestamp for r in result.late] == [7]


def test_replayed_offsets_are_not_counted_twice() -> None:
    store: dict[str, Any] = {}
    events = [Event(i * 100, {"user": {"id": "a"}, "amount": 1}, offset=i) for i in range(9)]
    WindowStateManager(_spec(), store).process_batch(0, events[:6])
    restarted = WindowStateManager(_spec(), store)  # crash before the offset commit: replay
    replay = restarted.process_batch(0, events[3:])
    assert replay.replayed == 3
    (window,) = restarted.process_batch(0, [Event(1000, {"user": {"id": "a"}}, offset=9)]).closed
    assert window.aggregates == {"*": {"count": 9}, "amount": {"sum": 9}}
    assert restarted.process_batch(0, events[:2]).store_writes == 0
