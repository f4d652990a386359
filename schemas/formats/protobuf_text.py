"""Render a ``FileDescriptorProto`` back to ``.proto`` text.

Schemas registered as base64 descriptors (what confluent-kafka's Python serializer sends) and
schemas registered as text must normalise to the same canonical text, so both go through here.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2 as pb

_F = pb.FieldDescriptorProto
SCALAR_NAMES: dict[int, str] = {
    _F.TYPE_DOUBLE: "double",
    _F.TYPE_FLOAT: "float",
    _F.TYPE_INT64: "int64",
    _F.TYPE_UINT64: "uint64",
    _F.TYPE_INT32: "int32",
    _F.TYPE_FIXED64: "fixed64",
    _F.TYPE_FIXED32: "fixed32",
    _F.TYPE_BOOL: "bool",
    _F.TYPE_STRING: "string",
    _F.TYPE_BYTES: "bytes",
    _F.TYPE_UINT32: "uint32",
    _F.TYPE_SFIXED32: "sfixed32",
    _F.TYPE_SFIXED64: "sfixed64",
    _F.TYPE_SINT32: "sint32",
    _F.TYPE_SINT64: "sint64",
}
_FILE_OPTIONS = ("java_package", "java_outer_classname", "go_package", "csharp_namespace")


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def field_type_name(field: pb.FieldDescriptorProto) -> str:
    if field.type in (_F.TYPE_MESSAGE, _F.TYPE_ENUM, _F.TYPE_GROUP):
        return str(field.type_name)
    return SCALAR_NAMES[field.type]


def _ranges(ranges: list[tuple[int, int]], exclusive_end: bool) -> str:
    parts = []
    for start, end in ranges:
        last = end - 1 if exclusive_end else end
        if last == start:
            parts.append(str(start))
        elif last >= 0x1FFFFFFF:
            parts.append(f"{start} to max")
        else:
            parts.append(f"{start} to {last}")
    return ", ".join(parts)


class _Writer:
    def __init__(self, syntax: str) -> None:
        self.lines: list[str] = []
        self.syntax = syntax

    def line(self, depth: int, text: str) -> None:
        self.lines.append("  " * depth + text)

    def enum(self, enum: pb.EnumDescriptorProto, depth: int) -> None:
        self.line(depth, f"enum {enum.name} {{")
        if enum.options.allow_alias:
            self.line(depth + 1, "option allow_alias = true;")
        for value in enum.value:
            self.line(depth + 1, f"{value.name} = {value.number};")
        if enum.reserved_range:
            spans = [(r.start, r.end) for r in enum.reserved_range]
            self.line(depth + 1, f"reserved {_ranges(spans, exclusive_end=False)};")
        if enum.reserved_name:
            self.line(depth + 1, f"reserved {', '.join(_quote(n) for n in enum.reserved_name)};")
        self.line(depth, "}")

    def field(self, field: pb.FieldDescriptorProto, msg: pb.DescriptorProto, depth: int) -> None:
        maps = {n.name: n for n in msg.nested_type if n.options.map_entry}
        entry_name = field.type_name.rsplit(".", 1)[-1]
        if (
            field.label == _F.LABEL_REPEATED
            and entry_name in maps
            and field.type == _F.TYPE_MESSAGE
        ):
            key, value = maps[entry_name].field[0], maps[entry_name].field[1]
            kind = f"map<{field_type_name(key)}, {field_type_name(value)}>"
            label = ""
        else:
            kind = field_type_name(field)
            label = ""
            if field.label == _F.LABEL_REPEATED:
                label = "repeated "
            elif field.label == _F.LABEL_REQUIRED:
                label = "required "
            elif field.proto3_optional or (
                self.syntax == "proto2" and not field.HasField("oneof_index")
            ):
                label = "optional "
        options = []
        if field.HasField("default_value"):
            default = field.default_value
            if field.type in (_F.TYPE_STRING, _F.TYPE_BYTES):
                default = _quote(default)
            options.append(f"default = {default}")
        if field.options.HasField("packed"):
            options.append(f"packed = {str(field.options.packed).lower()}")
        if field.options.deprecated:
            options.append("deprecated = true")
        suffix = f" [{', '.join(options)}]" if options else ""
        self.line(depth, f"{label}{kind} {field.name} = {field.number}{suffix};")

    def message(self, msg: pb.DescriptorProto, depth: int) -> None:
        self.line(depth, f"message {msg.name} {{")
        real_oneofs: dict[int, list[pb.FieldDescriptorProto]] = {}
        for field in msg.field:
            if field.HasField("oneof_index") and not field.proto3_optional:
                real_oneofs.setdefault(field.oneof_index, []).append(field)
        emitted_oneofs: set[int] = set()
        for field in msg.field:
            if field.HasField("oneof_index") and not field.proto3_optional:
                index = field.oneof_index
                if index not in emitted_oneofs:
                    emitted_oneofs.add(index)
                    self.line(depth + 1, f"oneof {msg.oneof_decl[index].name} {{")
                    for member in real_oneofs[index]:
                        self.field(member, msg, depth + 2)
                    self.line(depth + 1, "}")
                continue
            self.field(field, msg, depth + 1)
        for nested in msg.nested_type:
            if not nested.options.map_entry:
                self.message(nested, depth + 1)
        for enum in msg.enum_type:
            self.enum(enum, depth + 1)
        if msg.reserved_range:
            spans = [(r.start, r.end) for r in msg.reserved_range]
            self.line(depth + 1, f"reserved {_ranges(spans, exclusive_end=True)};")
        if msg.reserved_name:
            self.line(depth + 1, f"reserved {', '.join(_quote(n) for n in msg.reserved_name)};")
        self.line(depth, "}")


def render_proto(file: pb.FileDescriptorProto) -> str:
    """Deterministic ``.proto`` text for ``file`` (comments and unknown options are dropped)."""
    syntax = file.syntax or "proto2"
    writer = _Writer(syntax)
    if file.syntax == "editions":
        writer.line(0, f'edition = "{pb.Edition.Name(file.edition).removeprefix("EDITION_")}";')
    else:
        writer.line(0, f'syntax = "{syntax}";')
    if file.package:
        writer.line(0, f"package {file.package};")
    public = set(file.public_dependency)
    for index, dependency in enumerate(file.dependency):
        writer.line(0, f"import {'public ' if index in public else ''}{_quote(dependency)};")
    for option in _FILE_OPTIONS:
        if file.options.HasField(option):
            writer.line(0, f"option {option} = {_quote(getattr(file.options, option))};")
    for msg in file.message_type:
        writer.message(msg, 0)
    for enum in file.enum_type:
        writer.enum(enum, 0)
    for service in file.service:
        writer.line(0, f"service {service.name} {{")
        for method in service.method:
            client = "stream " if method.client_streaming else ""
            server = "stream " if method.server_streaming else ""
            writer.line(
                1,
                f"rpc {method.name} ({client}{method.input_type}) "
                f"returns ({server}{method.output_type});",
            )
        writer.line(0, "}")
    return "\n".join(writer.lines) + "\n"
