"""Bloom positions by double hashing (Kirsch-Mitzenmacher) from one 128-bit BLAKE2b hash."""

from __future__ import annotations

from hashlib import blake2b

_MASK64 = (1 << 64) - 1


def hash128(key: bytes) -> int:
    return int.from_bytes(blake2b(key, digest_size=16).digest(), "little")


def hash_pair(key: bytes, bits: int) -> tuple[int, int]:
    """The two base hashes, already reduced modulo `bits`.

    g_i = (h1 + i*h2) mod m equals ((h1 mod m) + i*(h2 mod m)) mod m, so reducing first keeps
    the values small enough for exact arithmetic in the Redis Lua script (doubles).
    `h2` is never 0, otherwise all k positions would coincide.
    """
    value = hash128(key)
    first = (value & _MASK64) % bits
    second = (value >> 64) % bits
    return first, second or 1


def positions(key: bytes, bits: int, hashes: int) -> list[int]:
    first, second = hash_pair(key, bits)
    return [(first + index * second) % bits for index in range(hashes)]
