"""In-process time-sliced Bloom filter: fallback while Redis is unreachable, and unit tests."""

from __future__ import annotations

from collections.abc import Sequence

from tables.bloom.hashing import hash_pair
from tables.bloom.slices import SlicePlan


class LocalSlicedBloom:
    def __init__(self, plan: SlicePlan) -> None:
        self.plan = plan
        self._slices: dict[int, bytearray] = {}

    def _bitmap(self, slice_id: int) -> bytearray:
        bitmap = self._slices.get(slice_id)
        if bitmap is None:
            bitmap = bytearray((self.plan.sizing.bits + 7) // 8)
            self._slices[slice_id] = bitmap
        return bitmap

    def _expire(self, now_ms: int) -> None:
        oldest = self.plan.slice_id(now_ms - self.plan.window_ms)
        for slice_id in [s for s in self._slices if s < oldest]:
            del self._slices[slice_id]

    def check_and_add_sync(
        self, keys: Sequence[bytes], now_ms: int, add: bool = True
    ) -> list[bool]:
        self._expire(now_ms)
        bits = self.plan.sizing.bits
        hashes = self.plan.sizing.hashes
        live = [self._slices[s] for s in self.plan.live_slice_ids(now_ms) if s in self._slices]
        current = self._bitmap(self.plan.slice_id(now_ms))
        if not live or live[0] is not current:
            live.insert(0, current)
        results: list[bool] = []
        for key in keys:
            first, second = hash_pair(key, bits)
            spots = [(first + index * second) % bits for index in range(hashes)]
            seen = any(all(bitmap[pos >> 3] & (1 << (pos & 7)) for pos in spots) for bitmap in live)
            if add and not seen:
                for pos in spots:
                    current[pos >> 3] |= 1 << (pos & 7)
            results.append(seen)
        return results

    async def check_and_add(self, keys: Sequence[bytes], now_ms: int) -> list[bool]:
        return self.check_and_add_sync(keys, now_ms)

    async def contains(self, keys: Sequence[bytes], now_ms: int) -> list[bool]:
        return self.check_and_add_sync(keys, now_ms, add=False)

    async def fill_ratios(self, now_ms: int) -> list[float]:
        self._expire(now_ms)
        ratios = []
        for slice_id in self.plan.live_slice_ids(now_ms):
            bitmap = self._slices.get(slice_id)
            count = sum(byte.bit_count() for byte in bitmap) if bitmap else 0
            ratios.append(count / self.plan.sizing.bits)
        return ratios
