"""Table-driven compatibility suite: every change, every format, every level.

Each row states whether the change is backward compatible (new schema reads old data) and
forward compatible (old schema reads new data); the expectation for each level follows from
those two facts, and one of the error types named in the row ("|"-separated) must be reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from schemas.compat import check
from schemas.formats import handler_for
from schemas.types import CompatibilityLevel, ParsedSchema, SchemaType

P, J, A = SchemaType.PROTOBUF, SchemaType.JSON, SchemaType.AVRO


@dataclass(frozen=True)
class Change:
    name: str
    schema_type: SchemaType
    old: str
    new: str
    backward: bool
    forward: bool
    error: str = ""


def proto(body: str, package: str = "shop") -> str:
    return f'syntax = "proto3";\npackage {package};\n{body}\n'


def record(fields: str, name: str = "Order", extra: str = "") -> str:
    return f'{{"type": "record", "name": "{name}"{extra}, "fields": [{fields}]}}'


def obj(props: str, extra: str = "") -> str:
    return f'{{"type": "object", "properties": {{{props}}}{extra}}}'


CLOSED = ', "additionalProperties": false'
ENUM_AB = '{"type": "enum", "name": "E", "symbols": ["A", "B"]}'
ENUM_ABC = '{"type": "enum", "name": "E", "symbols": ["A", "B", "C"]}'

CHANGES = [
    # --- protobuf (Confluent SchemaDiff rules) ---
    Change(
        "pb add field",
        P,
        proto("message A { int32 x = 1; }"),
        proto("message A { int32 x = 1; string y = 2; }"),
        True,
        True,
    ),
    Change(
        "pb remove field",
        P,
        proto("message A { int32 x = 1; string y = 2; }"),
        proto("message A { int32 x = 1; }"),
        True,
        True,
    ),
    Change(
        "pb rename field",
        P,
        proto("message A { int32 x = 1; }"),
        proto("message A { int32 renamed = 1; }"),
        True,
        True,
    ),
    Change(
        "pb int32 to int64 same wire kind",
        P,
        proto("message A { int32 x = 1; }"),
        proto("message A { int64 x = 1; }"),
        True,
        True,
    ),
    Change(
        "pb string to bytes",
        P,
        proto("message A { string x = 1; }"),
        proto("message A { bytes x = 1; }"),
        True,
        True,
    ),
    Change(
        "pb enum to int32",
        P,
        proto("message A { enum E { Z = 0; } E x = 1; }"),
        proto("message A { enum E { Z = 0; } int32 x = 1; }"),
        True,
        True,
    ),
    Change(
        "pb int32 to string",
        P,
        proto("message A { int32 x = 1; }"),
        proto("message A { string x = 1; }"),
        False,
        False,
        "FIELD_SCALAR_KIND_CHANGED",
    ),
    Change(
        "pb int32 to sint32",
        P,
        proto("message A { int32 x = 1; }"),
        proto("message A { sint32 x = 1; }"),
        False,
        False,
        "FIELD_SCALAR_KIND_CHANGED",
    ),
    Change(
        "pb fixed64 to double",
        P,
        proto("message A { fixed64 x = 1; }"),
        proto("message A { double x = 1; }"),
        False,
        False,
        "FIELD_SCALAR_KIND_CHANGED",
    ),
    Change(
        "pb scalar to message",
        P,
        proto("message B {} message A { string x = 1; }"),
        proto("message B {} message A { B x = 1; }"),
        False,
        False,
        "FIELD_KIND_CHANGED",
    ),
    Change(
        "pb map value type",
        P,
        proto("message A { map<string, int32> m = 1; }"),
        proto("message A { map<string, string> m = 1; }"),
        False,
        False,
        "FIELD_SCALAR_KIND_CHANGED",
    ),
    Change(
        "pb field message type",
        P,
        proto("message B {} message C {} message A { B x = 1; }"),
        proto("message B {} message C {} message A { C x = 1; }"),
        False,
        False,
        "FIELD_NAMED_TYPE_CHANGED",
    ),
    Change(
        "pb nested message field change",
        P,
        proto("message A { message In { int32 v = 1; } In x = 1; }"),
        proto("message A { message In { string v = 1; } In x = 1; }"),
        False,
        False,
        "shop.A.In/1",
    ),
    Change(
        "pb remove message",
        P,
        proto("message A { int32 x = 1; } message B {}"),
        proto("message A { int32 x = 1; }"),
        False,
        True,
        "MESSAGE_REMOVED",
    ),
    Change(
        "pb add message",
        P,
        proto("message A { int32 x = 1; }"),
        proto("message A { int32 x = 1; } message B {}"),
        True,
        False,
        "MESSAGE_REMOVED",
    ),
    Change(
        "pb reorder messages",
        P,
        proto("message A {} message B {}"),
        proto("message B {} message A {}"),
        True,
        True,
    ),
    Change(
        "pb add enum", P, proto("message A {}"), proto("message A {} enum E { Z = 0; }"), True, True
    ),
    Change(
        "pb add enum constant",
        P,
        proto("enum E { Z = 0; } message A { E e = 1; }"),
        proto("enum E { Z = 0; Y = 1; } message A { E e = 1; }"),
        True,
        True,
    ),
    Change(
        "pb move one field into new oneof",
        P,
        proto("message A { int32 x = 1; }"),
        proto("message A { oneof o { int32 x = 1; string y = 2; } }"),
        True,
        True,
    ),
    Change(
        "pb move two fields into oneof",
        P,
        proto("message A { int32 x = 1; string y = 2; }"),
        proto("message A { oneof o { int32 x = 1; string y = 2; } }"),
        False,
        True,
        "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
    ),
    Change(
        "pb remove field from oneof",
        P,
        proto("message A { oneof o { int32 x = 1; string y = 2; } }"),
        proto("message A { oneof o { int32 x = 1; } }"),
        False,
        True,
        "ONEOF_FIELD_REMOVED",
    ),
    Change(
        "pb package change",
        P,
        proto("message A {}"),
        proto("message A {}", "other"),
        False,
        False,
        "PACKAGE_CHANGED",
    ),
    Change(
        "pb proto2 required field added",
        P,
        'syntax = "proto2";\nmessage A { optional int32 x = 1; }',
        'syntax = "proto2";\nmessage A { optional int32 x = 1; required int32 y = 2; }',
        False,
        False,
        "REQUIRED_FIELD_",
    ),
    # --- avro (schema resolution) ---
    Change(
        "avro add field with default",
        A,
        record('{"name": "a", "type": "int"}'),
        record('{"name": "a", "type": "int"}, {"name": "b", "type": "string", "default": ""}'),
        True,
        True,
    ),
    Change(
        "avro add field without default",
        A,
        record('{"name": "a", "type": "int"}'),
        record('{"name": "a", "type": "int"}, {"name": "b", "type": "string"}'),
        False,
        True,
        "READER_FIELD_MISSING_DEFAULT_VALUE",
    ),
    Change(
        "avro remove field without default",
        A,
        record('{"name": "a", "type": "int"}, {"name": "b", "type": "string"}'),
        record('{"name": "a", "type": "int"}'),
        True,
        False,
        "READER_FIELD_MISSING_DEFAULT_VALUE",
    ),
    Change(
        "avro remove field with default",
        A,
        record('{"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0}'),
        record('{"name": "a", "type": "int"}'),
        True,
        True,
    ),
    Change(
        "avro int to long",
        A,
        record('{"name": "a", "type": "int"}'),
        record('{"name": "a", "type": "long"}'),
        True,
        False,
        "TYPE_MISMATCH",
    ),
    Change(
        "avro float to double",
        A,
        record('{"name": "a", "type": "float"}'),
        record('{"name": "a", "type": "double"}'),
        True,
        False,
        "TYPE_MISMATCH",
    ),
    Change(
        "avro string to bytes",
        A,
        record('{"name": "a", "type": "string"}'),
        record('{"name": "a", "type": "bytes"}'),
        True,
        True,
    ),
    Change(
        "avro string to int",
        A,
        record('{"name": "a", "type": "string"}'),
        record('{"name": "a", "type": "int"}'),
        False,
        False,
        "TYPE_MISMATCH",
    ),
    Change(
        "avro enum symbol added",
        A,
        record(f'{{"name": "e", "type": {ENUM_AB}}}'),
        record(f'{{"name": "e", "type": {ENUM_ABC}}}'),
        True,
        False,
        "MISSING_ENUM_SYMBOLS",
    ),
    Change(
        "avro enum symbol removed",
        A,
        record(f'{{"name": "e", "type": {ENUM_ABC}}}'),
        record(f'{{"name": "e", "type": {ENUM_AB}}}'),
        False,
        True,
        "MISSING_ENUM_SYMBOLS",
    ),
    Change(
        "avro type to nullable union",
        A,
        record('{"name": "a", "type": "string"}'),
        record('{"name": "a", "type": ["null", "string"]}'),
        True,
        False,
        "TYPE_MISMATCH at '/fields/0/type/0'",
    ),
    Change(
        "avro union branch removed",
        A,
        record('{"name": "a", "type": ["null", "int", "string"]}'),
        record('{"name": "a", "type": ["null", "string"]}'),
        False,
        True,
        "MISSING_UNION_BRANCH",
    ),
    Change(
        "avro record renamed",
        A,
        record('{"name": "a", "type": "int"}'),
        record('{"name": "a", "type": "int"}', name="Purchase"),
        False,
        False,
        "NAME_MISMATCH",
    ),
    Change(
        "avro record renamed with alias",
        A,
        record('{"name": "a", "type": "int"}'),
        record('{"name": "a", "type": "int"}', name="Purchase", extra=', "aliases": ["Order"]'),
        True,
        False,
        "NAME_MISMATCH",
    ),
    Change(
        "avro field renamed with alias",
        A,
        record('{"name": "a", "type": "int"}'),
        record('{"name": "b", "type": "int", "aliases": ["a"]}'),
        True,
        False,
        "READER_FIELD_MISSING_DEFAULT_VALUE",
    ),
    Change(
        "avro array items int to long",
        A,
        record('{"name": "a", "type": {"type": "array", "items": "int"}}'),
        record('{"name": "a", "type": {"type": "array", "items": "long"}}'),
        True,
        False,
        "/items",
    ),
    Change(
        "avro fixed size",
        A,
        record('{"name": "a", "type": {"type": "fixed", "name": "F", "size": 4}}'),
        record('{"name": "a", "type": {"type": "fixed", "name": "F", "size": 8}}'),
        False,
        False,
        "FIXED_SIZE_MISMATCH",
    ),
    # --- JSON Schema (open/closed content models) ---
    Change(
        "json closed add optional property",
        J,
        obj('"a": {"type": "string"}', CLOSED),
        obj('"a": {"type": "string"}, "b": {"type": "integer"}', CLOSED),
        True,
        False,
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    ),
    Change(
        "json open add typed property",
        J,
        obj('"a": {"type": "string"}'),
        obj('"a": {"type": "string"}, "b": {"type": "integer"}'),
        False,
        True,
        "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
    ),
    Change(
        "json open add empty-schema property",
        J,
        obj('"a": {"type": "string"}'),
        obj('"a": {"type": "string"}, "b": {}'),
        True,
        True,
    ),
    Change(
        "json partially open covers added property",
        J,
        obj('"a": {"type": "string"}', ', "additionalProperties": {"type": "integer"}'),
        obj(
            '"a": {"type": "string"}, "b": {"type": "number"}',
            ', "additionalProperties": {"type": "integer"}',
        ),
        True,
        False,
        "PROPERTY_ADDED_NOT_COVERED|PROPERTY_REMOVED_NOT_COVERED",
    ),
    Change(
        "json closed remove property",
        J,
        obj('"a": {"type": "string"}, "b": {"type": "integer"}', CLOSED),
        obj('"a": {"type": "string"}', CLOSED),
        False,
        True,
        "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
    ),
    Change(
        "json optional becomes required",
        J,
        obj('"a": {"type": "string"}', CLOSED),
        obj('"a": {"type": "string"}', CLOSED + ', "required": ["a"]'),
        False,
        True,
        "REQUIRED_ATTRIBUTE_ADDED",
    ),
    Change(
        "json required property added",
        J,
        obj('"a": {"type": "string"}', CLOSED),
        obj('"a": {"type": "string"}, "b": {"type": "string"}', CLOSED + ', "required": ["b"]'),
        False,
        False,
        "REQUIRED_PROPERTY_ADDED_TO_UNOPEN|PROPERTY_REMOVED_FROM_CLOSED",
    ),
    Change(
        "json integer widened to number",
        J,
        obj('"a": {"type": "integer"}'),
        obj('"a": {"type": "number"}'),
        True,
        False,
        "TYPE_NARROWED",
    ),
    Change(
        "json string to integer",
        J,
        obj('"a": {"type": "string"}'),
        obj('"a": {"type": "integer"}'),
        False,
        False,
        "TYPE_CHANGED",
    ),
    Change(
        "json enum extended",
        J,
        obj('"a": {"enum": ["x", "y"]}'),
        obj('"a": {"enum": ["x", "y", "z"]}'),
        True,
        False,
        "ENUM_ARRAY_NARROWED",
    ),
    Change(
        "json additionalProperties closed",
        J,
        obj('"a": {"type": "string"}'),
        obj('"a": {"type": "string"}', CLOSED),
        False,
        True,
        "ADDITIONAL_PROPERTIES_REMOVED",
    ),
    Change(
        "json maxLength added",
        J,
        obj('"a": {"type": "string"}'),
        obj('"a": {"type": "string", "maxLength": 5}'),
        False,
        True,
        "MAXLENGTH_ADDED",
    ),
    Change(
        "json minimum relaxed",
        J,
        obj('"a": {"type": "integer", "minimum": 5}'),
        obj('"a": {"type": "integer", "minimum": 0}'),
        True,
        False,
        "MINIMUM_INCREASED",
    ),
    Change(
        "json array items changed",
        J,
        obj('"a": {"type": "array", "items": {"type": "string"}}'),
        obj('"a": {"type": "array", "items": {"type": "integer"}}'),
        False,
        False,
        "#/properties/a/items/type",
    ),
    Change(
        "json nested property changed",
        J,
        obj('"d": {"type": "object", "properties": {"os": {"type": "string"}}}'),
        obj('"d": {"type": "object", "properties": {"os": {"type": "boolean"}}}'),
        False,
        False,
        "#/properties/d/properties/os",
    ),
    Change(
        "json oneOf branch added",
        J,
        obj('"a": {"oneOf": [{"type": "string"}]}'),
        obj('"a": {"oneOf": [{"type": "string"}, {"type": "integer"}]}'),
        True,
        False,
        "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
    ),
]


def _parse(schema_type: SchemaType, text: str) -> ParsedSchema:
    return handler_for(schema_type).parse(text, [])


def _expected(level: CompatibilityLevel, change: Change) -> bool:
    name = level.value
    if name == "NONE":
        return True
    ok = True
    if name.startswith(("BACKWARD", "FULL")):
        ok = ok and change.backward
    if name.startswith(("FORWARD", "FULL")):
        ok = ok and change.forward
    return ok


@pytest.mark.parametrize("level", list(CompatibilityLevel))
@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_change_under_level(change: Change, level: CompatibilityLevel) -> None:
    old, new = _parse(change.schema_type, change.old), _parse(change.schema_type, change.new)
    messages = check(level, new, [old])
    assert (not messages) == _expected(level, change), messages
    if messages and change.error:
        fragments = change.error.split("|")
        assert any(f in message for f in fragments for message in messages), messages


@pytest.mark.parametrize("change", CHANGES, ids=[c.name for c in CHANGES])
def test_handler_directions_match_the_table(change: Change) -> None:
    handler = handler_for(change.schema_type)
    old, new = _parse(change.schema_type, change.old), _parse(change.schema_type, change.new)
    assert (not handler.incompatibilities(new, old)) == change.backward
    assert (not handler.incompatibilities(old, new)) == change.forward
    assert not handler.incompatibilities(old, old)


TRANSITIVE = [
    (
        A,
        "BACKWARD",
        [
            record('{"name": "a", "type": "int"}'),
            record('{"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0}'),
            record('{"name": "a", "type": "int"}, {"name": "b", "type": "int"}'),
        ],
    ),
    (
        P,
        "BACKWARD",
        [
            proto("message A { int32 x = 1; }"),
            proto("message A { }"),
            proto("message A { string x = 1; }"),
        ],
    ),
    (
        J,
        "FORWARD",
        [
            obj('"a": {"type": "string"}'),
            obj('"a": {"type": ["string", "integer"]}'),
            obj('"a": {"type": "integer"}'),
        ],
    ),
]


@pytest.mark.parametrize(("schema_type", "base", "versions"), TRANSITIVE)
def test_transitive_levels_check_every_version(
    schema_type: SchemaType, base: str, versions: list[str]
) -> None:
    *existing, new = [_parse(schema_type, text) for text in versions]
    assert check(CompatibilityLevel(base), new, existing) == []
    assert check(CompatibilityLevel(f"{base}_TRANSITIVE"), new, existing) != []
    assert check(CompatibilityLevel.FULL_TRANSITIVE, new, existing) != []
    # only the oldest version is at fault: checking the latest alone passes
    assert check(CompatibilityLevel(f"{base}_TRANSITIVE"), new, existing[1:]) == []


def test_no_existing_versions_is_always_compatible() -> None:
    schema = _parse(A, record('{"name": "a", "type": "int"}'))
    for level in CompatibilityLevel:
        assert check(level, schema, []) == []


def test_changing_schema_type_is_incompatible() -> None:
    old = _parse(J, obj('"a": {"type": "string"}'))
    new = _parse(A, record('{"name": "a", "type": "string"}'))
    assert check(CompatibilityLevel.BACKWARD, new, [old]) != []
