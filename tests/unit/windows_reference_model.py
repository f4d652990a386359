"""Brute-force reference model of the window semantics, for the property tests.

Keeps every event of every live window and recomputes aggregates from scratch; finds windows by
scanning all candidate starts and all windows; no expiry index. Same rules as the manager:
lateness per event against the watermark before it, emission at batch end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tables.windows.spec import WindowSpec
from tables.windows.types import EmitMode, Event, LatePolicy, WindowKind

NEVER = 2**62


@dataclass
class RefWindow:
    start: int
    end: int
    events: list[tuple[int, int, Any]] = field(default_factory=list)  # (ts, ordinal, payload)
    revision: int = 0
    final_emitted: bool = False
    dirty: bool = False


def _field(payload: Any, path: str) -> Any:
    value = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _numbers(values: list[Any]) -> list[Any]:
    return [v for v in values if type(v) in (int, float)]


def aggregate(spec: WindowSpec, events: list[tuple[int, int, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path, kinds in spec.aggregate:
        present = [(ts, o, _field(p, path)) for ts, o, p in events]
        present = [e for e in present if e[2] is not None]
        values = [e[2] for e in present]
        nums = _numbers(values)
        for kind in kinds:
            k = kind.value
            if k == "count":
                r: Any = len(events)
            elif k == "sum":
                r = sum(nums)
            elif k == "min":
                r = min(nums) if nums else None
            elif k == "max":
                r = max(nums) if nums else None
            elif k == "mean":
                r = sum(nums) / len(nums) if nums else None
            elif k == "first":
                r = min(present, key=lambda e: (e[0], e[1]))[2] if present else None
            elif k == "last":
                r = max(present, key=lambda e: (e[0], e[1]))[2] if present else None
            else:  # distinct: exact here; the test allows the HLL error
                r = len({repr(v) for v in values})
            out.setdefault(path, {})[k] = r
    return out


class ReferenceModel:
    def __init__(self, spec: WindowSpec) -> None:
        self.spec = spec
        self.watermark = -(2**62)
        self.max_ts = -(2**62)
        self.ordinal = 0
        self.windows: dict[tuple[Any, ...], list[RefWindow]] = {}
        self.key_counts: dict[tuple[Any, ...], int] = {}
        self.retain = spec.allowed_lateness if spec.late is LatePolicy.UPDATE else 0

    def _candidate_windows(self, ts: int) -> list[tuple[int, int]]:
        size, step = self.spec.size, self.spec.step
        lo = (ts - size) // step * step
        return [(s, s + size) for s in range(lo, ts + 1, step) if s <= ts < s + size]

    def _late(self, close: int) -> str:
        """'' when the window takes the event, else 'late'."""
        if close > self.watermark:
            return ""
        if self.spec.late is LatePolicy.UPDATE and close + self.retain > self.watermark:
            return ""
        return "late"

    def process_batch(self, events: list[Event]) -> dict[str, Any]:
        spec = self.spec
        late: list[tuple[Any, int, Any]] = []
        dropped = 0
        for event in events:
            key = tuple(_field(event.value, p) for p in spec.group_by)
            wins = self.windows.setdefault(key, [])
            item = (event.timestamp, self.ordinal, event.value)
            missed = False
            if spec.kind in (WindowKind.TUMBLING, WindowKind.SLIDING):
                for s, e in self._candidate_windows(event.timestamp):
                    if self._late(e + spec.grace):
                        missed = True
                        continue
                    found = [w for w in wins if w.start == s]
                    w = found[0] if found else RefWindow(s, e)
                    if not found:
                        wins.append(w)
                    w.events.append(item)
                    w.dirty = True
            elif spec.kind is WindowKind.SESSION:
                ts, gap = event.timestamp, spec.gap
                live = [w for w in wins if w.end + spec.grace + self.retain > self.watermark]
                touching = [w for w in live if w.start < ts + gap and ts < w.end]
                start = min([ts] + [w.start for w in touching])
                end = max([ts + gap] + [w.end for w in touching])
                if self._late(end + spec.grace):
                    missed = True
                else:
                    merged = RefWindow(start, end)
                    for w in touching:
                        wins.remove(w)
                        merged.events.extend(w.events)
                        merged.revision = max(merged.revision, w.revision)
                    merged.events.append(item)
                    merged.dirty = True
                    wins.append(merged)
            else:
                n = self.key_counts.get(key, 0)
                self.key_counts[key] = n + 1
                if spec.kind is WindowKind.GLOBAL:
                    spans = [(0, NEVER)]
                else:
                    spans = [
                        (s, s + spec.size)
                        for s in range(0, n + 1, spec.step)
                        if s <= n < s + spec.size
                    ]
                for s, e in spans:
                    found = [w for w in wins if w.start == s]
                    w = found[0] if found else RefWindow(s, e)
                    if not found:
                        wins.append(w)
                    w.events.append(item)
                    w.dirty = True
            if missed:
                if spec.late is LatePolicy.SIDE_OUTPUT:
                    late.append((list(key), event.timestamp, event.value))
                else:
                    dropped += 1
            self.ordinal += 1
            if event.timestamp > self.max_ts:
                self.max_ts = event.timestamp
                self.watermark = max(self.watermark, self.max_ts - spec.max_out_of_orderness)
        return {"emitted": self._settle(), "late": late, "dropped": dropped}

    def _settle(self) -> list[tuple[Any, ...]]:
        spec = self.spec
        emitted = []
        for key, wins in self.windows.items():
            for w in list(wins):
                if spec.kind in (WindowKind.COUNT, WindowKind.GLOBAL):
                    closed = w.end <= self.key_counts.get(key, 0)
                    purge = closed
                else:
                    closed = w.end + spec.grace <= self.watermark
                    purge = w.end + spec.grace + self.retain <= self.watermark
                if closed:
                    if w.dirty or not w.final_emitted:
                        emitted.append(self._record(key, w, True))
                    w.final_emitted = True
                elif w.dirty and spec.emit is EmitMode.ON_UPDATE:
                    emitted.append(self._record(key, w, False))
                w.dirty = False
                if purge:
                    wins.remove(w)
        return emitted

    def _record(self, key: tuple[Any, ...], w: RefWindow, final: bool) -> tuple[Any, ...]:
        if self.spec.kind in (WindowKind.COUNT, WindowKind.GLOBAL):
            start = min(e[0] for e in w.events)
            end = max(e[0] for e in w.events)
        else:
            start, end = w.start, w.end
        record = (list(key), start, end, final, w.revision, aggregate(self.spec, w.events))
        w.revision += 1
        return record

    def live_window_count(self) -> int:
        return sum(len(w) for w in self.windows.values())
