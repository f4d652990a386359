"""Time slicing of a window: which Bloom slices are live, and when each one may expire.

Memory trade-off (why a sliced filter cannot reach a static filter's optimum). A window of W is
covered by S slices of W/S plus the current, partial one, so S + 1 bitmaps are live. A lookup is
a false positive if any live slice answers yes, so each slice is sized for capacity/S keys at
p/(S+1). Against a static filter holding the window's keys at p (-ln p / (ln 2)^2 bits per key),
the whole filter therefore costs

    overhead(S) = (S + 1)/S  x  (1 + ln(S + 1) / ln(1/p))

(the first factor is the extra live slice, the second the stricter per-slice target). More slices
shrink the first factor and grow the second: at p = 1% the minimum is at S = 7, 1.659x (S = 4:
1.686x), so about 1.66x is the floor for this design, not 1.1x. Each slice on its own is sized
exactly (see sizing.py: ~1.00x of the optimum for its own target). What slicing buys is expiry
without per-key state: a whole slice is dropped when it leaves the window. With `slices=0`
(the default in DedupeConfig), S is chosen to minimise memory for the target rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tables.bloom.sizing import BloomSizing, optimal_bits_per_key

EXPIRY_SLACK_MS = 2_000
MAX_SLICES = 24
AUTO_SLICES = 0


def slicing_overhead(slices: int, fp_rate: float) -> float:
    """(S+1)/S x (1 + ln(S+1)/ln(1/p)): bits of a sliced filter over a static filter's optimum."""
    return (slices + 1) / slices * (1 + math.log(slices + 1) / math.log(1 / fp_rate))


def best_slice_count(fp_rate: float, max_slices: int = MAX_SLICES) -> int:
    """The slice count with the least memory at this target (ties: fewer slices, fewer lookups)."""
    return min(range(1, max_slices + 1), key=lambda s: (slicing_overhead(s, fp_rate), s))


@dataclass(frozen=True, slots=True)
class SlicePlan:
    """A window covered by `slices` slices of equal length plus the current, partial one.

    Slice id = floor(t / slice_ms). At time t the live slices are those overlapping
    [t - window, t], i.e. at most slices + 1. Each slice is sized for capacity / slices keys
    at fp_rate / (slices + 1), so a lookup across all live slices stays within fp_rate at the
    configured capacity.
    """

    window_ms: int
    slices: int
    slice_ms: int
    sizing: BloomSizing
    capacity: int = 0
    fp_rate: float = 0.0

    @classmethod
    def for_window(cls, window_ms: int, slices: int, capacity: int, fp_rate: float) -> SlicePlan:
        """`slices=0` (AUTO_SLICES): the count that needs the least memory (`best_slice_count`)."""
        if slices == AUTO_SLICES:
            slices = best_slice_count(fp_rate)
        if slices < 1:
            raise ValueError(f"slices must be >= 1 (or 0 for automatic), got {slices}")
        slice_ms = math.ceil(window_ms / slices)
        per_slice = math.ceil(capacity / slices)
        sizing = BloomSizing.for_target(per_slice, fp_rate / (slices + 1))
        return cls(window_ms, slices, slice_ms, sizing, capacity, fp_rate)

    def slice_id(self, t_ms: int) -> int:
        return t_ms // self.slice_ms

    def live_slice_ids(self, now_ms: int) -> list[int]:
        """Newest first, so the current slice is checked (and written) first."""
        newest = self.slice_id(now_ms)
        oldest = self.slice_id(now_ms - self.window_ms)
        return list(range(newest, oldest - 1, -1))

    def ttl_ms(self, slice_id: int, now_ms: int) -> int:
        """Time until the slice no longer overlaps any window, plus slack for clock skew."""
        end_ms = (slice_id + 1) * self.slice_ms + self.window_ms + EXPIRY_SLACK_MS
        return max(1, end_ms - now_ms)

    def union_fp_rate(self, fill_ratios: Sequence[float]) -> float:
        """False-positive rate of a lookup across slices with these measured fill ratios."""
        log_miss = sum(math.log1p(-self.sizing.fp_rate_from_fill(f)) for f in fill_ratios)
        return -math.expm1(log_miss)

    @property
    def total_bits(self) -> int:
        return self.sizing.bits * (self.slices + 1)

    def bits_per_window_key(self, capacity: int) -> float:
        """All bits held in memory at steady state (slices + 1 bitmaps) per key in a window."""
        return self.total_bits / capacity

    @property
    def predicted_overhead(self) -> float:
        """`slicing_overhead` for this plan: what the memory over a static filter should be."""
        return slicing_overhead(self.slices, self.fp_rate)

    @property
    def overhead(self) -> float:
        """Actual bits per window key over a static filter's optimum at the window's target."""
        return self.bits_per_window_key(self.capacity) / optimal_bits_per_key(self.fp_rate)
