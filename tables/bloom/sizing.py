"""Bloom filter sizing from a capacity and a target false-positive rate."""

from __future__ import annotations

import math
from dataclasses import dataclass

LN2_SQUARED = math.log(2) ** 2
MAX_BITS = 2**32  # Redis bitmaps (512 MB) and the uint32 positions passed to the Lua script


def optimal_bits_per_key(fp_rate: float) -> float:
    """The classic optimum -ln p / (ln 2)^2 for a plain Bloom filter."""
    return -math.log(fp_rate) / LN2_SQUARED


@dataclass(frozen=True, slots=True)
class BloomSizing:
    capacity: int
    fp_rate: float
    bits: int
    hashes: int

    @classmethod
    def for_target(cls, capacity: int, fp_rate: float) -> BloomSizing:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if not 0.0 < fp_rate < 1.0:
            raise ValueError(f"fp_rate must be in (0, 1), got {fp_rate}")
        bits = max(8, math.ceil(-capacity * math.log(fp_rate) / LN2_SQUARED))
        if bits > MAX_BITS:
            raise ValueError(f"filter of {bits} bits exceeds the {MAX_BITS}-bit bitmap limit")
        hashes = max(1, round(bits / capacity * math.log(2)))
        return cls(capacity=capacity, fp_rate=fp_rate, bits=bits, hashes=hashes)

    @property
    def bits_per_key(self) -> float:
        return self.bits / self.capacity

    def expected_fp_rate(self, inserted: int | None = None) -> float:
        """Expected false-positive rate after `inserted` keys (default: at capacity)."""
        count = self.capacity if inserted is None else inserted
        return (1.0 - math.exp(-self.hashes * count / self.bits)) ** self.hashes

    def fp_rate_from_fill(self, fill_ratio: float) -> float:
        """False-positive rate implied by a measured fraction of set bits (from BITCOUNT)."""
        return min(1.0, max(0.0, fill_ratio)) ** self.hashes
