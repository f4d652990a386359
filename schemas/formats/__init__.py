"""Format handlers: the one place that maps a ``SchemaType`` to its handler."""

from __future__ import annotations

from schemas.formats.avro import AvroHandler, AvroSchema
from schemas.formats.json_schema import JsonSchema, JsonSchemaHandler
from schemas.formats.protobuf import ProtobufHandler, ProtobufSchema
from schemas.types import FormatHandler, SchemaType

_HANDLERS: dict[SchemaType, FormatHandler] = {
    SchemaType.PROTOBUF: ProtobufHandler(),
    SchemaType.JSON: JsonSchemaHandler(),
    SchemaType.AVRO: AvroHandler(),
}


def handler_for(schema_type: SchemaType | str) -> FormatHandler:
    """The handler for ``schema_type`` (a missing Confluent ``schemaType`` means AVRO)."""
    return _HANDLERS[SchemaType(schema_type or SchemaType.AVRO)]


__all__ = [
    "AvroSchema",
    "JsonSchema",
    "ProtobufSchema",
    "handler_for",
]
