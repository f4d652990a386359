"""AVRO handler: fastavro parsing, named types from references, Avro resolution rules."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from schemas.types import ParsedSchema, ResolvedReference, SchemaError, SchemaType


class AvroSchema:
    """A parsed Avro schema; ``named`` maps full names to their (parsed) definitions."""

    schema_type = SchemaType.AVRO

    def __init__(self, raw: Any, parsed: Any, named: dict[str, Any]) -> None:
        self.raw = raw
        self.parsed = parsed
        self.named = named

    @functools.cached_property
    def _canonical(self) -> str:
        return json.dumps(self.raw, sort_keys=True, separators=(",", ":"))

    def canonical(self) -> str:
        return self._canonical

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AvroSchema) and other.canonical() == self.canonical()

    def __hash__(self) -> int:
        return hash(self.canonical())


def _load(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        stripped = text.strip()
        if stripped and not stripped.startswith(("{", "[", '"')):
            return stripped  # a bare primitive name such as ``string``
        raise


def _register_references(references: Sequence[ResolvedReference], named: dict[str, Any]) -> None:
    for ref in references:
        _register_references(ref.references, named)
        try:
            fastavro.parse_schema(_load(ref.schema), named_schemas=named)
        except (SchemaParseException, UnknownType, json.JSONDecodeError, TypeError) as exc:
            raise SchemaError(f"Invalid Avro reference '{ref.name}': {exc}") from exc


class AvroHandler:
    schema_type = SchemaType.AVRO

    def parse(self, text: str, references: Sequence[ResolvedReference]) -> AvroSchema:
        named: dict[str, Any] = {}
        _register_references(references, named)
        try:
            raw = _load(text)
            parsed = fastavro.parse_schema(raw, named_schemas=named)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"Invalid Avro schema: not JSON ({exc})") from exc
        except (SchemaParseException, UnknownType, TypeError, KeyError, ValueError) as exc:
            raise SchemaError(f"Invalid Avro schema: {exc}") from exc
        return AvroSchema(raw, parsed, named)

    def incompatibilities(self, reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
        from schemas.formats.avro_compat import avro_incompatibilities

        if not isinstance(reader, AvroSchema) or not isinstance(writer, AvroSchema):
            return ["Schema types differ: cannot compare AVRO with another type"]
        return avro_incompatibilities(reader, writer)
