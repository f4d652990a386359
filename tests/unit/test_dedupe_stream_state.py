"""The stream stage's partition state (forwarded marker, replay detection) on a real RocksDB, the
verdict -> output mapping, and the config setting / shared-document parsing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import rocksdict

from agents.dedupe.config_sync import registry_from_json, registry_from_setting
from agents.dedupe.outputs import LATE_DUPLICATE_REASON, DedupeOutputs, apply_verdicts
from agents.dedupe.partition_state import (
    ENTRY,
    FORWARDED_MARKER_KEY,
    INDEX_PREFIX,
    MAX_PACKED_ENTRIES,
    NO_MARKER,
    PartitionState,
    expand_packed,
    is_entry,
    marker_value,
    pack_writes,
    packed_key_of,
    packed_keys,
    read_marker,
    read_marker_output_ends,
    unpack_clock,
    unpack_writes,
)
from agents.ingest.triage import ERROR_REASON_HEADER
from tables.dedupe import (
    LATE_HEADER,
    DedupeAction,
    DedupeConfigError,
    DedupeMode,
    DedupeResult,
    LatePolicy,
    Verdict,
)


@pytest.fixture
def db(tmp_path: Path) -> Any:
    handle = rocksdict.Rdict(str(tmp_path / "p0"), options=rocksdict.Options(raw_mode=True))
    yield handle
    handle.close()


def write_batch(db: Any, batch_offset: int, entries: dict[str, int]) -> PartitionState:
    state = PartitionState(db, batch_offset)
    for key, clock in entries.items():
        state[key] = clock
    state.apply(rocksdict.WriteBatch(raw_mode=True))
    return state


def test_entries_count_as_sightings_only_up_to_the_forwarded_marker(db: Any) -> None:
    write_batch(db, 10, {"s|exact|a": 1_000})
    assert read_marker(db) == NO_MARKER
    # output of batch 10 not acknowledged yet: a replay must not take "a" for a duplicate
    replay = PartitionState(db, 12)
    assert replay.get("s|exact|a") is None and replay.replayed == {"s|exact|a"}

    db.put(FORWARDED_MARKER_KEY, marker_value(10, {0: 5, 3: 7}))
    after = PartitionState(db, 20)
    assert after.get("s|exact|a") == 1_000 and not after.replayed
    assert "s|exact|a" in after and "s|exact|missing" not in after
    assert read_marker_output_ends(db) == {0: 5, 3: 7}
    assert list(after) == ["s|exact|a"] and len(after) == 1


def test_marker_and_faust_keys_are_never_taken_for_entries() -> None:
    marker = marker_value(1, {0: 12})  # exactly as long as an entry
    assert len(marker) == 16 and not is_entry(FORWARDED_MARKER_KEY, marker)
    assert not is_entry(b"__faust\x00offset__", b"0123456789abcdef")
    assert is_entry(b"s|exact|a", marker)


def test_writes_of_a_batch_are_visible_to_it_and_deletes_apply(db: Any) -> None:
    state = PartitionState(db, 3)
    state["k"] = 5
    assert state.get("k") == 5 and db.get(b"k") is None
    del state["k"]
    assert state.get("k") is None
    state.apply(rocksdict.WriteBatch(raw_mode=True))
    assert db.get(b"k") is None


def verdict(result: DedupeResult, action: DedupeAction) -> Verdict:
    return Verdict(result, action, "because", "id")


def test_verdicts_become_forward_flag_dlq_or_drop() -> None:
    records = [{"id": f"r{i}", "source": None, "payload": {}} for i in range(4)]
    encoded = [(r["id"].encode(), orjson.dumps(r), None) for r in records]
    verdicts = [
        verdict(DedupeResult.UNIQUE, DedupeAction.FORWARD),
        verdict(DedupeResult.LATE, DedupeAction.FLAG),
        verdict(DedupeResult.LATE, DedupeAction.DLQ),
        verdict(DedupeResult.DUPLICATE, DedupeAction.DROP),
    ]
    out = DedupeOutputs()
    apply_verdicts(records, encoded, verdicts, out)
    assert [key for key, _, _ in out.forward] == [b"r0", b"r1"]
    assert out.forward[0][2] is None and out.forward[1][2] == [LATE_HEADER]
    assert (out.flagged, out.dropped, len(out.dead)) == (1, 1, 1)
    key, value, headers = out.dead[0]
    assert key == b"r2" and (ERROR_REASON_HEADER, LATE_DUPLICATE_REASON.encode()) in headers
    body = orjson.loads(value)
    assert body["record"]["id"] == "r2" and body["result"] == "late"


def test_config_setting_and_shared_document() -> None:
    assert registry_from_setting("").default.mode is DedupeMode.EXACT
    registry = registry_from_setting(
        '{"default": {"mode": "bloom"}, "sources": {"a": {"late_policy": "dlq"}}}'
    )
    assert registry.for_source("a").mode is DedupeMode.BLOOM  # inherits the default
    assert registry.for_source("a").late_policy is LatePolicy.DLQ
    assert registry_from_json(registry.to_json()) == registry
    with pytest.raises(DedupeConfigError) as error:
        registry_from_setting('{"sources": {"a": {"window_ms": 7200000}}}')
    assert error.value.field_name == "sources.a.window_ms"
    with pytest.raises(DedupeConfigError) as error:
        registry_from_setting("{not json")
    assert error.value.field_name == "DATANEXUS_DEDUPE_CONFIG"


def test_a_batch_travels_as_packed_records_that_recovery_expands_in_batch_order(
    db: Any, tmp_path: Path
) -> None:
    first = PartitionState(db, 10)
    first["s|exact|a"], first["s|exact|b"] = 1_000, 1_001
    packed_first = first.apply(rocksdict.WriteBatch(raw_mode=True))
    later = PartitionState(db, 20)
    later["s|exact|a"] = 9_000  # seen again after the window
    del later["s|exact|b"]
    packed_later = later.apply(rocksdict.WriteBatch(raw_mode=True))
    assert len(packed_first) == len(packed_later) == 1  # one changelog record per batch
    # what Faust's recovery does with the changelog on another worker: raw key -> value
    other = rocksdict.Rdict(str(tmp_path / "other"), options=rocksdict.Options(raw_mode=True))
    try:
        for key, value in packed_later + packed_first:  # stored in any order
            other.put(key, value)
        assert list(PartitionState(other, 30)) == []  # packed records are not entries
        assert expand_packed(other) == 2 and expand_packed(other) == 0
        assert other.get(b"s|exact|a") == ENTRY.pack(9_000, 20) and other.get(b"s|exact|b") is None
        index = packed_keys(other, INDEX_PREFIX)
        assert [packed_key_of(k) for k, _ in index] == [packed_first[0][0], packed_later[0][0]]
        assert [unpack_clock(v) for _, v in index] == [1_001, 9_000]
    finally:
        other.close()


def test_large_batches_split_into_bounded_packed_records() -> None:
    writes: dict[bytes, bytes | None] = {
        f"s|exact|{i}".encode(): ENTRY.pack(i, 7) for i in range(MAX_PACKED_ENTRIES + 3)
    }
    records = pack_writes(7, writes)
    assert len(records) == 2 and len({key for key, _ in records}) == 2
    unpacked = dict(item for _, value in records for item in unpack_writes(value))
    assert unpacked == writes
