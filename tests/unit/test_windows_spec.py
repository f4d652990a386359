"""Window spec parsing: the documented example and errors that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from tables.durations import parse_duration_ms
from tables.windows.aggregations import AggregationKind
from tables.windows.spec import WindowSpecError, parse_window_spec
from tables.windows.types import EmitMode, LatePolicy, WindowKind

EXAMPLE: dict[str, Any] = {
    "name": "clicks_5m",
    "type": "sliding",
    "size": "5m",
    "step": "1m",
    "grace": "30s",
    "late": "update",
    "allowed_lateness": "1m",
    "emit": "on_close",
    "group_by": ["source"],
    "aggregate": {"clicks": ["count"], "amount": ["sum"]},
    "max_out_of_orderness": "5s",
}


def test_example_spec_parses() -> None:
    spec = parse_window_spec(EXAMPLE)
    assert spec.kind is WindowKind.SLIDING
    assert (spec.size, spec.step, spec.grace) == (300_000, 60_000, 30_000)
    assert spec.late is LatePolicy.UPDATE and spec.allowed_lateness == 60_000
    assert spec.emit is EmitMode.ON_CLOSE
    assert spec.group_by == ("source",)
    assert spec.aggregate == (
        ("clicks", (AggregationKind.COUNT,)),
        ("amount", (AggregationKind.SUM,)),
    )
    assert spec.max_out_of_orderness == 5000
    assert spec.output_topic == "datanexus.windows.clicks_5m"


def test_brief_example_with_side_output_parses() -> None:
    spec = parse_window_spec({**EXAMPLE, "late": "side_output"})
    assert spec.late is LatePolicy.SIDE_OUTPUT and spec.allowed_lateness == 60_000


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("30s", 30_000), ("5m", 300_000), ("1h30m", 5_400_000), ("1d", 86_400_000)],
)
def test_durations(text: str, ms: int) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"type": "hourly"}, "type"),
        ({"step": "10m"}, "step"),
        ({"size": "5 minutes"}, "size"),
        ({"size": "0s"}, "size"),
        ({"grace": "-3s"}, "grace"),
        ({"late": "ignore"}, "late"),
        ({"emit": "sometimes"}, "emit"),
        ({"aggregate": {"amount": ["median"]}}, "aggregate"),
        ({"aggregate": {"*": ["sum"]}}, "aggregate"),
        ({"aggregate": {}}, "aggregate"),
        ({"gap": "10s"}, "gap"),
        ({"name": "bad name!"}, "name"),
        ({"group_by": "a..b"}, "group_by"),
        ({"allowed_lateness": "1 hour"}, "allowed_lateness"),
        ({"max_out_of_orderness": "soon"}, "max_out_of_orderness"),
    ],
)
def test_invalid_specs_name_the_field(change: dict[str, Any], field: str) -> None:
    with pytest.raises(WindowSpecError) as info:
        parse_window_spec({**EXAMPLE, **change})
    assert info.value.field == field
    assert repr(field) in str(info.value)


@pytest.mark.parametrize("gap", ["0s", -5, "-1m"])
def test_session_gap_must_be_positive(gap: object) -> None:
    raw = {"name": "s", "type": "session", "gap": gap, "aggregate": {"*": ["count"]}}
    with pytest.raises(WindowSpecError, match="'gap'"):
        parse_window_spec(raw)


def test_count_and_global_specs() -> None:
    count = parse_window_spec(
        {"name": "c", "type": "count", "size": 100, "aggregate": {"*": "count"}}
    )
    assert (count.size, count.step) == (100, 100)
    with pytest.raises(WindowSpecError, match="'size'"):
        parse_window_spec({"name": "c", "type": "count", "size": "5m", "aggregate": {"*": "count"}})
    with pytest.raises(WindowSpecError, match="'emit'"):
        parse_window_spec({"name": "g", "type": "global", "aggregate": {"*": ["count"]}})
    glob = parse_window_spec(
        {"name": "g", "type": "global", "emit": "on_update", "aggregate": {"user.id": ["distinct"]}}
    )
    assert glob.aggregate == (("user.id", (AggregationKind.DISTINCT,)),)


def test_missing_required_fields() -> None:
    with pytest.raises(WindowSpecError, match="'type'"):
        parse_window_spec({"name": "x", "aggregate": {"*": ["count"]}})
    with pytest.raises(WindowSpecError, match="'step'"):
        parse_window_spec(
            {"name": "x", "type": "sliding", "size": "5m", "aggregate": {"*": "count"}}
        )
