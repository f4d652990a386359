"""Byte layout of aggregate-store keys, chosen so a time-range read is one seek plus a scan.

    key = metric (UTF-8) | 0x00 | window start ms (8 bytes, unsigned big-endian) | group key (UTF-8)

* RocksDB orders keys bytewise, so all windows of one metric are contiguous (the 0x00 separator
  cannot occur inside a UTF-8 metric name and sorts before every other byte, so ``"a"`` never
  interleaves with ``"ab"``), and inside a metric they are ordered by window start: big-endian
  unsigned integers compare bytewise like numbers.
* A read of ``[from, to)`` seeks to ``metric|0x00|be64(from)`` and stops at the first key whose
  start is ``>= to`` or whose prefix is another metric: it never touches windows outside the range.
* The group key comes last and is variable-length; it only orders windows sharing a start.
* Start times must be ``>= 0`` (epoch milliseconds). Metric names may not contain ``0x00``.

The value is ``orjson({"e": end_ms, "a": aggregates, "f": final})`` (see ``rocks.py``).
"""

from __future__ import annotations

import struct

SEPARATOR = b"\x00"
_START = struct.Struct(">Q")
START_BYTES = _START.size


def metric_prefix(metric: str) -> bytes:
    """The bytes every key of ``metric`` starts with."""
    encoded = metric.encode()
    if SEPARATOR in encoded:
        raise ValueError(f"metric name may not contain NUL: {metric!r}")
    return encoded + SEPARATOR


def seek_key(metric: str, start_ms: int) -> bytes:
    """Smallest possible key of ``metric`` with window start ``>= start_ms``."""
    return metric_prefix(metric) + _START.pack(max(start_ms, 0))


def encode_key(metric: str, start_ms: int, group_key: str) -> bytes:
    if start_ms < 0:
        raise ValueError(f"window start must be >= 0, got {start_ms}")
    return metric_prefix(metric) + _START.pack(start_ms) + group_key.encode()


def decode_key(raw: bytes) -> tuple[str, int, str]:
    """Inverse of ``encode_key``: (metric, start ms, group key)."""
    sep = raw.index(SEPARATOR)
    (start,) = _START.unpack_from(raw, sep + 1)
    return raw[:sep].decode(), start, raw[sep + 1 + START_BYTES :].decode()


def start_of(raw: bytes, prefix_len: int) -> int:
    """Window start of a key whose metric prefix (incl. separator) is ``prefix_len`` bytes."""
    (start,) = _START.unpack_from(raw, prefix_len)
    return int(start)
