"""Interface of a time-sliced Bloom filter, shared by the Redis and the in-process version."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tables.bloom.slices import SlicePlan


class SlicedBloomFilter(Protocol):
    plan: SlicePlan

    async def check_and_add(self, keys: Sequence[bytes], now_ms: int) -> list[bool]:
        """For each key in order: True if it was (probably) seen in a live slice.

        Keys not seen are added to the current slice before the next key is checked, so a
        key repeated inside one batch is reported as seen the second time. Never returns
        False for a key added within the window (no false negatives).
        """
        ...

    async def fill_ratios(self, now_ms: int) -> list[float]:
        """Fraction of set bits per live slice, newest first."""
        ...
