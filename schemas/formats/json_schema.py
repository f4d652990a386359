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


_DRAFT7 = jsonschema.Draft7Validator
_META: dict[str, Any] = _DRAFT7.META_SCHEMA
_META_KEYWORDS: dict[str, Any] = _META.get("properties", {})
_SCHEMA_MAP = {"type": "object", "additionalProperties": {"$ref": "#"}, "default": {}}
# The draft-07 metaschema constrains each keyword on its own (no required/dependencies at the
# root), so a document is valid iff each keyword's value is; ``properties``/``definitions`` are
# maps of schemas. If a jsonschema release changes that shape, every check takes the full path.
_DECOMPOSABLE = set(_META) <= {"$schema", "$id", "title", "definitions", "type", "properties"} | {
    "default"
} and _META.get("type") == ["object", "boolean"]
_SCHEMA_MAPS = {k for k in ("properties", "definitions") if _META_KEYWORDS.get(k) == _SCHEMA_MAP}
_VALID_KEYWORDS: set[tuple[str, str]] = set()
_MAX_MEMO = 50_000


@functools.cache
def _meta_validator() -> Validator:
    return _DRAFT7(_META, format_checker=_DRAFT7.FORMAT_CHECKER)


def _known_valid(document: Any) -> bool:
    """True if ``document`` passes the draft-07 metaschema, checked keyword by keyword with a
    memo of keyword values already found valid (a new schema version mostly repeats the last
    one's). False means "run the full check", which also produces the error message."""
    if isinstance(document, bool):
        return True
    if not isinstance(document, dict) or not _DECOMPOSABLE:
        return False
    for keyword, value in document.items():
        if keyword in _SCHEMA_MAPS:
            if not isinstance(value, dict) or not all(map(_known_valid, value.values())):
                return False
        elif keyword in _META_KEYWORDS:
            key = (keyword, json.dumps(value, sort_keys=True))
            if key not in _VALID_KEYWORDS:
                subschema = _META_KEYWORDS[keyword]
                if (
                    next(_meta_validator().descend(value, subschema, path=keyword), None)
                    is not None
                ):
                    return False
                if len(_VALID_KEYWORDS) >= _MAX_MEMO:
                    _VALID_KEYWORDS.clear()
                _VALID_KEYWORDS.add(key)
    return True


def _check(document: Any, what: str) -> None:
    if not isinstance(document, dict | bool):
        raise SchemaError(f"Invalid JSON schema{what}: must be an object or a boolean")
    cls = jsonschema.validators.validator_for(document, default=jsonschema.Draft7Validator)
    if cls is _DRAFT7 and _known_valid(document):
        return
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
