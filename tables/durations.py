"""Durations as users write them in window specs, pipeline configs, dedupe settings and queries.

One grammar everywhere: a non-negative integer is milliseconds; a string is one or more
``<digits><unit>`` parts, units ``ms s m h d w`` (``"500ms"``, ``"30s"``, ``"5m"``, ``"1h30m"``,
``"7d"``, ``"2w"``), case-insensitive, surrounding whitespace ignored.
"""

from __future__ import annotations

import re

UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+)(ms|s|m|h|d|w)")
_WHOLE = re.compile(r"(?:\d+(?:ms|s|m|h|d|w))+")

DURATION_PATTERN = r"^\s*([0-9]+(ms|s|m|h|d|w|MS|S|M|H|D|W))+\s*$"
"""The same grammar for JSON Schema ``pattern`` (no inline flags there)."""

EXAMPLES = "'500ms', '30s', '5m', '1h30m', '1d'"


def parse_duration_ms(value: object) -> int:
    """Milliseconds of a duration; ``ValueError`` with a message fit for the user otherwise."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like {EXAMPLES} or milliseconds, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a duration must not be negative, got {value}")
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a duration like {EXAMPLES} or milliseconds, got {value!r}")
    text = value.strip().lower()
    if not _WHOLE.fullmatch(text):
        raise ValueError(f"invalid duration {value!r}: use e.g. {EXAMPLES}")
    return sum(int(n) * UNIT_MS[unit] for n, unit in _PART.findall(text))
