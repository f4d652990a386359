"""The declarative window spec used by pipelines, validated with errors naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tables.durations import parse_duration_ms
from tables.windows.aggregations import AggregationKind
from tables.windows.kinds import (
    CountWindows,
    GlobalWindows,
    SessionWindows,
    SlidingWindows,
    TumblingWindows,
)
from tables.windows.types import EmitMode, LatePolicy, WindowKind, WindowType

#: Field name meaning "no field": only ``count`` may use it.
ALL_FIELDS = "*"

_NAME = re.compile(r"[A-Za-z0-9_.-]{1,100}")
_PATH = re.compile(r"[^.\s]+(?:\.[^.\s]+)*")
_ALLOWED_BY_KIND: dict[WindowKind, frozenset[str]] = {
    WindowKind.TUMBLING: frozenset({"size"}),
    WindowKind.SLIDING: frozenset({"size", "step"}),
    WindowKind.SESSION: frozenset({"gap"}),
    WindowKind.COUNT: frozenset({"size", "step"}),
    WindowKind.GLOBAL: frozenset(),
}
_COMMON = frozenset(
    {
        "name",
        "type",
        "grace",
        "late",
        "allowed_lateness",
        "emit",
        "group_by",
        "aggregate",
        "max_out_of_orderness",
    }
)


class WindowSpecError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"window spec field {field_name!r}: {message}")
        self.field = field_name


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A validated window spec; durations in ms, count sizes in events.

    ``allowed_lateness`` only acts with ``late: update`` (how long a closed window stays
    updatable); with ``drop``/``side_output`` a closed window is deleted at once. Count and
    global windows never close on the watermark, so no event is late for them.
    """

    name: str
    kind: WindowKind
    size: int = 0
    step: int = 0
    gap: int = 0
    grace: int = 0
    late: LatePolicy = LatePolicy.DROP
    allowed_lateness: int = 0
    emit: EmitMode = EmitMode.ON_CLOSE
    group_by: tuple[str, ...] = ()
    aggregate: tuple[tuple[str, tuple[AggregationKind, ...]], ...] = field(default=())
    max_out_of_orderness: int = 0

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> WindowSpec:
        return parse_window_spec(raw)

    @property
    def output_topic(self) -> str:
        return f"datanexus.windows.{self.name}"

    def window_type(self) -> WindowType:
        if self.kind is WindowKind.TUMBLING:
            return TumblingWindows(self.size)
        if self.kind is WindowKind.SLIDING:
            return SlidingWindows(self.size, self.step)
        if self.kind is WindowKind.SESSION:
            return SessionWindows(self.gap)
        if self.kind is WindowKind.COUNT:
            return CountWindows(self.size, self.step)
        return GlobalWindows()


def _enum(raw: Mapping[str, Any], name: str, enum: Any, default: Any) -> Any:
    if name not in raw:
        return default
    try:
        return enum(raw[name])
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise WindowSpecError(
            name, f"unknown value {raw[name]!r}; expected one of {choices}"
        ) from None


def _duration(raw: Mapping[str, Any], name: str, default: int, positive: bool = False) -> int:
    if name not in raw:
        return default
    try:
        value = parse_duration_ms(raw[name])
    except ValueError as exc:
        raise WindowSpecError(name, str(exc)) from None
    if positive and value <= 0:
        raise WindowSpecError(name, "must be greater than zero")
    return value


def _count(raw: Mapping[str, Any], name: str) -> int:
    value = raw[name]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise WindowSpecError(name, f"count windows need a positive event count, got {value!r}")
    return value


def _path(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not _PATH.fullmatch(value):
        raise WindowSpecError(field_name, f"bad field path {value!r}")
    return value


def _aggregate(raw: Mapping[str, Any]) -> tuple[tuple[str, tuple[AggregationKind, ...]], ...]:
    spec = raw.get("aggregate")
    if not isinstance(spec, Mapping) or not spec:
        raise WindowSpecError("aggregate", "must map payload fields to lists of aggregations")
    out = []
    for path, kinds in spec.items():
        if path != ALL_FIELDS:
            _path("aggregate", path)
        if isinstance(kinds, str):
            kinds = [kinds]
        if not isinstance(kinds, list) or not kinds:
            raise WindowSpecError("aggregate", f"{path!r} needs a list of aggregations")
        parsed = []
        for kind in kinds:
            try:
                parsed.append(AggregationKind(kind))
            except ValueError:
                choices = ", ".join(k.value for k in AggregationKind)
                raise WindowSpecError(
                    "aggregate", f"unknown aggregation {kind!r} for {path!r}; expected {choices}"
                ) from None
        if path == ALL_FIELDS and any(k is not AggregationKind.COUNT for k in parsed):
            raise WindowSpecError("aggregate", "'*' only supports count")
        if len(set(parsed)) != len(parsed):
            raise WindowSpecError("aggregate", f"duplicate aggregation for {path!r}")
        out.append((path, tuple(parsed)))
    return tuple(out)


def parse_window_spec(raw: Mapping[str, Any]) -> WindowSpec:
    if not isinstance(raw, Mapping):
        raise WindowSpecError("<spec>", "must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise WindowSpecError("name", f"need 1-100 chars of [A-Za-z0-9_.-], got {name!r}")
    if "type" not in raw:
        raise WindowSpecError("type", "is required")
    kind: WindowKind = _enum(raw, "type", WindowKind, None)
    allowed = _COMMON | _ALLOWED_BY_KIND[kind]
    for key in raw:
        if key not in allowed:
            raise WindowSpecError(str(key), f"not a field of a {kind.value} window spec")
    size = step = gap = 0
    if kind in (WindowKind.TUMBLING, WindowKind.SLIDING, WindowKind.COUNT):
        if "size" not in raw:
            raise WindowSpecError("size", f"is required for {kind.value} windows")
        if kind is WindowKind.COUNT:
            size = _count(raw, "size")
            step = _count(raw, "step") if "step" in raw else size
        else:
            size = _duration(raw, "size", 0, positive=True)
            if kind is WindowKind.SLIDING and "step" not in raw:
                raise WindowSpecError("step", "is required for sliding windows")
            step = _duration(raw, "step", size, positive=True)
        if step > size:
            raise WindowSpecError("step", f"step ({raw.get('step')}) must not exceed size")
    if kind is WindowKind.SESSION:
        if "gap" not in raw:
            raise WindowSpecError("gap", "is required for session windows")
        gap = _duration(raw, "gap", 0, positive=True)
    late: LatePolicy = _enum(raw, "late", LatePolicy, LatePolicy.DROP)
    emit: EmitMode = _enum(raw, "emit", EmitMode, EmitMode.ON_CLOSE)
    if kind is WindowKind.GLOBAL and emit is EmitMode.ON_CLOSE:
        raise WindowSpecError("emit", "a global window never closes; use 'on_update'")
    allowed_lateness = _duration(raw, "allowed_lateness", 0)
    group_by = raw.get("group_by", [])
    if isinstance(group_by, str):
        group_by = [group_by]
    if not isinstance(group_by, list):
        raise WindowSpecError("group_by", "must be a list of field paths")
    return WindowSpec(
        name=name,
        kind=kind,
        size=size,
        step=step,
        gap=gap,
        grace=_duration(raw, "grace", 0),
        late=late,
        allowed_lateness=allowed_lateness,
        emit=emit,
        group_by=tuple(_path("group_by", p) for p in group_by),
        aggregate=_aggregate(raw),
        max_out_of_orderness=_duration(raw, "max_out_of_orderness", 0),
    )
