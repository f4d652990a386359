"""Per-source Bloom filters of the engine: the window filter (bloom mode) and the late summary,
each in Redis with an in-process twin used while Redis is unreachable."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

from tables.bloom import LocalSlicedBloom, RedisSlicedBloom, SlicePlan
from tables.dedupe.config import DedupeConfig
from tables.dedupe.types import DedupeStage

# The late summary covers the horizon (24 h by default) in a few long slices: few slices keep
# the per-record lookup cheap; a key may be remembered up to one slice longer than the horizon.
LATE_SUMMARY_SLICES = 4


@dataclass(slots=True)
class SourceFilters:
    config: DedupeConfig
    window: RedisSlicedBloom | None
    window_local: LocalSlicedBloom
    late: RedisSlicedBloom | None
    late_local: LocalSlicedBloom

    def bloom_report(self, fill_ratios: list[float]) -> dict[str, Any]:
        """The window filter's size and accuracy, for `GET /v1/dedupe/stats`."""
        plan = self.window_local.plan
        return {
            "slices": plan.slices,
            "slice_ms": plan.slice_ms,
            "bits_per_slice": plan.sizing.bits,
            "hashes": plan.sizing.hashes,
            "fill_ratios": fill_ratios,
            "expected_fp_rate_now": plan.union_fp_rate(fill_ratios),
            "expected_fp_rate_at_capacity": self.config.bloom_fp_rate,
            "bits_per_key_in_slice": plan.sizing.bits_per_key,
            "bits_per_window_key": plan.bits_per_window_key(self.config.bloom_capacity),
            # time slicing's price over a static filter, (S+1)/S x (1 + ln(S+1)/ln(1/p))
            "memory_vs_static_optimum": plan.overhead,
        }


class FilterCache:
    """Builds a source's filters on first use and rebuilds them when its config or the Redis
    client changes. Redis keys carry the slice shape, so a resized filter starts empty instead
    of misreading old bitmaps, and the stage, so edge and stream filters stay apart."""

    def __init__(self, key_prefix: str, stage: DedupeStage) -> None:
        self.key_prefix = key_prefix
        self.stage = stage
        self._by_source: dict[str, SourceFilters] = {}

    def items(self) -> Iterator[tuple[str, SourceFilters]]:
        return iter(list(self._by_source.items()))

    def get(self, source: str, config: DedupeConfig, redis: Redis | None) -> SourceFilters:
        filters = self._by_source.get(source)
        if (
            filters is not None
            and filters.config == config
            and (filters.window is None or filters.window.client is redis)
        ):
            return filters
        window_plan = SlicePlan.for_window(
            config.window_ms, config.bloom_slices, config.bloom_capacity, config.bloom_fp_rate
        )
        late_plan = SlicePlan.for_window(
            config.late_horizon_ms, LATE_SUMMARY_SLICES, config.late_capacity, config.late_fp_rate
        )
        filters = SourceFilters(
            config=config,
            window=self._redis_bloom(redis, source, "bloom", window_plan),
            window_local=LocalSlicedBloom(window_plan),
            late=self._redis_bloom(redis, source, "late", late_plan),
            late_local=LocalSlicedBloom(late_plan),
        )
        self._by_source[source] = filters
        return filters

    def _redis_bloom(
        self, redis: Redis | None, source: str, kind: str, plan: SlicePlan
    ) -> RedisSlicedBloom | None:
        if redis is None:
            return None
        # "d8": positions from 8-byte digests (tables/bloom/hashing.py); bitmaps of another
        # derivation are not misread
        shape = f"{plan.slice_ms}.{plan.sizing.bits}.{plan.sizing.hashes}.d8"
        prefix = f"{self.key_prefix}:{{{source}}}:{kind}:{self.stage.value}:{shape}"
        return RedisSlicedBloom(redis, prefix, plan)
