"""Duration strings of window specs (``"500ms"``, ``"30s"``, ``"5m"``, ``"1h30m"``, ``"1d"``)."""

from __future__ import annotations

import re

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d)")
_WHOLE = re.compile(r"(?:\d+(?:ms|s|m|h|d))+")


def parse_duration(value: object) -> int:
    """Milliseconds of a duration string, or of a non-negative int taken as ms."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration string like '30s' or '5m', got {value!r}")
    text = value.strip().lower()
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"bad duration {value!r}: use e.g. '500ms', '30s', '5m', '1h30m', '1d'")
    return sum(int(n) * _UNIT_MS[unit] for n, unit in _PART.findall(text))
