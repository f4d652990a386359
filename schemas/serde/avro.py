"""Avro serdes: fastavro schemaless binary after the 5-byte Confluent header."""

from __future__ import annotations

import io
from typing import Any

from fastavro import schemaless_reader, schemaless_writer

from schemas.formats.avro import AvroHandler, AvroSchema
from schemas.serde.types import SchemaLookup, SchemaText
from schemas.types import SchemaError, SchemaType
from schemas.wire import HEADER_SIZE, decode_schema_id, encode_header


class AvroSerializer:
    def __init__(self, lookup: SchemaLookup, schema_text: str, auto_register: bool = True) -> None:
        self.lookup = lookup
        self.schema_text = schema_text
        self.auto_register = auto_register
        self.schema = AvroHandler().parse(schema_text, [])
        self._headers: dict[str, bytes] = {}

    def serialize(self, subject: str, record: Any) -> bytes:
        header = self._headers.get(subject)
        if header is None:
            schema_id = self.lookup.id_for(
                subject, SchemaText(SchemaType.AVRO, self.schema_text), self.auto_register
            )
            header = self._headers[subject] = encode_header(schema_id)
        out = io.BytesIO()
        out.write(header)
        schemaless_writer(out, self.schema.parsed, record)
        return out.getvalue()


class AvroDeserializer:
    """Reads with the writer's schema, resolved into ``reader_schema`` when one is given."""

    def __init__(self, lookup: SchemaLookup, reader_schema: str | None = None) -> None:
        self.lookup = lookup
        self.reader = AvroHandler().parse(reader_schema, []) if reader_schema else None

    def deserialize(self, data: bytes) -> Any:
        schema_id = decode_schema_id(data)
        writer = self.lookup.schema_by_id(schema_id)
        if not isinstance(writer, AvroSchema):
            raise SchemaError(f"Schema {schema_id} is {writer.schema_type}, not AVRO")
        reader = self.reader.parsed if self.reader else None
        return schemaless_reader(io.BytesIO(data[HEADER_SIZE:]), writer.parsed, reader)
