"""Avro schema resolution (reader/writer) as in the Avro specification.

Messages follow Confluent's error types (``READER_FIELD_MISSING_DEFAULT_VALUE``,
``TYPE_MISMATCH``, ``MISSING_ENUM_SYMBOLS``, ``NAME_MISMATCH``, ``FIXED_SIZE_MISMATCH``,
``MISSING_UNION_BRANCH``) with the JSON path of the offending node.
"""

from __future__ import annotations

from typing import Any

from schemas.formats.avro import AvroSchema

_PROMOTIONS = {
    "int": {"int", "long", "float", "double"},
    "long": {"long", "float", "double"},
    "float": {"float", "double"},
    "string": {"string", "bytes"},
    "bytes": {"bytes", "string"},
}
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class _Resolver:
    def __init__(self, reader: AvroSchema, writer: AvroSchema) -> None:
        self.reader_named = reader.named
        self.writer_named = writer.named
        self.messages: list[str] = []
        self.visited: set[tuple[str, str]] = set()

    def _deref(self, schema: Any, named: dict[str, Any]) -> Any:
        if isinstance(schema, str) and schema not in _PRIMITIVES:
            return named.get(schema, schema)
        if isinstance(schema, dict) and schema.get("type") in _PRIMITIVES:
            return schema["type"]  # logical types resolve through their underlying type
        return schema

    @staticmethod
    def _type_of(schema: Any) -> str:
        if isinstance(schema, list):
            return "union"
        if isinstance(schema, dict):
            return str(schema["type"])
        return str(schema)

    def fail(self, kind: str, path: str, reason: str) -> None:
        self.messages.append(f"{kind} at '{path or '/'}': {reason}")

    def check(self, reader: Any, writer: Any, path: str) -> bool:
        """True when ``writer`` data resolves against ``reader``; records failures."""
        reader = self._deref(reader, self.reader_named)
        writer = self._deref(writer, self.writer_named)
        r_type, w_type = self._type_of(reader), self._type_of(writer)
        if w_type == "union":
            ok = True
            for index, branch in enumerate(writer):
                ok = self.check(reader, branch, f"{path}/{index}") and ok
            return ok
        if r_type == "union":
            for branch in reader:
                saved, visited = self.messages, set(self.visited)
                self.messages = []
                ok = self.check(branch, writer, path)
                self.messages = saved
                if ok:
                    return True
                self.visited = visited
            self.fail("MISSING_UNION_BRANCH", path, f"reader union lacks a branch for '{w_type}'")
            return False
        if w_type in _PRIMITIVES or r_type in _PRIMITIVES:
            if r_type in _PROMOTIONS.get(w_type, {w_type}):
                return True
            self.fail("TYPE_MISMATCH", path, f"reader type '{r_type}' cannot read '{w_type}'")
            return False
        if r_type != w_type:
            self.fail("TYPE_MISMATCH", path, f"reader type '{r_type}' cannot read '{w_type}'")
            return False
        if r_type in ("record", "enum", "fixed") and not self._names_match(reader, writer, path):
            return False
        if r_type == "record":
            return self._record(reader, writer, path)
        if r_type == "enum":
            missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
            if missing and "default" not in reader:
                self.fail("MISSING_ENUM_SYMBOLS", f"{path}/symbols", f"reader lacks {missing}")
                return False
            return True
        if r_type == "fixed":
            if reader["size"] != writer["size"]:
                self.fail(
                    "FIXED_SIZE_MISMATCH",
                    f"{path}/size",
                    f"expected {writer['size']}, found {reader['size']}",
                )
                return False
            return True
        if r_type == "array":
            return self.check(reader["items"], writer["items"], f"{path}/items")
        if r_type == "map":
            return self.check(reader["values"], writer["values"], f"{path}/values")
        return True

    @staticmethod
    def _short(name: str) -> str:
        return name.rsplit(".", 1)[-1]

    def _names_match(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> bool:
        names = {self._short(reader["name"])} | {self._short(a) for a in reader.get("aliases", [])}
        if self._short(writer["name"]) in names:
            return True
        self.fail(
            "NAME_MISMATCH",
            f"{path}/name",
            f"expected {writer['name']}, found {reader['name']}",
        )
        return False

    def _record(self, reader: dict[str, Any], writer: dict[str, Any], path: str) -> bool:
        key = (str(reader["name"]), str(writer["name"]))
        if key in self.visited:
            return True
        self.visited.add(key)
        writer_fields = {f["name"]: f for f in writer["fields"]}
        ok = True
        for index, field in enumerate(reader["fields"]):
            candidates = [field["name"], *field.get("aliases", [])]
            match = next((writer_fields[n] for n in candidates if n in writer_fields), None)
            field_path = f"{path}/fields/{index}"
            if match is None:
                if "default" not in field:
                    self.fail(
                        "READER_FIELD_MISSING_DEFAULT_VALUE",
                        field_path,
                        f"field '{field['name']}' has no default value "
                        "and is missing in the writer schema",
                    )
                    ok = False
                continue
            ok = self.check(field["type"], match["type"], f"{field_path}/type") and ok
        return ok


def avro_incompatibilities(reader: AvroSchema, writer: AvroSchema) -> list[str]:
    resolver = _Resolver(reader, writer)
    resolver.check(reader.parsed, writer.parsed, "")
    return resolver.messages
