"""Interfaces shared by the registry, the format handlers and the serdes.

The registry (``schemas/registry/``) only talks to formats through these types, so adding a
schema type means adding one handler module and one entry in ``schemas/formats/__init__.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


class SchemaType(enum.StrEnum):
    """Schema types as spelled by the Confluent protocol (``schemaType``; absent means AVRO)."""

    AVRO = "AVRO"
    JSON = "JSON"
    PROTOBUF = "PROTOBUF"


class CompatibilityLevel(enum.StrEnum):
    NONE = "NONE"
    BACKWARD = "BACKWARD"
    BACKWARD_TRANSITIVE = "BACKWARD_TRANSITIVE"
    FORWARD = "FORWARD"
    FORWARD_TRANSITIVE = "FORWARD_TRANSITIVE"
    FULL = "FULL"
    FULL_TRANSITIVE = "FULL_TRANSITIVE"


class RegistryMode(enum.StrEnum):
    READWRITE = "READWRITE"
    READONLY = "READONLY"
    IMPORT = "IMPORT"


@dataclass(frozen=True)
class SchemaReference:
    """A named dependency (protobuf import path, JSON ``$ref`` URL, Avro named type)."""

    name: str
    subject: str
    version: int


@dataclass(frozen=True)
class ResolvedReference:
    """A reference with the referenced schema's text, resolved recursively by the registry."""

    name: str
    schema: str
    references: Sequence[ResolvedReference] = field(default_factory=tuple)


class SchemaError(ValueError):
    """The schema text does not parse or is not valid for its type (Confluent 42201)."""


class ParsedSchema(Protocol):
    """A schema parsed and validated by its format handler."""

    @property
    def schema_type(self) -> SchemaType: ...

    def canonical(self) -> str:
        """Normalised text: two schemas with equal canonical text get the same id."""
        ...


class FormatHandler(Protocol):
    """One per schema type: parse and check compatibility (one checker per format)."""

    schema_type: SchemaType

    def parse(self, text: str, references: Sequence[ResolvedReference]) -> ParsedSchema: ...

    def incompatibilities(self, reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
        """Why data written with ``writer`` cannot be read with ``reader`` (empty: compatible)."""
        ...


CompatibilityMessages = list[str]
SchemaById = Mapping[int, ParsedSchema]
