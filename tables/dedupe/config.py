"""Per-source de-duplication settings, parsed from settings or `PUT /v1/dedupe/config` JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from enum import StrEnum
from typing import Any

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
DEFAULT_WINDOW_MS = 5 * MINUTE_MS
MAX_WINDOW_MS = HOUR_MS
DEFAULT_LATE_HORIZON_MS = 24 * HOUR_MS
MAX_LATE_HORIZON_MS = 7 * 24 * HOUR_MS


class DedupeMode(StrEnum):
    OFF = "off"
    EXACT = "exact"
    FUZZY = "fuzzy"
    BLOOM = "bloom"


class LatePolicy(StrEnum):
    ACCEPT = "accept"
    FLAG = "flag"
    DROP = "drop"
    DLQ = "dlq"


class WindowClock(StrEnum):
    RECEIVE_TIME = "receive_time"
    EVENT_TIME = "event_time"


class DedupeConfigError(ValueError):
    """Raised with a message naming the offending field, so the HTTP layer can return it as-is."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field_name = field_name
        self.detail = message


@dataclass(frozen=True, slots=True)
class DedupeConfig:
    """Settings of one source; validated on construction so no invalid config can exist."""

    mode: DedupeMode = DedupeMode.EXACT
    window_ms: int = DEFAULT_WINDOW_MS
    clock: WindowClock = WindowClock.RECEIVE_TIME
    late_policy: LatePolicy = LatePolicy.ACCEPT
    late_horizon_ms: int = DEFAULT_LATE_HORIZON_MS
    ignore_fields: tuple[str, ...] = ()
    bloom_capacity: int = 1_000_000
    bloom_fp_rate: float = 0.01
    bloom_slices: int = 0
    """Slices per window; 0 picks the count needing the least memory (tables/bloom/slices.py)."""
    late_capacity: int = 5_000_000
    late_fp_rate: float = 0.01

    def __post_init__(self) -> None:
        _check_int("window_ms", self.window_ms, 1_000, MAX_WINDOW_MS)
        _check_int("late_horizon_ms", self.late_horizon_ms, self.window_ms, MAX_LATE_HORIZON_MS)
        _check_int("bloom_capacity", self.bloom_capacity, 1, 10_000_000_000)
        _check_int("late_capacity", self.late_capacity, 1, 10_000_000_000)
        _check_int("bloom_slices", self.bloom_slices, 0, 24)
        _check_rate("bloom_fp_rate", self.bloom_fp_rate)
        _check_rate("late_fp_rate", self.late_fp_rate)
        if self.mode is DedupeMode.BLOOM and self.clock is WindowClock.EVENT_TIME:
            raise DedupeConfigError(
                "clock", "event_time is not supported with mode bloom (slices follow receive time)"
            )
        for path in self.ignore_fields:
            if not path or any(not part for part in path.split(".")):
                raise DedupeConfigError("ignore_fields", f"invalid dotted path {path!r}")

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ignore_fields"] = list(self.ignore_fields)
        return data


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DedupeConfigError(name, f"must be an integer, got {value!r}")
    if value < low:
        raise DedupeConfigError(name, f"must be >= {low}, got {value}")
    if value > high:
        raise DedupeConfigError(name, f"must be <= {high}, got {value}")


def _check_rate(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DedupeConfigError(name, f"must be a number, got {value!r}")
    if not 0.0 < value < 0.5:
        raise DedupeConfigError(name, f"must be in (0, 0.5), got {value}")


_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "mode": DedupeMode,
    "clock": WindowClock,
    "late_policy": LatePolicy,
}
_INT_FIELDS = {"window_ms", "late_horizon_ms", "bloom_capacity", "late_capacity", "bloom_slices"}
_FLOAT_FIELDS = {"bloom_fp_rate", "late_fp_rate"}
_ALIASES = {"window_s": ("window_ms", 1000), "late_horizon_s": ("late_horizon_ms", 1000)}


def parse_dedupe_config(data: Mapping[str, Any], base: DedupeConfig | None = None) -> DedupeConfig:
    """Build a config from JSON; omitted fields keep the values of `base` (or the defaults).

    Accepts `window_s` / `late_horizon_s` as conveniences; unknown fields are rejected so
    that typos do not silently fall back to defaults.
    """
    if not isinstance(data, Mapping):
        raise DedupeConfigError("config", "must be a JSON object")
    changes: dict[str, Any] = {}
    for raw_name, value in data.items():
        name = raw_name
        if raw_name in _ALIASES:
            name, factor = _ALIASES[raw_name]
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise DedupeConfigError(raw_name, f"must be a number, got {value!r}")
            value = round(value * factor)
        if name in _ENUM_FIELDS:
            enum_type = _ENUM_FIELDS[name]
            try:
                changes[name] = enum_type(value)
            except ValueError:
                allowed = ", ".join(member.value for member in enum_type)
                raise DedupeConfigError(name, f"must be one of {allowed}; got {value!r}") from None
        elif name in _INT_FIELDS:
            _check_int(name, value, -(2**63), 2**63)
            changes[name] = value
        elif name in _FLOAT_FIELDS:
            _check_rate(name, value)
            changes[name] = float(value)
        elif name == "ignore_fields":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise DedupeConfigError(name, "must be a list of dotted-path strings")
            changes[name] = tuple(value)
        else:
            raise DedupeConfigError(raw_name, "unknown field")
    return replace(base or DedupeConfig(), **changes)


@dataclass(slots=True)
class DedupeConfigRegistry:
    """Per-source configs with a default for sources not listed."""

    default: DedupeConfig = field(default_factory=DedupeConfig)
    per_source: dict[str, DedupeConfig] = field(default_factory=dict)

    def for_source(self, source: str | None) -> DedupeConfig:
        if source is None:
            return self.default
        return self.per_source.get(source, self.default)

    def set_source(self, source: str, config: DedupeConfig) -> None:
        self.per_source[source] = config

    def update_from_json(self, data: Mapping[str, Any]) -> None:
        """Apply a `PUT /v1/dedupe/config` body: `{"default": {...}, "sources": {name: {...}}}`.

        Validates everything before changing anything, so a bad body leaves the registry as-is.
        """
        if not isinstance(data, Mapping):
            raise DedupeConfigError("config", "must be a JSON object")
        unknown = set(data) - {"default", "sources"}
        if unknown:
            raise DedupeConfigError(sorted(unknown)[0], "unknown field")
        default = self.default
        if "default" in data:
            default = parse_dedupe_config(data["default"], self.default)
        sources = data.get("sources", {})
        if not isinstance(sources, Mapping):
            raise DedupeConfigError("sources", "must be an object of source -> config")
        parsed: dict[str, DedupeConfig] = {}
        for source, body in sources.items():
            try:
                parsed[source] = parse_dedupe_config(body, self.per_source.get(source, default))
            except DedupeConfigError as exc:
                raise DedupeConfigError(f"sources.{source}.{exc.field_name}", exc.detail) from None
        self.default = default
        self.per_source.update(parsed)

    def to_json(self) -> dict[str, Any]:
        return {
            "default": self.default.to_json(),
            "sources": {name: cfg.to_json() for name, cfg in self.per_source.items()},
        }
