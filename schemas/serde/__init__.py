"""Serializers/deserializers in the Confluent wire format (see ``schemas/wire.py``)."""

from __future__ import annotations

from schemas.serde.avro import AvroDeserializer, AvroSerializer
from schemas.serde.json_schema import JsonSchemaDeserializer, JsonSchemaSerializer
from schemas.serde.lookup import ConfluentClientLookup
from schemas.serde.protobuf import ProtobufDeserializer, ProtobufSerializer
from schemas.serde.records import FallbackSerializer, RecordDeserializer
from schemas.serde.types import SchemaLookup, SchemaText, topic_subject

__all__ = [
    "AvroDeserializer",
    "AvroSerializer",
    "ConfluentClientLookup",
    "FallbackSerializer",
    "JsonSchemaDeserializer",
    "JsonSchemaSerializer",
    "ProtobufDeserializer",
    "ProtobufSerializer",
    "RecordDeserializer",
    "SchemaLookup",
    "SchemaText",
    "topic_subject",
]
