"""Readers of ``_schemas`` re-read past offset gaps instead of skipping a record."""

from __future__ import annotations

from schemas.registry.offset_gaps import GapVerdict, OffsetGapGuard


def test_in_order_records_apply_and_repeats_after_a_seek_are_skipped() -> None:
    guard = OffsetGapGuard(next_offset=0)
    assert [guard.admit(o) for o in (0, 1, 2)] == [GapVerdict.APPLY] * 3
    assert guard.admit(1) is GapVerdict.SKIP
    assert guard.next_offset == 3


def test_a_gap_is_read_again_and_the_missing_record_then_applies() -> None:
    """The broker's fetch skipped offset 7 once; after the seek it arrives in order."""
    guard = OffsetGapGuard(next_offset=7)
    assert guard.admit(8) is GapVerdict.REREAD
    assert guard.next_offset == 7
    assert [guard.admit(o) for o in (7, 8)] == [GapVerdict.APPLY, GapVerdict.APPLY]
    assert (guard.rereads, guard.accepted_gaps) == (0, 0)


def test_a_gap_that_survives_the_rereads_is_real_and_accepted() -> None:
    """Compaction on Apache Kafka leaves gaps that every re-read shows again."""
    guard = OffsetGapGuard(next_offset=3, max_rereads=2)
    assert [guard.admit(9) for _ in range(3)] == [
        GapVerdict.REREAD,
        GapVerdict.REREAD,
        GapVerdict.APPLY,
    ]
    assert (guard.next_offset, guard.accepted_gaps, guard.rereads) == (10, 1, 0)
    assert guard.admit(12) is GapVerdict.REREAD  # a new gap gets its own re-reads
