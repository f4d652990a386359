"""Window math of the built-in window types, against direct definitions."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tables.windows.kinds import (
    CountWindows,
    GlobalWindows,
    SessionWindows,
    SlidingWindows,
    TumblingWindows,
)
from tables.windows.types import NEVER, Window


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-300, 300), min_size=1, max_size=30),
    st.integers(1, 50),
    st.integers(1, 50),
)
def test_sliding_windows_are_exactly_the_aligned_windows_containing_the_event(
    positions: list[int], size: int, step: int
) -> None:
    step = min(step, size)
    windows = SlidingWindows(size, step)  # one instance: its assignment cache is exercised
    for ts in sorted(positions) + positions:
        _check_sliding(windows, ts, size, step)


def _check_sliding(windows: SlidingWindows, ts: int, size: int, step: int) -> None:
    got = windows.assign(ts, ()).windows
    want = tuple(
        Window(s, s + size)
        for s in range(ts - size - step, ts + 1)
        if s % step == 0 and ts < s + size
    )
    assert got == want


def test_tumbling_and_closing() -> None:
    windows = TumblingWindows(1000)
    assert windows.assign(1999, ()).windows == (Window(1000, 2000),)
    assert windows.assign(-1, ()).windows == (Window(-1000, 0),)
    assert not windows.is_closed(Window(1000, 2000), watermark=2499, grace=500)
    assert windows.is_closed(Window(1000, 2000), watermark=2500, grace=500)


def test_session_merges_windows_an_event_bridges() -> None:
    sessions = SessionWindows(gap=10)
    existing = [Window(0, 15), Window(20, 30), Window(50, 60)]
    bridged = sessions.assign(12, existing)
    assert bridged.windows == (Window(0, 30),)
    assert bridged.replaced == (Window(0, 15), Window(20, 30))
    alone = sessions.assign(35, existing)
    assert alone.windows == (Window(35, 45),) and alone.replaced == ()
    # touching the end is not overlapping: [5, 15) ends where [15, 25) starts
    assert sessions.assign(15, [Window(5, 15)]).replaced == ()


def test_count_windows_by_key_ordinal() -> None:
    hopping = CountWindows(size=3, step=2)
    assert hopping.assign(0, ()).windows == (Window(0, 3),)
    assert hopping.assign(2, ()).windows == (Window(0, 3), Window(2, 5))
    assert hopping.assign(3, ()).windows == (Window(2, 5),)
    assert hopping.is_closed(Window(0, 3), watermark=3, grace=1000)
    assert CountWindows(4).assign(5, ()).windows == (Window(4, 8),)


def test_global_window_never_closes() -> None:
    glob = GlobalWindows()
    assert glob.assign(123, ()).windows == (Window(0, NEVER),)
    assert not glob.is_closed(Window(0, NEVER), watermark=NEVER - 1, grace=0)
