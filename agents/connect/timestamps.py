"""Timestamp conversions for TimestampConverter: Java SimpleDateFormat patterns and unix units."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

_JAVA_TOKENS = [
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSS", "%f"),
    ("XXX", "%z"),
    ("Z", "%z"),
    ("X", "%z"),
]
_TOKEN_RE = re.compile("|".join(re.escape(t) for t, _ in _JAVA_TOKENS) + r"|'[^']*'|.", re.S)
_UNIX_SCALE = {"seconds": 1, "milliseconds": 1000, "microseconds": 10**6, "nanoseconds": 10**9}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def java_to_strftime(pattern: str) -> str:
    """Translate a SimpleDateFormat pattern (the common tokens) to strftime."""
    table = dict(_JAVA_TOKENS)
    out = []
    for token in _TOKEN_RE.findall(pattern):
        if token in table:
            out.append(table[token])
        elif token.startswith("'"):
            out.append(token.strip("'").replace("%", "%%") or "'")
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def to_datetime(value: Any, fmt: str | None, unix_precision: str) -> datetime:
    """Any supported input (datetime, date, time, unix number, formatted string) as UTC datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, time):
        return datetime.combine(EPOCH.date(), value, tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        scale = _UNIX_SCALE[unix_precision]
        return EPOCH + timedelta(microseconds=round(value * 10**6 / scale))
    if isinstance(value, str):
        if fmt:
            parsed = datetime.strptime(value, java_to_strftime(fmt))
        else:
            parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"cannot read {type(value).__name__} as a timestamp")


def from_datetime(moment: datetime, target: str, fmt: str | None, unix_precision: str) -> Any:
    moment = moment.astimezone(UTC)
    if target == "unix":
        delta = moment - EPOCH
        micros = (delta.days * 86400 + delta.seconds) * 10**6 + delta.microseconds
        return micros * _UNIX_SCALE[unix_precision] // 10**6
    if target == "string":
        if not fmt:
            return moment.isoformat()
        pattern = java_to_strftime(fmt).replace("%f", "{millis}")
        return moment.strftime(pattern).replace("{millis}", f"{moment.microsecond // 1000:03d}")
    if target == "Date":
        return moment.date()
    if target == "Time":
        return moment.time().replace(tzinfo=None)
    return moment


CONNECT_LOGICAL = {
    "unix": ("int64", None),
    "string": ("string", None),
    "Timestamp": ("int64", "org.apache.kafka.connect.data.Timestamp"),
    "Date": ("int32", "org.apache.kafka.connect.data.Date"),
    "Time": ("int32", "org.apache.kafka.connect.data.Time"),
}
