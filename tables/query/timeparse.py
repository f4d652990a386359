"""Durations ("5m") and relative instants ("now-24h") as used in queries and dashboards."""

from __future__ import annotations

import re

from tables import durations
from tables.query.errors import InvalidQuery

_RELATIVE = re.compile(r"^\s*now\s*(?:([+-])\s*(.+))?$")


def parse_duration_ms(value: object, what: str) -> int:
    """An int (milliseconds) or a string like ``"90s"``, ``"5m"``, ``"1h"``, ``"7d"``."""
    try:
        return durations.parse_duration_ms(value)
    except ValueError as exc:
        raise InvalidQuery(f"{what}: {exc}") from None


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
