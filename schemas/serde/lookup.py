"""``SchemaLookup`` over confluent-kafka's ``SchemaRegistryClient`` (HTTP or ``mock://``)."""

from __future__ import annotations

from typing import Any

from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from schemas.formats import handler_for
from schemas.serde.types import SchemaText
from schemas.types import ParsedSchema, ResolvedReference, SchemaType


class ConfluentClientLookup:
    """Parses schemas fetched through a Confluent client with our format handlers."""

    def __init__(self, client: SchemaRegistryClient) -> None:
        self.client = client
        self._by_id: dict[int, ParsedSchema] = {}
        self._ids: dict[tuple[str, SchemaText], int] = {}

    def _resolve(self, references: list[Any] | None) -> list[ResolvedReference]:
        resolved = []
        for ref in references or []:
            registered = self.client.get_version(ref.subject, ref.version)
            schema = registered.schema
            resolved.append(
                ResolvedReference(
                    ref.name, schema.schema_str or "", tuple(self._resolve(schema.references))
                )
            )
        return resolved

    def schema_by_id(self, schema_id: int) -> ParsedSchema:
        parsed = self._by_id.get(schema_id)
        if parsed is None:
            try:
                schema = self.client.get_schema(schema_id)
            except SchemaRegistryError as exc:
                raise KeyError(schema_id) from exc
            handler = handler_for(SchemaType(schema.schema_type or SchemaType.AVRO))
            parsed = handler.parse(schema.schema_str or "", self._resolve(schema.references))
            self._by_id[schema_id] = parsed
        return parsed

    def id_for(self, subject: str, schema: SchemaText, register: bool) -> int:
        key = (subject, schema)
        cached = self._ids.get(key)
        if cached is not None:
            return cached
        refs = [SchemaReference(r.name, r.subject, r.version) for r in schema.references]
        confluent_schema = Schema(schema.text, str(schema.schema_type), refs)
        if register:
            schema_id = int(self.client.register_schema(subject, confluent_schema))
        else:
            schema_id = int(self.client.lookup_schema(subject, confluent_schema).schema_id or 0)
        self._ids[key] = schema_id
        return schema_id

    def latest(self, subject: str) -> tuple[int, ParsedSchema] | None:
        try:
            registered = self.client.get_latest_version(subject)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise
        schema_id = int(registered.schema_id or 0)
        return schema_id, self.schema_by_id(schema_id)
