"""Which partitions the end-of-rebalance seek rewinds (app/faust_seek.py)."""

from __future__ import annotations

from app.faust_seek import partitions_to_rewind

COMMITTED = {"raw/0": None, "raw/1": 0, "raw/2": 1200, "table-changelog/0": None}


def is_stream(tp: str) -> bool:
    return not tp.startswith("table-changelog")


def test_stream_partitions_without_a_commit_go_back_to_the_start_under_earliest() -> None:
    assert partitions_to_rewind(COMMITTED, is_stream, "earliest") == ["raw/0", "raw/1"]


def test_under_latest_only_an_explicit_commit_at_zero_goes_back() -> None:
    assert partitions_to_rewind(COMMITTED, is_stream, "latest") == ["raw/1"]


def test_changelog_partitions_are_left_to_table_recovery() -> None:
    assert "table-changelog/0" not in partitions_to_rewind(COMMITTED, is_stream, "earliest")
