"""Bloom positions by double hashing (Kirsch-Mitzenmacher) from one 64-bit BLAKE2b hash.

The hash's two little-endian 32-bit words are the base hashes h1, h2 (reduced modulo the
filter's bit count, h2 never 0). The Redis scripts get the raw 8-byte digests and reduce them
themselves, so one digest per key serves every filter, whatever its size.
"""

from __future__ import annotations

from collections.abc import Iterable
from hashlib import blake2b

_MASK32 = (1 << 32) - 1


def digests(keys: Iterable[bytes]) -> bytes:
    """The 8-byte digests of `keys`, concatenated: the Redis scripts' input."""
    return b"".join([blake2b(key, digest_size=8).digest() for key in keys])


def hash_pair(key: bytes, bits: int) -> tuple[int, int]:
    """The two base hashes, already reduced modulo `bits` (as the Redis scripts reduce them).

    g_i = (h1 + i*h2) mod m equals ((h1 mod m) + i*(h2 mod m)) mod m, so reducing first keeps
    the values small enough for exact arithmetic in the Redis Lua script (doubles).
    `h2` is never 0, otherwise all k positions would coincide.
    """
    value = int.from_bytes(blake2b(key, digest_size=8).digest(), "little")
    first = (value & _MASK32) % bits
    second = (value >> 32) % bits
    return first, second or 1


def positions(key: bytes, bits: int, hashes: int) -> list[int]:
    first, second = hash_pair(key, bits)
    return [(first + index * second) % bits for index in range(hashes)]
