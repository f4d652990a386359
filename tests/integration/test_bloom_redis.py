"""Time-sliced Bloom filter in real Redis bitmaps: no false negatives, fp rate within target."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from tables.bloom import RedisSlicedBloom, SlicePlan, server_has_redisbloom

pytestmark = pytest.mark.integration

T0 = 1_700_000_000_000


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: Redis) -> AsyncIterator[str]:
    name = f"test:bloom:{uuid.uuid4().hex}"
    yield name
    keys = [key async for key in redis.scan_iter(match=f"{name}*", count=1000)]
    if keys:
        await redis.delete(*keys)


async def test_server_without_redisbloom_is_detected(redis: Redis) -> None:
    assert await server_has_redisbloom(redis) is False


async def test_batch_check_and_add_in_one_call_catches_repeats_within_the_batch(
    redis: Redis, prefix: str
) -> None:
    bloom = RedisSlicedBloom(redis, prefix, SlicePlan.for_window(60_000, 4, 1_000, 0.01))
    assert await bloom.check_and_add([b"a", b"b", b"a", b"c", b"b"], T0) == [
        False,
        False,
        True,
        False,
        True,
    ]
    assert await bloom.check_and_add([b"c", b"d"], T0 + 30_000) == [True, False]


async def test_slices_rotate_and_expire_by_their_own_pexpire(redis: Redis, prefix: str) -> None:
    plan = SlicePlan.for_window(60_000, 4, 1_000, 0.01)
    bloom = RedisSlicedBloom(redis, prefix, plan)
    await bloom.check_and_add([b"a"], T0)
    await bloom.check_and_add([b"b"], T0 + plan.slice_ms)
    slice_keys = [key async for key in redis.scan_iter(match=f"{prefix}:*")]
    assert len(slice_keys) == 2
    for key in slice_keys:
        ttl = await redis.pttl(key)
        assert 0 < ttl <= plan.window_ms + 2 * plan.slice_ms + 5_000
    # a key still shows within the window, and is forgotten once its slice left it
    assert await bloom.contains([b"a"], T0 + plan.window_ms - 1) == [True]
    assert await bloom.contains([b"a"], T0 + plan.window_ms + plan.slice_ms) == [False]
    fills = await bloom.fill_ratios(T0 + plan.slice_ms)
    assert fills[0] == pytest.approx(plan.sizing.hashes / plan.sizing.bits, abs=1e-9)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    batches=st.lists(
        st.lists(st.binary(min_size=1, max_size=16), min_size=1, max_size=60),
        min_size=1,
        max_size=6,
    ),
    step=st.integers(0, 20_000),
)
async def test_no_false_negatives_for_keys_added_within_the_window(
    redis: Redis, prefix: str, batches: list[list[bytes]], step: int
) -> None:
    plan = SlicePlan.for_window(60_000, 4, 500, 0.01)
    bloom = RedisSlicedBloom(redis, f"{prefix}:{uuid.uuid4().hex}", plan)
    added: dict[bytes, int] = {}
    now = T0
    for batch in batches:
        seen = await bloom.check_and_add(batch, now)
        for key, was_seen in zip(batch, seen, strict=True):
            if key in added and now - added[key] < plan.window_ms:
                assert was_seen, "a key added within the window was reported as unseen"
            if not was_seen:
                added[key] = now
        now += step
    last = now - step
    recent = [key for key, at in added.items() if last - at < plan.window_ms]
    assert await bloom.contains(recent, last) == [True] * len(recent)


async def test_false_positive_rate_at_capacity_stays_within_target(
    redis: Redis, prefix: str
) -> None:
    capacity, fp_rate = 100_000, 0.01
    plan = SlicePlan.for_window(300_000, 4, capacity, fp_rate)
    bloom = RedisSlicedBloom(redis, prefix, plan)
    spread = plan.window_ms - 1_000
    for first in range(0, capacity, 2_000):
        keys = [f"in-{i}".encode() for i in range(first, first + 2_000)]
        seen = await bloom.check_and_add(keys, T0 + first * spread // capacity)
        assert sum(seen) < 2_000 * fp_rate * 2  # sanity while filling
    end = T0 + spread
    inserted = [f"in-{i}".encode() for i in range(0, capacity, 7)]
    assert all(await bloom.contains(inserted, end))
    false_positives = 0
    probes = 50_000
    for first in range(0, probes, 5_000):
        keys = [f"out-{i}".encode() for i in range(first, first + 5_000)]
        false_positives += sum(await bloom.contains(keys, end))
    measured = false_positives / probes
    assert measured <= fp_rate
    fills = await bloom.fill_ratios(end)
    assert plan.union_fp_rate(fills) <= fp_rate
    assert await bloom.memory_bits(end) <= plan.total_bits + 8 * len(fills)


async def test_a_plain_add_sets_the_same_bits_as_check_and_add(redis: Redis, prefix: str) -> None:
    plan = SlicePlan.for_window(60_000, 4, 2_000, 0.01)
    checked = RedisSlicedBloom(redis, f"{prefix}:checked", plan)
    added = RedisSlicedBloom(redis, f"{prefix}:added", plan)
    keys = [f"k{i}".encode() for i in range(1_500)]  # several BITFIELD chunks in one call
    await checked.check_and_add(keys, T0)
    await added.add_at(keys, T0, T0)
    slice_id = plan.slice_id(T0)
    assert await redis.get(checked.slice_key(slice_id)) == await redis.get(
        added.slice_key(slice_id)
    )
    assert await added.contains(keys, T0) == [True] * len(keys)
    assert 0 < await redis.pttl(added.slice_key(slice_id)) <= plan.ttl_ms(slice_id, T0)


async def test_lookups_skip_slices_that_do_not_exist(redis: Redis, prefix: str) -> None:
    plan = SlicePlan.for_window(60_000, 4, 1_000, 0.01)
    bloom = RedisSlicedBloom(redis, prefix, plan)
    await bloom.add_at([b"old"], T0, T0)
    later = T0 + 2 * plan.slice_ms  # the current slice and the one before it are missing
    assert await bloom.contains([b"old", b"new"], later) == [True, False]
    assert await bloom.check_and_add([b"new", b"new"], later) == [False, True]
