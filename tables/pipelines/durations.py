"""Durations as written in pipeline configs: ``"250ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"1d"``.

Integers are milliseconds. Kept tiny and local so configs validate without the engines loaded.
"""

from __future__ import annotations

import re

DURATION_PATTERN = r"^[0-9]+(ms|s|m|h|d)$"
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION_RE = re.compile(r"^([0-9]+)(ms|s|m|h|d)$")


def parse_duration_ms(value: str | int) -> int:
    if isinstance(value, bool):
        raise ValueError("a duration must be a string like '5m' or milliseconds as an integer")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration must not be negative")
        return value
    match = _DURATION_RE.match(value)
    if match is None:
        raise ValueError(f"invalid duration {value!r}: use e.g. '500ms', '30s', '5m', '1h', '1d'")
    return int(match.group(1)) * _UNIT_MS[match.group(2)]
