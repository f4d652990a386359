"""JSON Schema -> protobuf migration on the sample schemas."""

from __future__ import annotations

import json
from pathlib import Path

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from google.protobuf import json_format

from schemas.formats import ProtobufSchema, handler_for
from schemas.migrate import (
    ConfluentSubjectRegistry,
    format_report,
    json_schema_to_proto,
    migrate_subjects,
)
from schemas.types import SchemaType

SAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "samples"
CLICK_SCHEMA = json.loads((SAMPLES / "clickstream.schema.json").read_text())


def _compile(text: str) -> ProtobufSchema:
    schema = handler_for(SchemaType.PROTOBUF).parse(text, [])
    assert isinstance(schema, ProtobufSchema)
    return schema


def test_sample_converts_to_compilable_proto_with_mapped_types() -> None:
    text, notes = json_schema_to_proto(CLICK_SCHEMA, package="dn.migrated")
    click = _compile(text).message_descriptor([0])
    fields = click.fields_by_name
    assert click.full_name == "dn.migrated.ClickEvent"
    assert fields["occurred_at"].message_type.full_name == "google.protobuf.Timestamp"
    assert fields["device"].message_type.fields_by_name["screen_width"].type == 3  # int64
    assert fields["attributes"].message_type.GetOptions().map_entry
    assert fields["experiments"].is_repeated
    assert fields["tags"].is_repeated and fields["tags"].message_type.name == "Tags"
    assert [v.name for v in fields["action"].enum_type.values][:2] == [
        "ACTION_UNSPECIFIED",
        "ACTION_VIEW",
    ]
    assert fields["referrer"].has_presence and not fields["event_id"].has_presence
    joined = "\n".join(notes)
    for expected in ("date-time", "'minimum' is not enforced", "oneOf/anyOf", "nullable"):
        assert expected in joined


def test_converted_message_accepts_the_json_record_shape() -> None:
    text, _ = json_schema_to_proto(CLICK_SCHEMA)
    cls = _compile(text).message_class([0])
    record = {
        "event_id": "3f1c",
        "occurred_at": "2024-05-01T10:00:00Z",
        "action": "ACTION_CLICK",
        "device": {"user_agent": "Mozilla", "screen_width": 1280},
        "attributes": {"a": "b"},
        "experiments": ["x"],
        "payload": 3,
    }
    message = json_format.ParseDict(record, cls())
    assert message.occurred_at.seconds == 1714557600
    assert message.device.screen_width == 1280


def test_renamed_properties_keep_their_json_name() -> None:
    schema = {"type": "object", "properties": {"userId": {"type": "string"}, "$x": {}}}
    text, notes = json_schema_to_proto(schema, "Thing")
    descriptor = _compile(text).message_descriptor([0])
    assert descriptor.fields_by_name["user_id"].json_name == "userId"
    assert any("renamed to 'user_id'" in note for note in notes)


def test_local_refs_become_top_level_messages() -> None:
    schema = {
        "type": "object",
        "definitions": {"money": {"type": "object", "properties": {"units": {"type": "integer"}}}},
        "properties": {
            "total": {"$ref": "#/definitions/money"},
            "tax": {"$ref": "#/definitions/money"},
        },
    }
    text, _ = json_schema_to_proto(schema, "Order")
    compiled = _compile(text)
    order = compiled.message_descriptor([0])
    assert order.fields_by_name["total"].message_type.full_name == "datanexus.Money"
    assert compiled.message_indexes("datanexus.Money") == [1]


def test_migrate_subjects_registers_reports_and_survives_bad_subjects() -> None:
    client = SchemaRegistryClient.new_client({"url": "mock://migrate"})
    client.register_schema("clicks-value", Schema(json.dumps(CLICK_SCHEMA), "JSON"))
    client.register_schema("raw-value", Schema('{"type": "string"}', "JSON"))
    seen: list[tuple[int, int, str]] = []
    results = migrate_subjects(
        ConfluentSubjectRegistry(client),
        ["clicks-value", "raw-value", "missing-value"],
        progress=lambda done, total, subject: seen.append((done, total, subject)),
        target_subject=lambda subject: f"{subject}-proto",
    )
    assert [s[0] for s in seen] == [1, 2, 3] and seen[-1][1] == 3
    clicks, raw, missing = results
    assert clicks.error is None and clicks.schema_id is not None
    registered = client.get_latest_version("clicks-value-proto").schema
    assert registered.schema_type == "PROTOBUF"
    assert "message Clicks {" in (registered.schema_str or "")
    assert raw.error is not None and "object" in raw.error
    assert missing.error is not None
    report = format_report(results)
    assert "clicks-value -> clicks-value-proto (id" in report and "date-time" in report
