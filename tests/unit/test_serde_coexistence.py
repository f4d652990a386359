"""JSON/protobuf coexistence: mixed topics, JSON fallback with its metric, the Faust codec."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from faust.serializers import codecs
from prometheus_client import REGISTRY

from schemas.formats import ProtobufSchema, handler_for
from schemas.serde import (
    ConfluentClientLookup,
    FallbackSerializer,
    JsonSchemaSerializer,
    ProtobufSerializer,
    RecordDeserializer,
)
from schemas.serde.faust_codec import register_codec
from schemas.types import SchemaType

SAMPLES = Path(__file__).resolve().parents[2] / "schemas" / "samples"
PROTO_TEXT = (SAMPLES / "clickstream.proto").read_text()


@pytest.fixture
def lookup() -> ConfluentClientLookup:
    return ConfluentClientLookup(SchemaRegistryClient.new_client({"url": "mock://coexist"}))


def _fallbacks(subject: str) -> float:
    value = REGISTRY.get_sample_value("datanexus_serde_json_fallback_total", {"subject": subject})
    return value or 0.0


def test_mixed_topic_reads_json_and_framed_records(lookup: ConfluentClientLookup) -> None:
    schema = handler_for(SchemaType.PROTOBUF).parse(PROTO_TEXT, [])
    assert isinstance(schema, ProtobufSchema)
    message = schema.message_class([0])(event_id="e1", url="/a", dwell_ms=5)
    framed = ProtobufSerializer(lookup).serialize("mixed-value", message)
    legacy = orjson.dumps({"event_id": "e0", "url": "/b"})
    json_framed = JsonSchemaSerializer(lookup, '{"type": "object"}').serialize("j-value", {"k": 1})
    reader = RecordDeserializer(lookup)
    assert reader.deserialize(legacy) == {"event_id": "e0", "url": "/b"}
    assert reader.deserialize(framed) == {"event_id": "e1", "url": "/a", "dwell_ms": 5}
    assert reader.deserialize(json_framed) == {"k": 1}


def test_fallback_to_json_until_a_protobuf_schema_exists(lookup: ConfluentClientLookup) -> None:
    now = [0.0]
    writer = FallbackSerializer(lookup, recheck_seconds=10, clock=lambda: now[0])
    subject = "orders-fallback-value"
    before = _fallbacks(subject)
    record = {"event_id": "e1", "url": "/x"}
    first = writer.serialize(subject, record)
    assert orjson.loads(first) == record
    assert _fallbacks(subject) == before + 1
    lookup.client.register_schema(subject, Schema(PROTO_TEXT, "PROTOBUF"))
    assert writer.serialize(subject, record)[0] != 0  # still cached as missing
    now[0] = 11.0
    framed = writer.serialize(subject, record)
    assert framed[0] == 0
    assert RecordDeserializer(lookup).deserialize(framed) == record
    assert _fallbacks(subject) == before + 2


def test_faust_codec_round_trips_messages_and_legacy_json(lookup: ConfluentClientLookup) -> None:
    schema = handler_for(SchemaType.PROTOBUF).parse(PROTO_TEXT, [])
    assert isinstance(schema, ProtobufSchema)
    message_class = schema.message_class([1])
    lookup.client.register_schema("datanexus.clickstream.PageView", Schema(PROTO_TEXT, "PROTOBUF"))
    register_codec(lookup, name="dn-protobuf-test")
    page = message_class(url="/home", count=7)
    data = codecs.dumps("dn-protobuf-test", page)
    assert data[0] == 0 and data[5:7] == b"\x02\x02"
    decoded = codecs.loads("dn-protobuf-test", data)
    assert decoded.DESCRIPTOR.full_name == "datanexus.clickstream.PageView"
    assert (decoded.url, decoded.count) == ("/home", 7)
    assert codecs.loads("dn-protobuf-test", b'{"url": "/old"}') == {"url": "/old"}
