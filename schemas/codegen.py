"""Code generation for registered schemas.

Python comes from protoc itself (``--python_out`` + ``--pyi_out``), fed the registered
descriptors through ``--descriptor_set_in`` so no ``.proto`` text has to be reconstructed.
TypeScript interfaces are generated here, following the proto3 JSON mapping (camelCase names,
64-bit integers as strings, enums by name), since that is the shape web clients see.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2 as pb
from grpc_tools import protoc

from schemas.formats.avro import AvroSchema
from schemas.formats.json_schema import JsonSchema
from schemas.formats.protobuf import ProtobufSchema
from schemas.formats.protobuf_compile import _PROTOC_LOCK, is_builtin
from schemas.types import ParsedSchema, SchemaError

_F = pb.FieldDescriptorProto
_TS_SCALARS = {
    _F.TYPE_DOUBLE: "number", _F.TYPE_FLOAT: "number", _F.TYPE_INT32: "number",
    _F.TYPE_UINT32: "number", _F.TYPE_SINT32: "number", _F.TYPE_FIXED32: "number",
    _F.TYPE_SFIXED32: "number", _F.TYPE_INT64: "string", _F.TYPE_UINT64: "string",
    _F.TYPE_SINT64: "string", _F.TYPE_FIXED64: "string", _F.TYPE_SFIXED64: "string",
    _F.TYPE_BOOL: "boolean", _F.TYPE_STRING: "string", _F.TYPE_BYTES: "string",
}  # fmt: skip
_TS_WELL_KNOWN = {
    ".google.protobuf.Timestamp": "string",
    ".google.protobuf.Duration": "string",
    ".google.protobuf.FieldMask": "string",
    ".google.protobuf.Struct": "{ [key: string]: unknown }",
    ".google.protobuf.Value": "unknown",
    ".google.protobuf.ListValue": "unknown[]",
    ".google.protobuf.Empty": "Record<string, never>",
    ".google.protobuf.Any": '{ "@type": string; [key: string]: unknown }',
    ".google.protobuf.StringValue": "string | null",
    ".google.protobuf.BytesValue": "string | null",
    ".google.protobuf.BoolValue": "boolean | null",
    ".google.protobuf.DoubleValue": "number | null",
    ".google.protobuf.FloatValue": "number | null",
    ".google.protobuf.Int32Value": "number | null",
    ".google.protobuf.UInt32Value": "number | null",
    ".google.protobuf.Int64Value": "string | null",
    ".google.protobuf.UInt64Value": "string | null",
}


def module_name(subject: str) -> str:
    """A Python/TypeScript-safe module name for a subject."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", subject).strip("_").lower() or "schema"
    return name if name[0].isalpha() else f"s_{name}"


def generate_python(schemas: Mapping[str, ProtobufSchema], out_dir: Path) -> list[Path]:
    """Write ``<module>_pb2.py`` and ``.pyi`` per schema (plus imported non-builtin files)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, pb.FileDescriptorProto] = {}
    targets: list[str] = []
    for subject, schema in schemas.items():
        for dep in schema.dependencies:
            if not is_builtin(dep.name):
                files.setdefault(dep.name, dep)
        main = pb.FileDescriptorProto()
        main.CopyFrom(schema.file)
        main.name = f"{module_name(subject)}.proto"
        files[main.name] = main
        targets.append(main.name)
    targets += [name for name in files if name not in targets]
    with tempfile.TemporaryDirectory(prefix="dn-codegen-") as work:
        descriptor_set = Path(work) / "in.pb"
        ordered = _dependency_order(files)
        descriptor_set.write_bytes(pb.FileDescriptorSet(file=ordered).SerializeToString())
        args = [
            "protoc",
            f"--descriptor_set_in={descriptor_set}",
            f"--python_out={out_dir}",
            f"--pyi_out={out_dir}",
            *targets,
        ]
        with _PROTOC_LOCK:
            code = protoc.main(args)
        if code != 0:
            raise SchemaError(f"protoc code generation failed (exit {code})")
    return sorted(out_dir.rglob("*_pb2.py*"))


def _dependency_order(files: Mapping[str, pb.FileDescriptorProto]) -> list[pb.FileDescriptorProto]:
    from schemas.formats.protobuf_compile import builtin_file

    ordered: list[pb.FileDescriptorProto] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        proto = files[name] if name in files else builtin_file(name)
        for dep in proto.dependency:
            visit(dep)
        ordered.append(proto)

    for name in files:
        visit(name)
    return ordered


def _ts_name(full_name: str, package: str) -> str:
    local = full_name.lstrip(".")
    if package and local.startswith(package + "."):
        local = local[len(package) + 1 :]
    return local.replace(".", "_")


class _TsWriter:
    def __init__(self, schema: ProtobufSchema) -> None:
        self.lines: list[str] = []
        self.maps: dict[str, pb.DescriptorProto] = {}
        self.packages: dict[str, str] = {}
        for proto in (*schema.dependencies, schema.file):
            prefix = f".{proto.package}" if proto.package else ""
            self._index(proto.package, proto.message_type, prefix, proto.enum_type)

    def _index(self, package: str, messages: Any, prefix: str, enums: Any = ()) -> None:
        for enum in enums:
            self.packages[f"{prefix}.{enum.name}"] = package
        for msg in messages:
            full = f"{prefix}.{msg.name}"
            self.packages[full] = package
            if msg.options.map_entry:
                self.maps[full] = msg
            self._index(package, msg.nested_type, full, msg.enum_type)

    def type_of(self, field: pb.FieldDescriptorProto) -> str:
        if field.type in _TS_SCALARS:
            return _TS_SCALARS[field.type]
        if field.type_name in _TS_WELL_KNOWN:
            return _TS_WELL_KNOWN[field.type_name]
        return _ts_name(field.type_name, self.packages.get(field.type_name, ""))

    def message(self, msg: pb.DescriptorProto, package: str, prefix: str) -> None:
        full = f"{prefix}.{msg.name}"
        if msg.options.map_entry:
            return
        self.lines.append(f"export interface {_ts_name(full, package)} {{")
        for field in msg.field:
            entry = self.maps.get(field.type_name)
            if entry is not None:
                kind = f"{{ [key: string]: {self.type_of(entry.field[1])} }}"
            else:
                kind = self.type_of(field)
                if field.label == _F.LABEL_REPEATED:
                    kind = f"Array<{kind}>"
            self.lines.append(f"  {field.json_name or field.name}?: {kind};")
        self.lines.append("}")
        self.lines.append("")
        for enum in msg.enum_type:
            self.enum(enum, package, full)
        for nested in msg.nested_type:
            self.message(nested, package, full)

    def enum(self, enum: pb.EnumDescriptorProto, package: str, prefix: str) -> None:
        names = " | ".join(f'"{v.name}"' for v in enum.value) or "never"
        self.lines.append(f"export type {_ts_name(f'{prefix}.{enum.name}', package)} = {names};")
        self.lines.append("")


def protobuf_to_typescript(schema: ProtobufSchema) -> str:
    """TypeScript interfaces for every message and enum in the schema and its imports."""
    writer = _TsWriter(schema)
    writer.lines.append("// Generated by datanexus schemas codegen. Do not edit.")
    writer.lines.append("")
    for proto in (*[d for d in schema.dependencies if not is_builtin(d.name)], schema.file):
        prefix = f".{proto.package}" if proto.package else ""
        for enum in proto.enum_type:
            writer.enum(enum, proto.package, prefix)
        for msg in proto.message_type:
            writer.message(msg, proto.package, prefix)
    return "\n".join(writer.lines)


def _json_ts(schema: Any, root: Any, depth: int = 0) -> str:
    if schema is True or schema == {} or not isinstance(schema, Mapping) or depth > 20:
        return "unknown"
    if "$ref" in schema and str(schema["$ref"]).startswith("#/"):
        target: Any = root
        for part in str(schema["$ref"])[2:].split("/"):
            target = target.get(part, {})
        return _json_ts(target, root, depth + 1)
    if "enum" in schema:
        return " | ".join(_literal(v) for v in schema["enum"]) or "never"
    for keyword in ("oneOf", "anyOf"):
        if keyword in schema:
            return " | ".join(f"({_json_ts(s, root, depth + 1)})" for s in schema[keyword])
    types = schema.get("type", "object" if "properties" in schema else None)
    if isinstance(types, list):
        return " | ".join(_json_ts({**schema, "type": t}, root, depth + 1) for t in types)
    simple = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}
    if types in simple:
        return simple[types]
    if types == "null":
        return "null"
    if types == "array":
        return f"Array<{_json_ts(schema.get('items', {}), root, depth + 1)}>"
    if types == "object":
        required = set(schema.get("required", []))
        members = [
            f"{_literal(name)}{'' if name in required else '?'}: {_json_ts(s, root, depth + 1)};"
            for name, s in schema.get("properties", {}).items()
        ]
        extra = schema.get("additionalProperties", True)
        if extra is not False:
            members.append("[key: string]: unknown;")
        return "{ " + " ".join(members) + " }"
    return "unknown"


def _literal(value: Any) -> str:
    import json

    return json.dumps(value)


_AVRO_PRIMITIVES = {
    "null": "null", "boolean": "boolean", "int": "number", "long": "number",
    "float": "number", "double": "number", "bytes": "string", "string": "string",
}  # fmt: skip


def _avro_ts(schema: Any, named: Mapping[str, Any], seen: set[str]) -> str:
    primitives = _AVRO_PRIMITIVES
    if isinstance(schema, list):
        return " | ".join(_avro_ts(s, named, seen) for s in schema)
    if isinstance(schema, str):
        if schema in primitives:
            return primitives[schema]
        return "unknown" if schema in seen else _avro_ts(named[schema], named, seen)
    kind = schema["type"]
    if kind in primitives:
        return primitives[kind]
    if kind == "array":
        return f"Array<{_avro_ts(schema['items'], named, seen)}>"
    if kind == "map":
        return f"{{ [key: string]: {_avro_ts(schema['values'], named, seen)} }}"
    if kind == "enum":
        return " | ".join(_literal(s) for s in schema["symbols"])
    if kind == "fixed":
        return "string"
    inner = seen | {schema["name"]}
    fields = [
        f"{_literal(f['name'])}: {_avro_ts(f['type'], named, inner)};" for f in schema["fields"]
    ]
    return "{ " + " ".join(fields) + " }"


def to_typescript(name: str, schema: ParsedSchema) -> str:
    """TypeScript for any registered schema; JSON and Avro become one exported type."""
    if isinstance(schema, ProtobufSchema):
        return protobuf_to_typescript(schema)
    type_name = "".join(p[:1].upper() + p[1:] for p in re.split(r"[^0-9A-Za-z]+", name) if p)
    if isinstance(schema, JsonSchema):
        body = _json_ts(schema.document, schema.document)
    elif isinstance(schema, AvroSchema):
        body = _avro_ts(schema.parsed, schema.named, set())
    else:
        raise SchemaError(f"No TypeScript generator for {schema.schema_type}")
    header = "// Generated by datanexus schemas codegen. Do not edit.\n\n"
    return f"{header}export type {type_name} = {body};\n"


def write_codegen(schemas: Mapping[str, ParsedSchema], out_dir: Path) -> list[Path]:
    """For the CLI: Python for protobuf subjects, TypeScript for every subject."""
    protobuf = {s: p for s, p in schemas.items() if isinstance(p, ProtobufSchema)}
    written = generate_python(protobuf, out_dir / "python") if protobuf else []
    ts_dir = out_dir / "typescript"
    ts_dir.mkdir(parents=True, exist_ok=True)
    for subject, schema in schemas.items():
        path = ts_dir / f"{module_name(subject)}.ts"
        path.write_text(to_typescript(module_name(subject), schema), encoding="utf-8")
        written.append(path)
    return written
