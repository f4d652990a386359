"""Window pipelines without Kafka: settings parsing, record codecs, the journaled store's crash
recovery and the repartition replay guard, through a real WindowStateManager on dict tables."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from agents.windows.config import SourceFormat, parse_pipelines
from agents.windows.guard import ReplayGuard
from agents.windows.journal_store import JournaledStore, journal_key, marker_key
from agents.windows.records import (
    FINAL_HEADER,
    SourceDecoder,
    decode_repartitioned,
    repartition_record,
    result_record,
)
from app.settings import Settings, SettingsError
from tables.windows import Event, WindowStateManager

SPEC = {
    "name": "clicks",
    "type": "tumbling",
    "size": "10s",
    "group_by": ["source"],
    "aggregate": {"*": ["count"], "amount": ["mean"]},
}


def test_pipelines_from_env_json_with_source_options_and_mean_parts() -> None:
    raw = [{**SPEC, "topic": "in", "format": "json", "repartition": False}]
    settings = Settings.from_env({"DATANEXUS_WINDOWS": json.dumps(raw)})
    (pipeline,) = parse_pipelines(settings.windows, settings.topic_accepted)
    assert (pipeline.topic, pipeline.format, pipeline.event_time) == (
        "in",
        SourceFormat.JSON,
        "kafka",
    )
    assert pipeline.input_topic == "in" and not pipeline.repartition
    assert [k.value for k in dict(pipeline.spec.aggregate)["amount"]] == ["mean", "sum", "count"]


def test_default_source_is_the_accepted_topic_through_a_repartition_topic() -> None:
    (pipeline,) = parse_pipelines([SPEC], "acc")
    assert pipeline.topic == "acc" and pipeline.input_topic == "datanexus.windows.clicks.by-key"
    assert pipeline.late_topic == "datanexus.windows.clicks.late"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not json", "not JSON"),
        ({"a": 1}, "must be a list"),
        ([{**SPEC, "size": "-1s"}], r"DATANEXUS_WINDOWS\[0\].*size"),
        ([{**SPEC, "format": "xml"}], "format"),
        ([{**SPEC, "repartition": "yes"}], "repartition"),
        ([SPEC, SPEC], "unique"),
        ("@/nonexistent.json", "not a file"),
    ],
)
def test_bad_pipelines_name_the_problem(value: Any, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_pipelines(value, "acc")


def test_envelope_decoding_puts_envelope_fields_over_payload() -> None:
    (pipeline,) = parse_pipelines([SPEC], "acc")
    decoder = SourceDecoder(pipeline)
    raw = orjson.dumps(
        {"id": "1", "source": "web", "event_time": 5, "payload": {"source": "x", "amount": 2}}
    )
    record = decoder.decode(raw, 999)
    assert record is not None
    assert (record.timestamp, record.group_key, record.fields["amount"]) == (5, '["web"]', 2)
    assert record.fields["payload"]["source"] == "x"
    assert decoder.decode(b"[1]", 0) is None and decoder.decode(b"{bad", 0) is None
    assert decoder.decode(orjson.dumps({"event_time": "x", "payload": {}}), 0) is None


def test_repartition_record_round_trips_with_source_coordinates() -> None:
    key, value, _ = repartition_record(b'{"a": 1}', 42, '["web"]', 3, 17)
    copy = decode_repartitioned(value)
    assert key == b'["web"]' and copy is not None
    assert (copy.timestamp, copy.source_partition, copy.source_offset, copy.record) == (
        42,
        3,
        17,
        {"a": 1},
    )
    assert decode_repartitioned(b'{"t": 1}') is None


def manager_on(table: dict[str, bytes]) -> tuple[WindowStateManager, JournaledStore]:
    (pipeline,) = parse_pipelines([SPEC], "acc")
    store = JournaledStore(table, "clicks")
    return WindowStateManager(pipeline.spec, store), store


def events(start: int, stop: int) -> list[Event]:
    return [Event(i * 1000, {"source": "web", "amount": i}, offset=i) for i in range(start, stop)]


def run(manager: WindowStateManager, store: JournaledStore, batch: list[Event]) -> Any:
    store.use(0)
    result = manager.process_batch(0, batch)
    return result


def test_output_record_follows_the_contract() -> None:
    table: dict[str, bytes] = {}
    manager, store = manager_on(table)
    result = run(manager, store, events(0, 25))
    key, value, headers = result_record(result.closed[0], ("source",), "tumbling")
    body = orjson.loads(value)
    assert key == b'clicks/["web"]' and headers == [(FINAL_HEADER, b"1")]
    assert body["group"] == {"source": "web"} and body["group_key"] == '["web"]'
    assert (body["start"], body["end"], body["final"], body["revision"]) == (0, 10_000, True, 0)
    assert body["aggregates"] == {
        "*.count": 10,
        "amount.mean": 4.5,
        "amount.sum": 45,
        "amount.count": 10,
    }
    assert body["fields"]["amount"]["sum"] == 45


def test_writes_are_held_until_commit_and_visible_meanwhile() -> None:
    table: dict[str, bytes] = {}
    manager, store = manager_on(table)
    run(manager, store, events(0, 5))
    assert table == {}
    assert manager.watermark(0) == 4000  # read through the held writes
    written = store.commit(0, lambda p: None)
    assert written > 0 and manager.watermark(0) == 4000
    assert (
        orjson.loads(table[marker_key("clicks", 0)])
        == orjson.loads(table[journal_key("clicks", 0)])[0]
    )


class CrashingTable(dict[str, bytes]):
    """Stops accepting writes after ``budget`` of them, like a changelog cut by a crash."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget

    def __setitem__(self, key: str, value: bytes) -> None:
        if self.budget <= 0:
            return
        self.budget -= 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        if self.budget <= 0:
            return
        self.budget -= 1
        super().__delitem__(key)


@pytest.mark.parametrize("budget", range(0, 12))
def test_a_commit_cut_anywhere_is_recovered_without_double_counting(budget: int) -> None:
    reference_table: dict[str, bytes] = {}
    reference, ref_store = manager_on(reference_table)
    expected = []
    for chunk in (events(0, 15), events(15, 40)):
        expected += run(reference, ref_store, chunk).closed
        ref_store.commit(0, lambda p: None)

    table = CrashingTable(10**6)
    manager, store = manager_on(table)
    closed = run(manager, store, events(0, 15)).closed
    store.commit(0, lambda p: None)
    table.budget = budget  # the second batch's commit is cut after `budget` writes
    closed += run(manager, store, events(15, 30)).closed  # sent before the commit
    store.commit(0, lambda p: None)
    # restart: a new store on what persisted; the uncommitted input is replayed
    table.budget = 10**6
    manager, store = manager_on(table)
    store.recover(0, lambda p: None)
    for chunk in (events(15, 30), events(30, 40)):
        closed += run(manager, store, chunk).closed
        store.commit(0, lambda p: None)
    finals = {(r.start, orjson.dumps(r.aggregates)) for r in closed}
    assert finals == {(r.start, orjson.dumps(r.aggregates)) for r in expected}


def test_replay_guard_drops_recopied_records_but_not_replays() -> None:
    table: dict[str, bytes] = {}
    _, store = manager_on(table)
    store.use(0)
    guard = ReplayGuard(store, "clicks", 0)
    assert [guard.admit(o, 1, so) for o, so in ((0, 10), (1, 11), (2, 12))] == [
        True,
        True,
        True,
    ]
    guard.save()
    store.commit(0, lambda p: None)
    store.use(0)
    again = ReplayGuard(store, "clicks", 0)
    # copies of source offsets 10/11 re-produced at new offsets: duplicates
    assert again.admit(3, 1, 10) is False and again.admit(4, 1, 11) is False
    assert again.admit(5, 1, 13) is True and again.admit(6, 2, 0) is True
