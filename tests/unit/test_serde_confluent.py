"""Byte compatibility with confluent-kafka's own serializers, in both directions.

confluent-kafka's mock registry client stands in for a server; our serdes reach it through
``ConfluentClientLookup``, so ids and schemas are shared exactly as they would be over HTTP.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.avro import AvroDeserializer as CAvroDeserializer
from confluent_kafka.schema_registry.avro import AvroSerializer as CAvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer as CJsonDeserializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer as CJsonSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer as CProtoDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer as CProtoSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import json_format
from google.protobuf.message import Message

from schemas.formats import ProtobufSchema, handler_for
from schemas.serde import (
    AvroDeserializer,
    AvroSerializer,
    ConfluentClientLookup,
    JsonSchemaDeserializer,
    JsonSchemaSerializer,
    ProtobufDeserializer,
    ProtobufSerializer,
    topic_subject,
)
from schemas.types import SchemaError, SchemaType

SAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "samples"
STRATEGY = {"subject.name.strategy": topic_subject_name_strategy}
TOPIC = "clicks"
CTX = SerializationContext(TOPIC, MessageField.VALUE)
SUBJECT = topic_subject(TOPIC)


@pytest.fixture
def client() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": "mock://serde-tests"})


@pytest.fixture(scope="module")
def clickstream() -> ProtobufSchema:
    schema = handler_for(SchemaType.PROTOBUF).parse((SAMPLES / "clickstream.proto").read_text(), [])
    assert isinstance(schema, ProtobufSchema)
    return schema


def _click(schema: ProtobufSchema, n: int) -> Message:
    cls = schema.message_class([0])
    message = cls(
        event_id=f"e-{n}",
        user_id=f"u-{n % 7}",
        session_id="s-1",
        action=1 + n % 4,
        url=f"https://shop.example/p/{n}",
        attributes={"campaign": "winter", "n": str(n)},
        experiments=["exp-a", "exp-b"][: n % 3],
        value=n * 1.25,
        dwell_ms=n * 10,
    )
    message.occurred_at.seconds = 1_700_000_000 + n
    message.device.os = "linux"
    if n % 2:
        message.referrer = "https://search.example"
    return message


def _as_dict(message: Message) -> dict[str, Any]:
    result: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
    return result


@pytest.mark.parametrize("n", [0, 1, 5])
def test_protobuf_ours_and_confluents_write_identical_bytes(
    client: SchemaRegistryClient, clickstream: ProtobufSchema, n: int
) -> None:
    message = _click(clickstream, n)
    theirs = CProtoSerializer(type(message), client, STRATEGY)(message, CTX)
    ours = ProtobufSerializer(ConfluentClientLookup(client)).serialize(SUBJECT, message)
    assert ours == theirs
    assert ours[0] == 0 and ours[5] == 0  # magic byte, then the single-byte [0] index path


def test_protobuf_their_serializer_our_deserializer_nested_index(
    client: SchemaRegistryClient, clickstream: ProtobufSchema
) -> None:
    page_view = clickstream.message_class([1])(url="/home", count=42)
    device = clickstream.message_class([0, 0])(os="ios", screen_width=390)
    lookup = ConfluentClientLookup(client)
    for message, indexes in ((page_view, b"\x02\x02"), (device, b"\x04\x00\x00")):
        framed = CProtoSerializer(type(message), client, STRATEGY)(message, CTX)
        assert framed[5 : 5 + len(indexes)] == indexes
        decoded = ProtobufDeserializer(lookup).deserialize(framed)
        assert decoded.DESCRIPTOR.full_name == message.DESCRIPTOR.full_name
        assert _as_dict(decoded) == _as_dict(message)


def test_protobuf_our_serializer_their_deserializer(
    client: SchemaRegistryClient, clickstream: ProtobufSchema
) -> None:
    lookup = ConfluentClientLookup(client)
    ours = ProtobufSerializer(lookup)
    for n in range(4):
        message = _click(clickstream, n)
        decoded = CProtoDeserializer(type(message), STRATEGY)(ours.serialize(SUBJECT, message), CTX)
        assert decoded == message
    registered = client.get_latest_version(SUBJECT)
    assert registered.schema.schema_type == "PROTOBUF"


def test_protobuf_dict_serialization_uses_latest_schema(
    client: SchemaRegistryClient, clickstream: ProtobufSchema
) -> None:
    lookup = ConfluentClientLookup(client)
    ProtobufSerializer(lookup).serialize(SUBJECT, _click(clickstream, 0))
    record = {"event_id": "e-9", "url": "https://x", "action": "CLICK", "dwell_ms": 3}
    framed = ProtobufSerializer(lookup).serialize_dict(SUBJECT, record)
    decoded = CProtoDeserializer(clickstream.message_class([0]), STRATEGY)(framed, CTX)
    assert decoded.event_id == "e-9" and decoded.action == 2 and decoded.dwell_ms == 3
    assert ProtobufDeserializer(lookup).deserialize_dict(framed)["action"] == "CLICK"


JSON_SCHEMA = (SAMPLES / "clickstream.schema.json").read_text()
JSON_RECORD = {
    "event_id": "3f1c",
    "user_id": "u-1",
    "occurred_at": "2024-05-01T10:00:00Z",
    "action": "click",
    "url": "https://shop.example/",
    "device": {"user_agent": "Mozilla", "screen_width": 1280},
    "experiments": ["a"],
}


def test_json_schema_both_directions(client: SchemaRegistryClient) -> None:
    lookup = ConfluentClientLookup(client)
    theirs = CJsonSerializer(JSON_SCHEMA, client, conf=STRATEGY)(JSON_RECORD, CTX)
    assert theirs[0] == 0
    assert JsonSchemaDeserializer(lookup).deserialize(theirs) == JSON_RECORD
    ours = JsonSchemaSerializer(lookup, JSON_SCHEMA).serialize(SUBJECT, JSON_RECORD)
    assert ours[:5] == theirs[:5]  # same subject + schema text -> same id
    their_reader = CJsonDeserializer(JSON_SCHEMA, conf=STRATEGY, schema_registry_client=client)
    assert their_reader(ours, CTX) == JSON_RECORD
    with pytest.raises(SchemaError, match="does not match"):
        JsonSchemaSerializer(lookup, JSON_SCHEMA).serialize(SUBJECT, {"event_id": 1})


AVRO_SCHEMA = (SAMPLES / "clickstream.avsc").read_text()
AVRO_RECORD = {
    "event_id": "e-1",
    "user_id": "u-1",
    "occurred_at": 1_700_000_000_000,
    "action": "CLICK",
    "url": "https://shop.example/",
    "referrer": None,
    "value": 2.5,
}


def _normalise(record: Any) -> Any:
    return json.loads(json.dumps(record, default=lambda v: int(v.timestamp() * 1000)))


def test_avro_both_directions(client: SchemaRegistryClient) -> None:
    lookup = ConfluentClientLookup(client)
    theirs = CAvroSerializer(client, AVRO_SCHEMA, conf=STRATEGY)(AVRO_RECORD, CTX)
    ours = AvroSerializer(lookup, AVRO_SCHEMA).serialize(SUBJECT, AVRO_RECORD)
    assert ours[0] == theirs[0] == 0 and ours[5:] == theirs[5:]
    # confluent re-serialises the schema text before registering; both parse to one schema
    their_id, our_id = (int.from_bytes(b[1:5], "big") for b in (theirs, ours))
    assert lookup.schema_by_id(their_id) == lookup.schema_by_id(our_id)
    assert _normalise(AvroDeserializer(lookup).deserialize(theirs)) == AVRO_RECORD
    their_reader = CAvroDeserializer(client, conf=STRATEGY)
    assert _normalise(their_reader(ours, CTX)) == AVRO_RECORD
