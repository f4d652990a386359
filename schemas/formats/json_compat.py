"""JSON Schema compatibility, after Confluent's open/closed content-model rules.

Every record valid under the writer (old) schema must be valid under the reader (new) one. A
closed object (``additionalProperties: false``) never carries unknown properties, so adding a
property to it is safe; an open one may carry anything, so adding a typed property is not,
unless an empty schema or the old ``additionalProperties`` schema already covers it.
"""

from __future__ import annotations

from typing import Any

from schemas.formats.json_schema import JsonSchema

_BOUNDS_LOWER = ("minLength", "minimum", "exclusiveMinimum", "minItems", "minProperties")
_BOUNDS_UPPER = ("maxLength", "maximum", "exclusiveMaximum", "maxItems", "maxProperties")
_ALL_TYPES = frozenset({"null", "boolean", "object", "array", "number", "string", "integer"})


class _Diff:
    def __init__(self, reader: JsonSchema, writer: JsonSchema) -> None:
        self.roots = {"reader": reader.document, "writer": writer.document}
        self.messages: list[str] = []
        self.visited: set[tuple[int, int]] = set()

    def add(self, kind: str, path: str, reason: str) -> None:
        self.messages.append(f"{kind} at '{path or '#/'}': {reason}")

    def _resolve(self, schema: Any, side: str) -> Any:
        seen = 0
        while isinstance(schema, dict) and "$ref" in schema and seen < 32:
            ref = str(schema["$ref"])
            if not ref.startswith("#"):
                return schema
            node: Any = self.roots[side]
            for part in [p for p in ref[1:].split("/") if p]:
                node = node.get(part.replace("~1", "/").replace("~0", "~"), {})
            schema, seen = node, seen + 1
        return schema

    @staticmethod
    def _types(schema: dict[str, Any]) -> frozenset[str]:
        declared = schema.get("type")
        if declared is None:
            return _ALL_TYPES
        names = {declared} if isinstance(declared, str) else set(declared)
        if "number" in names:
            names.add("integer")
        return frozenset(names)

    @staticmethod
    def _is_open(schema: dict[str, Any]) -> bool | dict[str, Any]:
        extra = schema.get("additionalProperties", True)
        if extra is True or extra == {}:
            return True
        if extra is False:
            return False
        return dict(extra) if isinstance(extra, dict) else True

    def compare(self, writer: Any, reader: Any, path: str) -> None:
        writer, reader = self._resolve(writer, "writer"), self._resolve(reader, "reader")
        key = (id(writer), id(reader))
        if key in self.visited:
            return
        self.visited.add(key)
        if reader is True or reader == {}:
            return
        if reader is False:
            if writer is not False:
                self.add("SCHEMA_NARROWED", path, "new schema accepts nothing")
            return
        if writer is False:
            return
        if writer is True:
            writer = {}
        self._compare_types(writer, reader, path)
        self._compare_enum(writer, reader, path)
        self._compare_bounds(writer, reader, path)
        if "pattern" in reader and reader.get("pattern") != writer.get("pattern"):
            kind = "PATTERN_CHANGED" if "pattern" in writer else "PATTERN_ADDED"
            self.add(kind, f"{path}/pattern", f"pattern '{reader['pattern']}' restricts old data")
        if "object" in self._types(reader) and (
            "properties" in reader or "properties" in writer or "additionalProperties" in reader
        ):
            self._compare_object(writer, reader, path)
        if "items" in reader and isinstance(reader["items"], dict):
            self.compare(writer.get("items", True), reader["items"], f"{path}/items")
        for keyword in ("anyOf", "oneOf"):
            if keyword in reader:
                self._compare_combined(writer, reader, keyword, path)

    def _compare_types(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> None:
        old, new = self._types(writer), self._types(reader)
        if old <= new:
            return
        kind = "TYPE_NARROWED" if new < old else "TYPE_CHANGED"
        self.add(kind, f"{path}/type", f"type changed from {sorted(old)} to {sorted(new)}")

    def _compare_enum(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> None:
        if "enum" not in reader:
            return
        if "enum" not in writer:
            self.add("ENUM_ARRAY_ADDED", f"{path}/enum", "values are now restricted to an enum")
            return
        removed = [v for v in writer["enum"] if v not in reader["enum"]]
        if removed:
            self.add("ENUM_ARRAY_NARROWED", f"{path}/enum", f"values {removed} were removed")

    def _compare_bounds(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> None:
        for keyword in _BOUNDS_LOWER + _BOUNDS_UPPER:
            if keyword not in reader or isinstance(reader[keyword], bool):
                continue
            name = keyword.upper()
            if keyword not in writer:
                self.add(f"{name}_ADDED", f"{path}/{keyword}", f"new bound {reader[keyword]}")
                continue
            tighter = (
                reader[keyword] > writer[keyword]
                if keyword in _BOUNDS_LOWER
                else reader[keyword] < writer[keyword]
            )
            if tighter:
                verb = "INCREASED" if keyword in _BOUNDS_LOWER else "DECREASED"
                self.add(
                    f"{name}_{verb}",
                    f"{path}/{keyword}",
                    f"bound changed from {writer[keyword]} to {reader[keyword]}",
                )

    def _covers(self, writer_schema: Any, reader_schema: Any, path: str) -> bool:
        saved, self.messages = self.messages, []
        self.compare(writer_schema, reader_schema, path)
        ok = not self.messages
        self.messages = saved
        return ok

    def _compare_object(self, writer: dict[str, Any], reader: dict[str, Any], path: str) -> None:
        old_props: dict[str, Any] = writer.get("properties", {})
        new_props: dict[str, Any] = reader.get("properties", {})
        old_open, new_open = self._is_open(writer), self._is_open(reader)
        for name, new_schema in new_props.items():
            prop_path = f"{path}/properties/{name}"
            if name in old_props:
                self.compare(old_props[name], new_schema, prop_path)
            elif old_open is True and not (new_schema is True or new_schema == {}):
                self.add(
                    "PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL",
                    prop_path,
                    f"property '{name}' added while the old schema allowed any extra property",
                )
            elif isinstance(old_open, dict) and not self._covers(old_open, new_schema, prop_path):
                self.add(
                    "PROPERTY_ADDED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                    prop_path,
                    f"property '{name}' does not accept what additionalProperties allowed",
                )
        for name, old_schema in old_props.items():
            if name in new_props:
                continue
            prop_path = f"{path}/properties/{name}"
            if new_open is False:
                self.add(
                    "PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL",
                    prop_path,
                    f"property '{name}' removed from a schema without additionalProperties",
                )
            elif isinstance(new_open, dict) and not self._covers(old_schema, new_open, prop_path):
                self.add(
                    "PROPERTY_REMOVED_NOT_COVERED_BY_PARTIALLY_OPEN_CONTENT_MODEL",
                    prop_path,
                    f"property '{name}' is not accepted by additionalProperties",
                )
        if old_open is not False and new_open is False:
            self.add(
                "ADDITIONAL_PROPERTIES_REMOVED",
                f"{path}/additionalProperties",
                "extra properties are no longer allowed",
            )
        elif old_open is True and isinstance(new_open, dict):
            self.add(
                "ADDITIONAL_PROPERTIES_NARROWED",
                f"{path}/additionalProperties",
                "extra properties are now restricted by a schema",
            )
        elif isinstance(old_open, dict) and isinstance(new_open, dict):
            self.compare(old_open, new_open, f"{path}/additionalProperties")
        old_required = set(writer.get("required", []))
        for name in reader.get("required", []):
            if name in old_required:
                continue
            has_default = isinstance(new_props.get(name), dict) and "default" in new_props[name]
            if name in old_props:
                self.add(
                    "REQUIRED_ATTRIBUTE_ADDED",
                    f"{path}/required",
                    f"existing property '{name}' became required",
                )
            elif not has_default:
                self.add(
                    "REQUIRED_PROPERTY_ADDED_TO_UNOPEN_CONTENT_MODEL",
                    f"{path}/required",
                    f"required property '{name}' added without a default",
                )

    def _compare_combined(
        self, writer: dict[str, Any], reader: dict[str, Any], keyword: str, path: str
    ) -> None:
        old_branches = writer.get(keyword, writer.get("anyOf", writer.get("oneOf", [writer])))
        for index, old_branch in enumerate(old_branches):
            if not any(
                self._covers(old_branch, branch, f"{path}/{keyword}/{index}")
                for branch in reader[keyword]
            ):
                self.add(
                    "COMBINED_TYPE_SUBSCHEMAS_CHANGED",
                    f"{path}/{keyword}/{index}",
                    "a branch of the old schema is not accepted by any new branch",
                )


def json_incompatibilities(reader: JsonSchema, writer: JsonSchema) -> list[str]:
    diff = _Diff(reader, writer)
    diff.compare(writer.document, reader.document, "#")
    return diff.messages
