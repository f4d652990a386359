from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.ingest.records import RecordError, RejectReason, normalize_record, parse_event_time
from agents.ingest.triage import ERROR_REASON_HEADER, RawMessage, triage
from app.http import HTTPError
from app.web.ingest import parse_body

NOW = 1_800_000_000_000


def test_normalize_fills_defaults_and_keeps_fields() -> None:
    record = normalize_record({"id": "a", "source": "web", "payload": {"x": 1}}, NOW)
    assert record == {
        "id": "a",
        "source": "web",
        "event_time": NOW,
        "payload": {"x": 1},
        "ingested_at": NOW,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-04T10:00:00Z", 1_796_378_400_000),
        ("2026-12-04T11:00:00+01:00", 1_796_378_400_000),
        ("2026-12-04T10:00:00", 1_796_378_400_000),
        (1_796_378_400_000, 1_796_378_400_000),
        (1_796_378_400_000.7, 1_796_378_400_000),
        (None, NOW),
    ],
)
def test_event_time_formats(value: object, expected: int) -> None:
    assert parse_event_time(value, NOW) == expected


@pytest.mark.parametrize(
    ("obj", "reason"),
    [
        ([], RejectReason.NOT_AN_OBJECT),
        ({}, RejectReason.MISSING_ID),
        ({"id": ""}, RejectReason.INVALID_ID),
        ({"id": 7}, RejectReason.INVALID_ID),
        ({"id": "x" * 513}, RejectReason.INVALID_ID),
        ({"id": "a", "source": 3}, RejectReason.INVALID_SOURCE),
        ({"id": "a", "payload": [1]}, RejectReason.INVALID_PAYLOAD),
        ({"id": "a", "event_time": "later"}, RejectReason.INVALID_EVENT_TIME),
        ({"id": "a", "event_time": True}, RejectReason.INVALID_EVENT_TIME),
        ({"id": "a", "event_time": -5}, RejectReason.INVALID_EVENT_TIME),
        ({"id": "a", "event_time": 10**20}, RejectReason.INVALID_EVENT_TIME),
    ],
)
def test_invalid_records_name_the_reason(obj: object, reason: RejectReason) -> None:
    with pytest.raises(RecordError) as info:
        normalize_record(obj, NOW)
    assert info.value.reason is reason
    assert info.value.detail


def test_key_supplies_missing_id_and_must_match() -> None:
    assert normalize_record({"payload": {}}, NOW, key_id="k")["id"] == "k"
    with pytest.raises(RecordError) as info:
        normalize_record({"id": "a"}, NOW, key_id="b")
    assert info.value.reason is RejectReason.ID_MISMATCH


@given(
    st.lists(
        st.one_of(
            st.builds(lambda i: orjson.dumps({"id": f"id-{i}"}), st.integers(0, 10**6)),
            st.binary(max_size=20),
            st.just(None),
        ),
        max_size=40,
    )
)
def test_triage_accounts_for_every_message(values: list[bytes | None]) -> None:
    messages = [RawMessage(None, v, None, "raw", 0, n) for n, v in enumerate(values)]
    out = triage(messages, NOW)
    assert len(out.accepted) + len(out.dead) == len(messages)
    assert sum(out.rejected.values()) == len(out.dead)
    for _key, _value, headers in out.dead:
        assert dict(headers or [])[ERROR_REASON_HEADER]


def test_dead_letter_keeps_original_bytes_and_origin() -> None:
    out = triage([RawMessage(b"k", b"\xff\xfe", [("trace", b"1")], "raw", 3, 42)], NOW)
    key, value, headers = out.dead[0]
    body = orjson.loads(value)
    assert key == b"k"
    assert body["value"] == "fffe" and body["value_encoding"] == "hex"
    assert body["origin"] == {"topic": "raw", "partition": 3, "offset": 42}
    assert ("trace", b"1") in list(headers or [])


def test_parse_body_shapes() -> None:
    assert parse_body(b'{"id":"a"}', "application/json") == [{"id": "a"}]
    assert parse_body(b'[{"id":"a"},{"id":"b"}]', "application/json") == [{"id": "a"}, {"id": "b"}]
    items = parse_body(b'{"id":"a"}\n\n{"id":"b"}\n', "application/json")
    assert items == [{"id": "a"}, {"id": "b"}]
    with pytest.raises(HTTPError) as info:
        parse_body(b"   ", "application/json")
    assert info.value.status == 400
    with pytest.raises(HTTPError):
        parse_body(b"nope\nnope", "application/x-ndjson")
