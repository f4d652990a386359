"""One window engine for every window type: pure window math, aggregations, a declarative spec
and :class:`WindowStateManager`, which keeps window state in a key-value store (a Faust table)."""

from tables.windows.aggregations import Aggregation, AggregationKind
from tables.windows.kinds import (
    CountWindows,
    GlobalWindows,
    SessionWindows,
    SlidingWindows,
    TumblingWindows,
)
from tables.windows.manager import WindowStateManager
from tables.windows.results import BatchResult, LateRecord, WindowResult
from tables.windows.spec import WindowSpec, WindowSpecError, parse_window_spec
from tables.windows.types import (
    Assignment,
    Clock,
    EmitMode,
    Event,
    LatePolicy,
    LateReason,
    Window,
    WindowKind,
    WindowType,
)

__all__ = [
    "Aggregation",
    "AggregationKind",
    "Assignment",
    "BatchResult",
    "Clock",
    "CountWindows",
    "EmitMode",
    "Event",
    "GlobalWindows",
    "LatePolicy",
    "LateReason",
    "LateRecord",
    "SessionWindows",
    "SlidingWindows",
    "TumblingWindows",
    "Window",
    "WindowKind",
    "WindowResult",
    "WindowSpec",
    "WindowSpecError",
    "WindowStateManager",
    "WindowType",
    "parse_window_spec",
]
