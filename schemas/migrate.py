"""JSON Schema -> protobuf migration.

``json_schema_to_proto`` converts one document; ``migrate_subjects`` converts and registers many
subjects, reporting every construct that protobuf cannot express exactly (constraints, formats,
nullability, mixed unions) so a person can review them before producers switch over.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from schemas.serde.types import SchemaText
from schemas.types import SchemaType

_SCALARS = {"string": "string", "integer": "int64", "number": "double", "boolean": "bool"}
_CONSTRAINTS = (
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength",
    "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "minProperties",
    "maxProperties", "patternProperties", "const", "not", "if", "dependencies",
)  # fmt: skip
_TIMESTAMP = "google.protobuf.Timestamp"
_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_IMPORTS = {_TIMESTAMP: "google/protobuf/timestamp.proto", _STRUCT: "google/protobuf/struct.proto",
            _VALUE: "google/protobuf/struct.proto"}  # fmt: skip


def _camel(name: str) -> str:
    parts = re.split(r"[^0-9A-Za-z]+", name)
    result = "".join(p[:1].upper() + p[1:] for p in parts if p) or "Unnamed"
    return result if result[0].isalpha() else f"M{result}"


def _snake(name: str) -> str:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower() or "field"
    return text if text[0].isalpha() else f"f_{text}"


def _enum_constant(value: Any) -> str:
    return re.sub(r"[^0-9A-Za-z]+", "_", str(value)).strip("_").upper() or "EMPTY"


@dataclass
class _Message:
    name: str
    lines: list[str] = field(default_factory=list)
    nested: list[_Message] = field(default_factory=list)
    enums: list[list[str]] = field(default_factory=list)

    def render(self, depth: int) -> list[str]:
        pad = "  " * depth
        out = [f"{pad}message {self.name} {{"]
        out += [f"{pad}  {line}" for line in self.lines]
        for enum in self.enums:
            out += [f"{pad}  {line}" for line in enum]
        for nested in self.nested:
            out += nested.render(depth + 1)
        return [*out, f"{pad}}}"]


class _Converter:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.notes: list[str] = []
        self.imports: set[str] = set()
        self.top_level: list[_Message] = []
        self.refs: dict[str, str] = {}

    def note(self, path: str, text: str) -> None:
        self.notes.append(f"{path}: {text}")

    def _deref(self, schema: Any, path: str) -> tuple[Any, str | None]:
        if isinstance(schema, Mapping) and "$ref" in schema:
            ref = str(schema["$ref"])
            if not ref.startswith("#/"):
                self.note(path, f"external $ref '{ref}' mapped to google.protobuf.Value")
                return None, None
            if ref not in self.refs:
                target: Any = self.root
                for part in ref[2:].split("/"):
                    target = target.get(part, {})
                name = _camel(ref.rsplit("/", 1)[-1])
                self.refs[ref] = name
                message = _Message(name)
                self.top_level.append(message)
                self.fill(message, target, ref)
            return schema, self.refs[ref]
        return schema, None

    def field_type(self, owner: _Message, name: str, schema: Any, path: str) -> tuple[str, str]:
        """(label prefix, type) for a property; may add nested messages/enums to ``owner``."""
        schema, ref_name = self._deref(schema, path)
        if ref_name:
            return "", ref_name
        if not isinstance(schema, Mapping) or not schema:
            self.note(path, "schema without a type mapped to google.protobuf.Value")
            return "", self._use(_VALUE)
        for keyword in _CONSTRAINTS:
            if keyword in schema:
                self.note(path, f"'{keyword}' is not enforced by protobuf")
        types = schema.get("type")
        nullable = False
        if isinstance(types, list):
            nullable = "null" in types
            types = [t for t in types if t != "null"]
            if nullable:
                self.note(path, "nullable: null is read as the field being absent")
            if len(types) > 1:
                self.note(path, f"mixed types {types} mapped to google.protobuf.Value")
                return "", self._use(_VALUE)
            types = types[0] if types else None
        if "enum" in schema:
            return "", self._enum(owner, name, schema["enum"], path)
        if "oneOf" in schema or "anyOf" in schema:
            self.note(path, "oneOf/anyOf mapped to google.protobuf.Value")
            return "", self._use(_VALUE)
        if types == "array":
            items = schema.get("items", {})
            _, item_type = self.field_type(owner, name, items, f"{path}/items")
            if item_type.startswith("repeated ") or item_type.startswith("map<"):
                self.note(path, "nested arrays/maps wrapped in a message")
                wrapper = _Message(_camel(name) + "Item")
                wrapper.lines.append(f"{item_type} values = 1;")
                owner.nested.append(wrapper)
                item_type = wrapper.name
            return "repeated ", item_type
        if types == "object" or "properties" in schema:
            props = schema.get("properties")
            extra = schema.get("additionalProperties", True)
            if not props and isinstance(extra, Mapping) and extra:
                _, value_type = self.field_type(owner, name, extra, f"{path}/additionalProperties")
                if value_type.startswith(("repeated ", "map<")) or value_type == _VALUE:
                    return "", self._use(_STRUCT)
                return "", f"map<string, {value_type}>"
            if not props:
                self.note(path, "free-form object mapped to google.protobuf.Struct")
                return "", self._use(_STRUCT)
            nested = _Message(_camel(name))
            owner.nested.append(nested)
            self.fill(nested, schema, path)
            return "", nested.name
        if types == "string":
            fmt = schema.get("format")
            if fmt == "date-time":
                self.note(path, "format date-time mapped to google.protobuf.Timestamp")
                return "", self._use(_TIMESTAMP)
            if fmt:
                self.note(path, f"format '{fmt}' kept as string (not validated by protobuf)")
            return "optional " if nullable else "", "string"
        if isinstance(types, str) and types in _SCALARS:
            return "optional " if nullable else "", _SCALARS[types]
        self.note(path, f"type {types!r} mapped to google.protobuf.Value")
        return "", self._use(_VALUE)

    def _use(self, well_known: str) -> str:
        self.imports.add(_IMPORTS[well_known])
        return well_known

    def _enum(self, owner: _Message, name: str, values: Sequence[Any], path: str) -> str:
        if not all(isinstance(v, str) for v in values):
            self.note(path, "non-string enum mapped to google.protobuf.Value")
            return self._use(_VALUE)
        enum_name = _camel(name)
        prefix = _enum_constant(_snake(name))
        lines = [f"enum {enum_name} {{", f"  {prefix}_UNSPECIFIED = 0;"]
        for number, value in enumerate(values, start=1):
            constant = f"{prefix}_{_enum_constant(value)}"
            lines.append(f"  {constant} = {number};")
        lines.append("}")
        owner.enums.append(lines)
        self.note(path, f"enum values become {prefix}_<VALUE> constants (JSON strings differ)")
        return enum_name

    def fill(self, message: _Message, schema: Mapping[str, Any], path: str) -> None:
        required = set(schema.get("required", []))
        if schema.get("additionalProperties", True) is not False:
            self.note(path, "open content model: unknown properties are dropped")
        for number, (prop, prop_schema) in enumerate(schema.get("properties", {}).items(), 1):
            prop_path = f"{path}/properties/{prop}"
            label, kind = self.field_type(message, prop, prop_schema, prop_path)
            is_scalar = kind in _SCALARS.values() or kind in {
                e[0].split()[1] for e in message.enums
            }
            if not label and prop not in required and is_scalar:
                label = "optional "
            field_name = _snake(prop)
            option = ""
            if field_name != prop:
                option = f' [json_name = "{prop}"]'
                self.note(prop_path, f"renamed to '{field_name}' (json_name keeps '{prop}')")
            message.lines.append(f"{label}{kind} {field_name} = {number}{option};")


def json_schema_to_proto(
    schema: Mapping[str, Any], message_name: str | None = None, package: str = "datanexus"
) -> tuple[str, list[str]]:
    """Convert a JSON Schema object to ``.proto`` text; returns (text, report notes)."""
    converter = _Converter(schema)
    name = _camel(message_name or str(schema.get("title", "Record")))
    root = _Message(name)
    if schema.get("type", "object") != "object":
        raise ValueError("only object schemas can become protobuf messages")
    converter.fill(root, schema, "#")
    lines = ['syntax = "proto3";', f"package {package};"]
    lines += [f'import "{path}";' for path in sorted(converter.imports)]
    for message in (root, *converter.top_level):
        lines += message.render(0)
    return "\n".join(lines) + "\n", converter.notes


class SubjectRegistry(Protocol):
    def latest_schema(self, subject: str) -> SchemaText | None: ...

    def register(self, subject: str, schema: SchemaText) -> int: ...


@dataclass
class MigrationResult:
    subject: str
    target_subject: str
    proto: str = ""
    notes: list[str] = field(default_factory=list)
    schema_id: int | None = None
    error: str | None = None


def migrate_subjects(
    registry: SubjectRegistry,
    subjects: Sequence[str],
    progress: Callable[[int, int, str], None] | None = None,
    target_subject: Callable[[str], str] = lambda subject: subject,
    package: str = "datanexus",
    dry_run: bool = False,
) -> list[MigrationResult]:
    """Convert each JSON subject's latest schema and register it under ``target_subject``.

    Registering protobuf under the same subject needs that subject's compatibility to allow a
    type change (e.g. NONE) — otherwise pass a ``target_subject`` mapping.
    """
    results = []
    for done, subject in enumerate(subjects, start=1):
        result = MigrationResult(subject, target_subject(subject))
        try:
            latest = registry.latest_schema(subject)
            if latest is None or latest.schema_type != SchemaType.JSON:
                raise ValueError("no JSON Schema version to migrate")
            result.proto, result.notes = json_schema_to_proto(
                json.loads(latest.text), _camel(subject.removesuffix("-value")), package
            )
            if not dry_run:
                text = SchemaText(SchemaType.PROTOBUF, result.proto)
                result.schema_id = registry.register(result.target_subject, text)
        except Exception as exc:  # one bad subject must not stop the batch; it is reported
            result.error = f"{type(exc).__name__}: {exc}"
        results.append(result)
        if progress is not None:
            progress(done, len(subjects), subject)
    return results


def format_report(results: Sequence[MigrationResult]) -> str:
    """Markdown report: per subject, the id it got and everything not mapped exactly."""
    lines = ["# JSON Schema -> protobuf migration report", ""]
    for result in results:
        status = f"error: {result.error}" if result.error else f"id {result.schema_id}"
        lines.append(f"## {result.subject} -> {result.target_subject} ({status})")
        lines += [f"- {note}" for note in result.notes] or ["- mapped exactly"]
        lines.append("")
    return "\n".join(lines)


class ConfluentSubjectRegistry:
    """``SubjectRegistry`` over confluent-kafka's ``SchemaRegistryClient`` (HTTP or mock)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def latest_schema(self, subject: str) -> SchemaText | None:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            registered = self.client.get_latest_version(subject)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                return None
            raise
        schema = registered.schema
        return SchemaText(SchemaType(schema.schema_type or "AVRO"), schema.schema_str or "")

    def register(self, subject: str, schema: SchemaText) -> int:
        from confluent_kafka.schema_registry import Schema

        return int(self.client.register_schema(subject, Schema(schema.text, schema.schema_type)))
