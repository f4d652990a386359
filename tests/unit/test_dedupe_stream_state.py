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
    FORWARDED_MARKER_KEY,
    NO_MARKER,
    PartitionState,
    is_entry,
    marker_value,
    read_marker,
    read_marker_output_ends,
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
