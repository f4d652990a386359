"""JSON handler: JSON Schema documents checked against their metaschema.

References are other JSON Schema documents addressed by ``$ref`` URL; the reference name is
that URL (as with Confluent), so they go into a ``referencing`` registry under their name.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import jsonschema
import referencing
from jsonschema.exceptions import SchemaError as MetaschemaError
from jsonschema.protocols import Validator
from referencing.jsonschema import DRAFT7

from schemas.types import ParsedSchema, ResolvedReference, SchemaError, SchemaType


class JsonSchema:
    """A validated JSON Schema and the documents it references."""

    schema_type = SchemaType.JSON

    def __init__(self, document: Any, referenced: dict[str, Any]) -> None:
        self.document = document
        self.referenced = referenced

    @functools.cached_property
    def _canonical(self) -> str:
        return json.dumps(self.document, sort_keys=True, separators=(",", ":"))

    def canonical(self) -> str:
        return self._canonical

    @functools.cached_property
    def validator(self) -> Validator:
        """A validator for records; ``$ref`` to referenced documents resolves offline."""
        resources = [
            (name, referencing.Resource.from_contents(doc, default_specification=DRAFT7))
            for name, doc in self.referenced.items()
        ]
        registry: referencing.Registry[Any] = referencing.Registry().with_resources(resources)
        cls = jsonschema.validators.validator_for(self.document, default=jsonschema.Draft7Validator)
        return cls(self.document, registry=registry)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsonSchema) and other.canonical() == self.canonical()

    def __hash__(self) -> int:
        return hash(self.canonical())


def _check(document: Any, what: str) -> None:
    if not isinstance(document, dict | bool):
        raise SchemaError(f"Invalid JSON schema{what}: must be an object or a boolean")
    cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft7Validator)
    try:
        cls.check_schema(document)
    except MetaschemaError as exc:
        location = "/".join(str(p) for p in exc.path) or "(root)"
        raise SchemaError(f"Invalid JSON schema{what} at {location}: {exc.message}") from exc


def _collect(references: Sequence[ResolvedReference], into: dict[str, Any]) -> None:
    for ref in references:
        _collect(ref.references, into)
        try:
            document = json.loads(ref.schema)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"Invalid JSON schema reference '{ref.name}': {exc}") from exc
        _check(document, f" reference '{ref.name}'")
        into[ref.name] = document


class JsonSchemaHandler:
    schema_type = SchemaType.JSON

    def parse(self, text: str, references: Sequence[ResolvedReference]) -> JsonSchema:
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"Invalid JSON schema: not JSON ({exc})") from exc
        _check(document, "")
        referenced: dict[str, Any] = {}
        _collect(references, referenced)
        return JsonSchema(document, referenced)

    def incompatibilities(self, reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
        from schemas.formats.json_compat import json_incompatibilities

        if not isinstance(reader, JsonSchema) or not isinstance(writer, JsonSchema):
            return ["Schema types differ: cannot compare JSON with another type"]
        return json_incompatibilities(reader, writer)
