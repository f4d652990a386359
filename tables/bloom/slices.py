"""Time slicing of a window: which Bloom slices are live, and when each one may expire."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from tables.bloom.sizing import BloomSizing

EXPIRY_SLACK_MS = 2_000


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

    @classmethod
    def for_window(cls, window_ms: int, slices: int, capacity: int, fp_rate: float) -> SlicePlan:
        if slices < 1:
            raise ValueError(f"slices must be >= 1, got {slices}")
        slice_ms = math.ceil(window_ms / slices)
        per_slice = math.ceil(capacity / slices)
        sizing = BloomSizing.for_target(per_slice, fp_rate / (slices + 1))
        return cls(window_ms=window_ms, slices=slices, slice_ms=slice_ms, sizing=sizing)

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
