"""Dedupe configuration: defaults, limits and JSON parsing with field-naming errors."""

from __future__ import annotations

import pytest

from tables.dedupe import (
    DedupeConfig,
    DedupeConfigError,
    DedupeConfigRegistry,
    DedupeMode,
    LatePolicy,
    WindowClock,
    parse_dedupe_config,
)
from tables.dedupe.config import DEFAULT_LATE_HORIZON_MS, DEFAULT_WINDOW_MS, MAX_WINDOW_MS


def test_defaults_are_five_minute_receive_time_window_accepting_late() -> None:
    config = DedupeConfig()
    assert config.window_ms == DEFAULT_WINDOW_MS == 300_000
    assert config.clock is WindowClock.RECEIVE_TIME
    assert config.late_policy is LatePolicy.ACCEPT
    assert config.late_horizon_ms == DEFAULT_LATE_HORIZON_MS == 86_400_000


def test_window_of_one_hour_is_allowed_and_longer_is_rejected_naming_the_field() -> None:
    assert parse_dedupe_config({"window_ms": MAX_WINDOW_MS}).window_ms == MAX_WINDOW_MS
    with pytest.raises(ValueError, match=r"window_ms: must be <= 3600000") as info:
        parse_dedupe_config({"window_ms": MAX_WINDOW_MS + 1})
    assert isinstance(info.value, DedupeConfigError)
    assert info.value.field_name == "window_ms"
    with pytest.raises(DedupeConfigError, match="window_ms"):
        DedupeConfig(window_ms=2 * MAX_WINDOW_MS)


def test_window_in_seconds_alias() -> None:
    assert parse_dedupe_config({"window_s": 90}).window_ms == 90_000
    with pytest.raises(DedupeConfigError, match="window_ms"):
        parse_dedupe_config({"window_s": 3601})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"mode": "approximate"}, "mode"),
        ({"late_policy": "ignore"}, "late_policy"),
        ({"clock": "wall"}, "clock"),
        ({"window_ms": "300000"}, "window_ms"),
        ({"window_ms": True}, "window_ms"),
        ({"bloom_fp_rate": 0}, "bloom_fp_rate"),
        ({"bloom_fp_rate": 0.7}, "bloom_fp_rate"),
        ({"bloom_capacity": 0}, "bloom_capacity"),
        ({"ignore_fields": "ts"}, "ignore_fields"),
        ({"ignore_fields": ["meta..ts"]}, "ignore_fields"),
        ({"windw_ms": 1000}, "windw_ms"),
        ({"late_horizon_ms": 1000}, "late_horizon_ms"),
        ({"mode": "bloom", "clock": "event_time"}, "clock"),
    ],
)
def test_invalid_values_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(DedupeConfigError) as info:
        parse_dedupe_config(body)
    assert info.value.field_name == field
    assert str(info.value).startswith(f"{field}: ")


def test_parse_full_body_and_round_trip_through_json() -> None:
    body = {
        "mode": "fuzzy",
        "window_ms": 60_000,
        "clock": "event_time",
        "late_policy": "dlq",
        "ignore_fields": ["ts", "meta.trace_id"],
    }
    config = parse_dedupe_config(body)
    assert config.mode is DedupeMode.FUZZY
    assert config.late_policy is LatePolicy.DLQ
    assert config.ignore_fields == ("ts", "meta.trace_id")
    assert parse_dedupe_config(config.to_json()) == config


def test_registry_falls_back_to_default_and_updates_atomically() -> None:
    registry = DedupeConfigRegistry()
    registry.update_from_json(
        {"default": {"mode": "bloom"}, "sources": {"orders": {"mode": "exact", "window_s": 60}}}
    )
    assert registry.for_source("unknown").mode is DedupeMode.BLOOM
    assert registry.for_source(None).mode is DedupeMode.BLOOM
    orders = registry.for_source("orders")
    assert (orders.mode, orders.window_ms) == (DedupeMode.EXACT, 60_000)

    before = registry.to_json()
    with pytest.raises(DedupeConfigError) as info:
        registry.update_from_json(
            {"default": {"mode": "off"}, "sources": {"clicks": {"window_ms": 10**9}}}
        )
    assert info.value.field_name == "sources.clicks.window_ms"
    assert registry.to_json() == before


def test_source_update_keeps_its_other_fields() -> None:
    registry = DedupeConfigRegistry()
    registry.update_from_json({"sources": {"orders": {"mode": "fuzzy", "ignore_fields": ["ts"]}}})
    registry.update_from_json({"sources": {"orders": {"late_policy": "flag"}}})
    orders = registry.for_source("orders")
    assert orders.ignore_fields == ("ts",)
    assert orders.late_policy is LatePolicy.FLAG
