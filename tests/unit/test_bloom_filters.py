"""Bloom sizing, double hashing and the in-process time-sliced filter."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tables.bloom import BloomSizing, LocalSlicedBloom, SlicePlan, optimal_bits_per_key, positions
from tables.bloom.slices import best_slice_count, slicing_overhead


@pytest.mark.parametrize(("capacity", "fp_rate"), [(1_000, 0.01), (100_000, 0.001), (10, 0.1)])
def test_sizing_meets_the_target_with_the_fewest_whole_bytes(capacity: int, fp_rate: float) -> None:
    sizing = BloomSizing.for_target(capacity, fp_rate)
    assert sizing.bits % 8 == 0
    # the target is met at capacity, and one byte less would miss it with any integer k
    assert sizing.expected_fp_rate() <= fp_rate
    for hashes in range(1, 30):
        smaller = BloomSizing(capacity, fp_rate, sizing.bits - 8, hashes)
        assert smaller.expected_fp_rate() > fp_rate
    if capacity >= 1_000:  # whole-byte rounding is noise only for real sizes
        ideal = math.log2(1 / fp_rate)
        assert sizing.hashes in {math.floor(ideal), math.ceil(ideal)}
        assert sizing.bits_per_key == pytest.approx(optimal_bits_per_key(fp_rate), rel=0.005)
    assert sizing.expected_fp_rate(capacity // 2) < sizing.expected_fp_rate()
    assert sizing.fp_rate_from_fill(0.5) == pytest.approx(0.5**sizing.hashes)


def test_slice_count_minimises_memory_against_the_formula() -> None:
    p = 0.01
    overheads = {s: slicing_overhead(s, p) for s in range(1, 25)}
    assert best_slice_count(p) == min(overheads, key=overheads.__getitem__) == 7
    assert overheads[7] == pytest.approx(1.659, abs=0.001)
    plan = SlicePlan.for_window(300_000, 0, 100_000, p)
    assert plan.slices == 7
    assert plan.sizing.overhead == pytest.approx(1.0, abs=0.002)
    assert plan.overhead == pytest.approx(plan.predicted_overhead, rel=0.005)


def test_sizing_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="capacity"):
        BloomSizing.for_target(0, 0.01)
    with pytest.raises(ValueError, match="fp_rate"):
        BloomSizing.for_target(10, 1.5)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=40), st.integers(8, 10**9), st.integers(1, 20))
def test_positions_are_in_range_and_deterministic(key: bytes, bits: int, hashes: int) -> None:
    spots = positions(key, bits, hashes)
    assert len(spots) == hashes
    assert all(0 <= spot < bits for spot in spots)
    assert spots == positions(key, bits, hashes)


def test_slice_plan_covers_the_window_and_sizes_slices_for_the_union() -> None:
    plan = SlicePlan.for_window(300_000, 4, 100_000, 0.01)
    assert plan.slice_ms == 75_000
    assert plan.sizing.capacity == 25_000
    assert plan.sizing.fp_rate == pytest.approx(0.01 / 5)
    now = 10 * 75_000 + 1
    assert plan.live_slice_ids(now) == [10, 9, 8, 7, 6]
    assert plan.live_slice_ids(10 * 75_000) == [10, 9, 8, 7, 6]
    ttl = plan.ttl_ms(10, now)
    assert 11 * 75_000 + 300_000 - now <= ttl <= 11 * 75_000 + 300_000 - now + 5_000


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.binary(min_size=1, max_size=12), st.integers(0, 150_000)),
        min_size=1,
        max_size=300,
    )
)
def test_local_filter_has_no_false_negatives_within_the_window(
    arrivals: list[tuple[bytes, int]],
) -> None:
    plan = SlicePlan.for_window(60_000, 4, 1_000, 0.01)
    bloom = LocalSlicedBloom(plan)
    first_added: dict[bytes, int] = {}
    for key, at in sorted(arrivals, key=lambda item: item[1]):
        seen = bloom.check_and_add_sync([key], at)
        if key in first_added and at - first_added[key] < plan.window_ms:
            assert seen == [True]
        if not seen[0]:
            first_added[key] = at
    last = max(at for _, at in arrivals)
    for key, at in first_added.items():
        if last - at < plan.window_ms:
            assert bloom.check_and_add_sync([key], last, add=False) == [True]


def test_repeat_inside_one_batch_is_seen_the_second_time() -> None:
    bloom = LocalSlicedBloom(SlicePlan.for_window(60_000, 4, 1_000, 0.01))
    assert bloom.check_and_add_sync([b"a", b"b", b"a", b"b", b"c"], 0) == [
        False,
        False,
        True,
        True,
        False,
    ]


def test_local_filter_forgets_keys_after_the_window() -> None:
    plan = SlicePlan.for_window(60_000, 4, 1_000, 0.01)
    bloom = LocalSlicedBloom(plan)
    bloom.check_and_add_sync([b"old"], 0)
    assert bloom.check_and_add_sync([b"old"], 59_000) == [True]
    assert bloom.check_and_add_sync([b"gone"], 0) == [False]
    assert bloom.check_and_add_sync([b"gone"], 60_000 + plan.slice_ms) == [False]


def test_local_filter_false_positive_rate_at_capacity_is_within_target() -> None:
    capacity, fp_rate = 20_000, 0.01
    plan = SlicePlan.for_window(60_000, 4, capacity, fp_rate)
    bloom = LocalSlicedBloom(plan)
    spread = plan.window_ms - 1
    for first in range(0, capacity, 500):
        keys = [f"in-{i}".encode() for i in range(first, first + 500)]
        bloom.check_and_add_sync(keys, first * spread // capacity)
    probes = [f"out-{i}".encode() for i in range(20_000)]
    seen = sum(bloom.check_and_add_sync(probes, spread, add=False))
    assert seen / len(probes) <= fp_rate
