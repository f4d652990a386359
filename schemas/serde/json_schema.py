"""JSON Schema serdes: validate, then UTF-8 JSON after the 5-byte Confluent header."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import orjson

from schemas.formats.json_schema import JsonSchema
from schemas.serde.types import SchemaLookup, SchemaText
from schemas.types import SchemaError, SchemaType
from schemas.wire import HEADER_SIZE, decode_schema_id, encode_header


class JsonSchemaSerializer:
    def __init__(self, lookup: SchemaLookup, schema_text: str, auto_register: bool = True) -> None:
        self.lookup = lookup
        self.schema_text = schema_text
        self.auto_register = auto_register
        self.schema = JsonSchema(json.loads(schema_text), {})
        self._headers: dict[str, bytes] = {}

    def serialize(self, subject: str, record: Any) -> bytes:
        header = self._headers.get(subject)
        if header is None:
            schema_id = self.lookup.id_for(
                subject, SchemaText(SchemaType.JSON, self.schema_text), self.auto_register
            )
            header = self._headers[subject] = encode_header(schema_id)
        try:
            self.schema.validator.validate(record)
        except jsonschema.ValidationError as exc:
            raise SchemaError(
                f"Record does not match the schema of '{subject}': {exc.message}"
            ) from exc
        return header + orjson.dumps(record)


class JsonSchemaDeserializer:
    def __init__(self, lookup: SchemaLookup, validate: bool = True) -> None:
        self.lookup = lookup
        self.validate = validate

    def deserialize(self, data: bytes) -> Any:
        schema_id = decode_schema_id(data)
        record = orjson.loads(data[HEADER_SIZE:])
        if self.validate:
            schema = self.lookup.schema_by_id(schema_id)
            if not isinstance(schema, JsonSchema):
                raise SchemaError(f"Schema {schema_id} is {schema.schema_type}, not JSON")
            try:
                schema.validator.validate(record)
            except jsonschema.ValidationError as exc:
                raise SchemaError(
                    f"Record does not match schema {schema_id}: {exc.message}"
                ) from exc
        return record
