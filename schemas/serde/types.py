"""What the serdes need from a registry: the in-process service or an HTTP client.

Kept synchronous on purpose: Faust codecs and Kafka client serializers are synchronous, and
every implementation caches by id so only the first record of a schema pays for a lookup.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from schemas.types import ParsedSchema, SchemaReference, SchemaType


@dataclass(frozen=True)
class SchemaText:
    """A schema as submitted to the registry (text plus named references)."""

    schema_type: SchemaType
    text: str
    references: tuple[SchemaReference, ...] = field(default_factory=tuple)


class SchemaLookup(Protocol):
    def schema_by_id(self, schema_id: int) -> ParsedSchema:
        """The parsed schema with this global id (raises ``KeyError`` if unknown)."""
        ...

    def id_for(self, subject: str, schema: SchemaText, register: bool) -> int:
        """The id of ``schema`` under ``subject``; registers it first when ``register``."""
        ...

    def latest(self, subject: str) -> tuple[int, ParsedSchema] | None:
        """The latest (id, schema) of ``subject``, or ``None`` if it has no versions."""
        ...


def topic_subject(topic: str, is_key: bool = False) -> str:
    """Confluent's default TopicNameStrategy."""
    return f"{topic}-{'key' if is_key else 'value'}"
