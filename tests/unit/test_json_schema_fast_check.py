"""The keyword-by-keyword metaschema check agrees with jsonschema's ``check_schema``."""

from __future__ import annotations

import json

import jsonschema
import pytest

from schemas.formats import handler_for
from schemas.formats.json_schema import _known_valid
from schemas.types import SchemaError, SchemaType

VALID = [
    True,
    {},
    {"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]},
    {"type": ["string", "null"], "pattern": "^a+$", "maxLength": 3, "format": "email"},
    {"definitions": {"p": {"type": "number", "minimum": 0}}, "items": {"$ref": "#/definitions/p"}},
    {"properties": {"a": {"properties": {"b": {"enum": [1, "x", None]}}}}, "x-custom": 5},
    {"oneOf": [{"type": "string"}, {"type": "integer"}], "additionalProperties": False},
]
INVALID = [
    {"type": "strin"},
    {"properties": {"a": {"type": 5}}},
    {"required": "a"},
    {"minLength": -1},
    {"pattern": "("},
    {"definitions": {"x": {"enum": 5}}},
    {"properties": {"a": {"items": {"type": "nope"}}}},
    {"properties": {"a": {"type": "string"}, "b": []}},
    {"properties": []},
]


@pytest.mark.parametrize("document", VALID, ids=[json.dumps(d)[:40] for d in VALID])
def test_valid_documents_pass_both_checks(document: object) -> None:
    jsonschema.Draft7Validator.check_schema(document)
    assert _known_valid(document) and _known_valid(document)  # again from the memo


@pytest.mark.parametrize("document", INVALID, ids=[json.dumps(d)[:40] for d in INVALID])
def test_invalid_documents_are_never_known_valid(document: object) -> None:
    for valid in VALID:  # fill the memo with neighbours first
        _known_valid(valid)
    assert not _known_valid(document)
    with pytest.raises(SchemaError):
        handler_for(SchemaType.JSON).parse(json.dumps(document), [])
