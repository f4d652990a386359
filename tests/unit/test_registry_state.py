"""The log-order claim protocol and the Confluent record shapes of the ``_schemas`` topic."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.registry.records import (
    ConfigRecord,
    DeleteSubjectRecord,
    ModeRecord,
    NoopRecord,
    Record,
    SchemaRecord,
    SchemaValue,
    decode,
    encode,
    fingerprint,
)
from schemas.registry.state import RegistryState
from schemas.types import CompatibilityLevel, RegistryMode, SchemaReference, SchemaType


def claim(
    subject: str, version: int, schema_id: int, text: str, deleted: bool = False
) -> SchemaRecord:
    return SchemaRecord(
        subject,
        version,
        SchemaValue(
            subject=subject,
            version=version,
            schema_id=schema_id,
            text=text,
            schema_type=SchemaType.AVRO,
            references=(),
            deleted=deleted,
            fingerprint=fingerprint(SchemaType.AVRO, text, ()),
        ),
    )


def replay(records: list[Record]) -> tuple[RegistryState, list[bool]]:
    state = RegistryState()
    return state, [state.apply(r, offset) for offset, r in enumerate(records)]


def test_first_claim_on_an_id_wins_and_the_loser_is_ignored() -> None:
    state, outcomes = replay([claim("a", 1, 1, '"int"'), claim("b", 1, 1, '"long"')])
    assert outcomes == [True, False]
    assert state.schemas[1].text == '"int"'
    assert "b" not in state.subjects
    assert state.rejected_claims == 1


def test_same_schema_keeps_its_first_id() -> None:
    state, outcomes = replay([claim("a", 1, 1, '"int"'), claim("b", 1, 2, '"int"')])
    assert outcomes == [True, False]
    state, outcomes = replay([claim("a", 1, 1, '"int"'), claim("b", 1, 1, '"int"')])
    assert outcomes == [True, True]
    assert [e.subject for e in state.slots_of(1)] == ["a", "b"]


def test_a_taken_version_slot_rejects_another_schema() -> None:
    state, outcomes = replay([claim("a", 1, 1, '"int"'), claim("a", 1, 2, '"long"')])
    assert outcomes == [True, False]
    assert state.entry("a", 1) is not None and state.entry("a", 1).schema_id == 1  # type: ignore[union-attr]
    assert state.max_id == 1


def test_soft_delete_tombstone_and_delete_subject() -> None:
    state, _ = replay(
        [
            claim("a", 1, 1, '"int"'),
            claim("a", 2, 2, '"long"'),
            claim("a", 1, 1, '"int"', deleted=True),
        ]
    )
    assert [e.version for e in state.versions("a")] == [2]
    assert [e.version for e in state.versions("a", include_deleted=True)] == [1, 2]
    state.apply(DeleteSubjectRecord("a", 2), 3)
    assert state.versions("a") == []
    state.apply(SchemaRecord("a", 1, None), 4)
    state.apply(SchemaRecord("a", 2, None), 5)
    assert "a" not in state.subjects
    # ids stay reserved for their schema after a permanent delete
    assert not state.apply(claim("b", 1, 1, '"string"'), 6)
    assert state.apply(claim("b", 1, 1, '"int"'), 7)


def test_config_and_mode_are_last_writer_wins_with_tombstones() -> None:
    state, _ = replay(
        [
            ConfigRecord(None, CompatibilityLevel.FULL),
            ConfigRecord("a", CompatibilityLevel.NONE),
            ConfigRecord("a", None),
            ModeRecord(None, RegistryMode.READONLY),
        ]
    )
    assert state.config == {None: CompatibilityLevel.FULL}
    assert state.modes == {None: RegistryMode.READONLY}


def test_records_use_confluent_key_and_value_shapes() -> None:
    record = SchemaRecord(
        "s",
        3,
        SchemaValue(
            "s",
            3,
            7,
            "syntax = 'proto3';",
            SchemaType.PROTOBUF,
            (SchemaReference("dep.proto", "dep", 1),),
            False,
            "f" * 64,
        ),
    )
    key, value = encode(record)
    assert orjson.loads(key) == {"keytype": "SCHEMA", "subject": "s", "version": 3, "magic": 1}
    assert value is not None
    body = orjson.loads(value)
    assert body["id"] == 7 and body["schemaType"] == "PROTOBUF" and body["deleted"] is False
    assert body["references"] == [{"name": "dep.proto", "subject": "dep", "version": 1}]
    assert decode(key, value) == record
    assert orjson.loads(encode(ConfigRecord(None, CompatibilityLevel.FULL))[0]) == {
        "keytype": "CONFIG",
        "subject": None,
        "magic": 0,
    }


def test_a_confluent_written_value_without_fingerprint_hashes_its_text() -> None:
    key = b'{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}'
    value = b'{"subject":"s","version":1,"id":4,"schema":"\\"int\\"","deleted":false}'
    record = decode(key, value)
    assert isinstance(record, SchemaRecord) and record.value is not None
    assert record.value.schema_type is SchemaType.AVRO
    assert record.value.fingerprint == fingerprint(SchemaType.AVRO, '"int"', ())
    assert decode(b'{"keytype":"SOMETHING_NEW"}', None) is None
    assert decode(b"not json", b"{}") is None


_records = st.one_of(
    st.builds(
        lambda s, v, i, t, d: claim(s, v, i, t, d),
        st.sampled_from("abc"),
        st.integers(1, 4),
        st.integers(1, 5),
        st.sampled_from(['"int"', '"long"', '"string"']),
        st.booleans(),
    ),
    st.builds(lambda s, v: SchemaRecord(s, v, None), st.sampled_from("abc"), st.integers(1, 4)),
    st.builds(DeleteSubjectRecord, st.sampled_from("abc"), st.integers(1, 4)),
    st.just(NoopRecord()),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_records, max_size=30))
def test_replays_agree_and_ids_never_change_meaning(records: list[Record]) -> None:
    """Every reader of the same log reaches the same state; an id maps to one schema, ever."""
    decoded = [decode(*encode(r)) for r in records]
    first, _ = replay(records)
    second, _ = replay([r for r in decoded if r is not None])
    assert first == second
    meaning: dict[int, str] = {}
    for entries in first.subjects.values():
        for entry in entries.values():
            text = first.schemas[entry.schema_id].text
            assert meaning.setdefault(entry.schema_id, text) == text
    assert len(set(first.ids_by_fingerprint.values())) == len(first.ids_by_fingerprint)
