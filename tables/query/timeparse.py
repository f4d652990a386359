"""Durations ("5m") and relative instants ("now-24h") as used in queries and dashboards."""

from __future__ import annotations

import re

from tables.query.errors import InvalidQuery

_UNITS_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d|w)\s*$")
_RELATIVE = re.compile(r"^\s*now\s*(?:([+-])\s*(.+))?$")


def parse_duration_ms(value: object, what: str) -> int:
    """An int (milliseconds) or a string like ``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``."""
    if isinstance(value, bool):
        raise InvalidQuery(f"{what}: expected a duration, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match:
            return int(match.group(1)) * _UNITS_MS[match.group(2)]
    raise InvalidQuery(f"{what}: expected milliseconds or a duration like '5m', got {value!r}")


def parse_instant_ms(value: object, now_ms: int, what: str) -> int:
    """An int (epoch ms) or ``"now"``, ``"now-1h"``, ``"now+5m"`` resolved against ``now_ms``."""
    if isinstance(value, bool):
        raise InvalidQuery(f"{what}: expected a time, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _RELATIVE.match(value)
        if match:
            sign, offset = match.groups()
            if sign is None:
                return now_ms
            delta = parse_duration_ms(offset, what)
            return now_ms + delta if sign == "+" else now_ms - delta
    raise InvalidQuery(f"{what}: expected epoch milliseconds or 'now-<duration>', got {value!r}")
