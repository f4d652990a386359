"""Bloom filter sizing from a capacity and a target false-positive rate.

The classic optimum, -ln p / (ln 2)^2 bits per key, assumes a real-valued number of hash
functions k = log2(1/p). With an integer k, the smallest filter that meets p at capacity n is
m_k = -k n / ln(1 - p^(1/k)) bits; `for_target` takes the k whose m_k is smallest (so the
target is met exactly, never missed by rounding) and rounds m up to whole bytes, because Redis
allocates a bitmap in bytes: the few extra bits then lower the false-positive rate for free.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LN2_SQUARED = math.log(2) ** 2
MAX_BITS = 2**32  # Redis bitmaps (512 MB) and the uint32 positions passed to the Lua script


def optimal_bits_per_key(fp_rate: float) -> float:
    """The classic optimum -ln p / (ln 2)^2 for a plain Bloom filter."""
    return -math.log(fp_rate) / LN2_SQUARED


def bits_for_hashes(capacity: int, fp_rate: float, hashes: int) -> int:
    """Fewest bits (whole bytes) with which `hashes` hash functions meet `fp_rate` at capacity."""
    exact = -hashes * capacity / math.log1p(-(fp_rate ** (1.0 / hashes)))
    bits = math.ceil(exact * (1 + 1e-12))  # guard the float division against landing 1 bit short
    return max(8, (bits + 7) // 8 * 8)


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
        ideal = max(1, round(math.log2(1.0 / fp_rate)))
        candidates = range(max(1, ideal - 2), ideal + 3)
        bits, hashes = min((bits_for_hashes(capacity, fp_rate, k), k) for k in candidates)
        if bits > MAX_BITS:
            raise ValueError(f"filter of {bits} bits exceeds the {MAX_BITS}-bit bitmap limit")
        return cls(capacity=capacity, fp_rate=fp_rate, bits=bits, hashes=hashes)

    @property
    def bits_per_key(self) -> float:
        return self.bits / self.capacity

    @property
    def overhead(self) -> float:
        """bits per key over the classic optimum for this filter's own target (>= 1.0)."""
        return self.bits_per_key / optimal_bits_per_key(self.fp_rate)

    def expected_fp_rate(self, inserted: int | None = None) -> float:
        """Expected false-positive rate after `inserted` keys (default: at capacity)."""
        count = self.capacity if inserted is None else inserted
        return (1.0 - math.exp(-self.hashes * count / self.bits)) ** self.hashes

    def fp_rate_from_fill(self, fill_ratio: float) -> float:
        """False-positive rate implied by a measured fraction of set bits (from BITCOUNT)."""
        return min(1.0, max(0.0, fill_ratio)) ** self.hashes
