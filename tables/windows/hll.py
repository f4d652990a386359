"""A small mergeable HyperLogLog for approximate distinct counts.

Registers live in a ``bytearray`` (``2**precision`` bytes, 4 KiB at the default 12, ~1.6 % standard
error). Values are hashed with BLAKE2b over their canonical JSON, so estimates are stable across
processes and restarts (Python's ``hash`` is salted per process). Stored as zlib + base64 text
because window state must be JSON.
"""

from __future__ import annotations

import base64
import hashlib
import math
import zlib
from typing import Any

import orjson

DEFAULT_PRECISION = 12


def value_hash(value: Any) -> int:
    """Stable 64-bit hash of a JSON value."""
    data = (
        value.encode() if type(value) is str else orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    )
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def new_registers(precision: int = DEFAULT_PRECISION) -> bytearray:
    return bytearray(1 << precision)


def add(registers: bytearray, value: Any) -> None:
    precision = (len(registers) - 1).bit_length()
    h = value_hash(value)
    rest_bits = 64 - precision
    index = h >> rest_bits
    rest = h & ((1 << rest_bits) - 1)
    rank = rest_bits - rest.bit_length() + 1
    if rank > registers[index]:
        registers[index] = rank


def merge(a: bytearray, b: bytearray) -> bytearray:
    if len(a) != len(b):
        raise ValueError("cannot merge HyperLogLogs of different precision")
    return bytearray(map(max, a, b))


def estimate(registers: bytearray) -> int:
    m = len(registers)
    alpha = 0.7213 / (1 + 1.079 / m)
    raw = alpha * m * m / sum(2.0**-r for r in registers)
    zeros = registers.count(0)
    if raw <= 2.5 * m and zeros:
        return round(m * math.log(m / zeros))
    return round(raw)


def encode(registers: bytearray) -> str:
    return base64.b64encode(zlib.compress(bytes(registers), 1)).decode("ascii")


def decode(text: str) -> bytearray:
    return bytearray(zlib.decompress(base64.b64decode(text)))
