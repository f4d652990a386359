"""The built-in window types: tumbling, sliding (hopping), session, count and global."""

from __future__ import annotations

from collections.abc import Sequence

from tables.windows.types import NEVER, Assignment, Clock, Window, WindowKind, WindowType


class SlidingWindows(WindowType):
    """Windows of ``size`` starting every ``step`` (hopping); epoch-aligned."""

    kind = WindowKind.SLIDING

    def __init__(self, size: int, step: int) -> None:
        if size <= 0 or step <= 0:
            raise ValueError("size and step must be positive")
        if step > size:
            raise ValueError("step must not exceed size")
        self.size = size
        self.step = step
        # events mostly arrive in order: reuse the last assignment while its windows still fit
        self._last: tuple[int, Assignment] = (-(2**63), Assignment(()))

    def assign(self, position: int, existing: Sequence[Window]) -> Assignment:
        size, step = self.size, self.step
        last_start = position - position % step
        if size % step:  # the window set then depends on position, not only on last_start
            return self._assign(position, last_start)
        cached_start, cached = self._last
        if cached_start == last_start:
            return cached
        assignment = self._assign(position, last_start)
        self._last = (last_start, assignment)
        return assignment

    def _assign(self, position: int, last_start: int) -> Assignment:
        size, step = self.size, self.step
        # epoch-aligned starts whose [start, start + size) contains position, oldest first
        starts = range(last_start, position - size, -step)
        return Assignment(tuple(Window(s, s + size) for s in reversed(starts)))

    def index_bucket_width(self) -> int:
        return self.step


class TumblingWindows(SlidingWindows):
    kind = WindowKind.TUMBLING

    def __init__(self, size: int) -> None:
        super().__init__(size, size)

    def _assign(self, position: int, last_start: int) -> Assignment:
        return Assignment((Window(last_start, last_start + self.size),))


class SessionWindows(WindowType):
    """Activity sessions: a session ends ``gap`` after its last event.

    An event at ``t`` claims ``[t, t + gap)``; every live window of the key that overlaps it is
    merged into one window (an out-of-order event can bridge two sessions).
    """

    kind = WindowKind.SESSION
    merges = True

    def __init__(self, gap: int) -> None:
        if gap <= 0:
            raise ValueError("gap must be positive")
        self.gap = gap

    def assign(self, position: int, existing: Sequence[Window]) -> Assignment:
        start, end = position, position + self.gap
        replaced = tuple(w for w in existing if w.start < position + self.gap and position < w.end)
        for w in replaced:
            start = min(start, w.start)
            end = max(end, w.end)
        return Assignment((Window(start, end),), replaced)

    def index_bucket_width(self) -> int:
        return max(self.gap, 1000)


class CountWindows(WindowType):
    """Windows of ``size`` consecutive events of a key, a new one every ``step`` events.

    Positions are key ordinals; a window closes when the key has seen ``end`` events. Count
    windows never close on the watermark, so no event is ever late for them.
    """

    kind = WindowKind.COUNT
    clock = Clock.KEY_ORDINAL

    def __init__(self, size: int, step: int | None = None) -> None:
        step = size if step is None else step
        if size <= 0 or step <= 0:
            raise ValueError("size and step must be positive")
        if step > size:
            raise ValueError("step must not exceed size")
        self.size = size
        self.step = step

    def assign(self, position: int, existing: Sequence[Window]) -> Assignment:
        size, step = self.size, self.step
        last_start = position - position % step
        starts = range(last_start, max(-1, position - size), -step)
        return Assignment(tuple(Window(s, s + size) for s in reversed(starts)))

    def close_time(self, window: Window, grace: int) -> int:
        return window.end


class GlobalWindows(WindowType):
    """One window per key that never closes: use with ``emit: on_update``."""

    kind = WindowKind.GLOBAL
    clock = Clock.KEY_ORDINAL
    _WINDOW = Window(0, NEVER)

    def assign(self, position: int, existing: Sequence[Window]) -> Assignment:
        return Assignment((self._WINDOW,))

    def close_time(self, window: Window, grace: int) -> int:
        return NEVER
