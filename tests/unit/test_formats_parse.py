"""Format handlers: parsing, validation errors, references and canonical text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from schemas.formats import AvroSchema, JsonSchema, ProtobufSchema, handler_for
from schemas.types import ResolvedReference, SchemaError, SchemaType

SAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "samples"


def test_protobuf_sample_compiles_with_nested_types_and_well_known_imports() -> None:
    schema = handler_for(SchemaType.PROTOBUF).parse((SAMPLES / "clickstream.proto").read_text(), [])
    assert isinstance(schema, ProtobufSchema)
    click = schema.message_descriptor([0])
    assert click.full_name == "datanexus.clickstream.ClickEvent"
    assert click.fields_by_name["occurred_at"].message_type.full_name == (
        "google.protobuf.Timestamp"
    )
    assert schema.message_indexes("datanexus.clickstream.PageView") == [1]
    assert schema.message_indexes("datanexus.clickstream.ClickEvent.Device") == [0, 0]


def test_protobuf_text_and_base64_descriptor_share_canonical_text() -> None:
    handler = handler_for(SchemaType.PROTOBUF)
    from_text = handler.parse((SAMPLES / "clickstream.proto").read_text(), [])
    assert isinstance(from_text, ProtobufSchema)
    from_descriptor = handler.parse(from_text.serialized(), [])
    assert from_descriptor.canonical() == from_text.canonical()
    # the canonical text is itself valid and a fixed point
    assert handler.parse(from_text.canonical(), []).canonical() == from_text.canonical()


def test_protobuf_imports_resolve_through_references() -> None:
    text = (
        'syntax = "proto3";\npackage shop;\nimport "common.proto";\n'
        "message Store { datanexus.common.GeoPoint location = 1; }\n"
    )
    reference = ResolvedReference("common.proto", (SAMPLES / "common.proto").read_text())
    schema = handler_for(SchemaType.PROTOBUF).parse(text, [reference])
    assert isinstance(schema, ProtobufSchema)
    store = schema.message_class([0])()
    store.location.lat = 1.5
    assert type(store).FromString(store.SerializeToString()).location.lat == 1.5


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('syntax = "proto3"; message A { strng x = 1; }', '"strng" is not defined'),
        ('syntax = "proto3"; message A { string x = 1; int32 y = 1; }', "has already been used"),
        ('syntax = "proto3"; import "missing.proto"; message A {}', "missing.proto"),
        ("not a proto at all", "Invalid protobuf schema"),
    ],
)
def test_invalid_protobuf_raises_schema_error_with_protoc_message(text: str, fragment: str) -> None:
    with pytest.raises(SchemaError, match="Invalid protobuf schema") as info:
        handler_for(SchemaType.PROTOBUF).parse(text, [])
    assert fragment in str(info.value)


def test_json_schema_parse_and_metaschema_validation() -> None:
    handler = handler_for(SchemaType.JSON)
    schema = handler.parse((SAMPLES / "clickstream.schema.json").read_text(), [])
    assert isinstance(schema, JsonSchema)
    assert json.loads(schema.canonical())["title"] == "ClickEvent"
    with pytest.raises(SchemaError, match="properties"):
        handler.parse('{"type": "object", "properties": {"a": {"type": 5}}}', [])
    with pytest.raises(SchemaError, match="not JSON"):
        handler.parse("{nope", [])


def test_json_schema_reference_resolves_for_validation() -> None:
    address = '{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}'
    text = '{"type": "object", "properties": {"home": {"$ref": "address.json"}}}'
    schema = handler_for(SchemaType.JSON).parse(text, [ResolvedReference("address.json", address)])
    assert isinstance(schema, JsonSchema)
    schema.validator.validate({"home": {"city": "Oslo"}})
    assert not schema.validator.is_valid({"home": {"city": 3}})


def test_avro_parse_named_types_from_references_and_errors() -> None:
    handler = handler_for(SchemaType.AVRO)
    fields = '"namespace": "n", "fields": [{{"name": "f", "type": "{}"}}]'
    money = '{"type": "record", "name": "Money", ' + fields.format("long") + "}"
    text = '{"type": "record", "name": "Order", ' + fields.format("n.Money") + "}"
    schema = handler.parse(text, [ResolvedReference("n.Money", money)])
    assert isinstance(schema, AvroSchema)
    assert "n.Money" in schema.named
    with pytest.raises(SchemaError, match="Invalid Avro schema"):
        handler.parse(text, [])
    with pytest.raises(SchemaError, match="Invalid Avro schema"):
        handler.parse('{"type": "record", "name": "X", "fields": [{"name": "a"}]}', [])
    assert handler.parse('"string"', []).canonical() == '"string"'


def test_missing_schema_type_means_avro() -> None:
    assert handler_for("").schema_type == SchemaType.AVRO
