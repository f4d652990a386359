"""Protobuf compatibility, following Confluent's ``SchemaDiff`` rules.

Data written with the old (writer) file must stay readable with the new (reader) file: adding
fields, messages, enums and oneofs is fine; removing a message, changing a field's kind (scalar,
message, map) or scalar wire kind, moving several existing fields into one oneof, and adding or
removing ``required`` fields break. Moving or reordering messages is allowed because the message
index in a record is relative to the writer's schema id.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from google.protobuf import descriptor_pb2 as pb

from schemas.formats.protobuf import ProtobufSchema
from schemas.formats.protobuf_text import field_type_name

_F = pb.FieldDescriptorProto
_SCALAR_KIND = {
    "int32": "GENERAL_NUMBER",
    "int64": "GENERAL_NUMBER",
    "uint32": "GENERAL_NUMBER",
    "uint64": "GENERAL_NUMBER",
    "bool": "GENERAL_NUMBER",
    "sint32": "SIGNED_NUMBER",
    "sint64": "SIGNED_NUMBER",
    "string": "STRING_OR_BYTES",
    "bytes": "STRING_OR_BYTES",
    "fixed32": "FIXED32",
    "sfixed32": "FIXED32",
    "fixed64": "FIXED64",
    "sfixed64": "FIXED64",
    "float": "FLOAT",
    "double": "DOUBLE",
}
_Fields = dict[int, pb.FieldDescriptorProto]
_NAMED = (_F.TYPE_MESSAGE, _F.TYPE_GROUP, _F.TYPE_ENUM)
_Type = Any  # DescriptorProto | EnumDescriptorProto (the generated module is untyped)


@dataclass
class _Context:
    writer_types: dict[str, _Type]
    reader_types: dict[str, _Type]
    messages: list[str] = field(default_factory=list)
    visited: set[tuple[str, str]] = field(default_factory=set)

    def add(self, kind: str, path: str, reason: str) -> None:
        self.messages.append(f"{kind} at '#/{path}': {reason}")


def _real_oneof(f: pb.FieldDescriptorProto) -> bool:
    return not f.proto3_optional and f.HasField("oneof_index")  # HasField is the dear part


def _map_entry(types: dict[str, _Type], f: pb.FieldDescriptorProto) -> pb.DescriptorProto | None:
    if f.type != _F.TYPE_MESSAGE or f.label != _F.LABEL_REPEATED:
        return None
    target = types.get(f.type_name)
    if isinstance(target, pb.DescriptorProto) and target.options.map_entry:
        return target
    return None


def _kind(types: dict[str, _Type], f: pb.FieldDescriptorProto) -> str:
    if _map_entry(types, f) is not None:
        return "MAP"
    if f.type == _F.TYPE_MESSAGE or f.type == _F.TYPE_GROUP:
        return "MESSAGE"
    return "SCALAR"


def _scalar_kind(f: pb.FieldDescriptorProto) -> str:
    if f.type == _F.TYPE_ENUM:
        return "GENERAL_NUMBER"
    return _SCALAR_KIND[field_type_name(f)]


def _compare_field(
    ctx: _Context, path: str, old: pb.FieldDescriptorProto, new: pb.FieldDescriptorProto
) -> None:
    old_kind, new_kind = _kind(ctx.writer_types, old), _kind(ctx.reader_types, new)
    if old_kind != new_kind:
        ctx.add("FIELD_KIND_CHANGED", path, f"field kind changed from {old_kind} to {new_kind}")
    elif old_kind == "SCALAR":
        if _scalar_kind(old) != _scalar_kind(new):
            ctx.add(
                "FIELD_SCALAR_KIND_CHANGED",
                path,
                f"type changed from {field_type_name(old)} to {field_type_name(new)}",
            )
    elif old_kind == "MAP":
        old_entry = _map_entry(ctx.writer_types, old)
        new_entry = _map_entry(ctx.reader_types, new)
        assert old_entry is not None and new_entry is not None
        _compare_field(ctx, f"{path}/key", old_entry.field[0], new_entry.field[0])
        _compare_field(ctx, f"{path}/value", old_entry.field[1], new_entry.field[1])
    else:
        old_local = old.type_name.rsplit(".", 1)[-1]
        new_local = new.type_name.rsplit(".", 1)[-1]
        if old_local != new_local:
            ctx.add(
                "FIELD_NAMED_TYPE_CHANGED",
                path,
                f"message type changed from {old.type_name} to {new.type_name}",
            )
            return
        old_msg = ctx.writer_types.get(old.type_name)
        new_msg = ctx.reader_types.get(new.type_name)
        pair = (old.type_name.lstrip("."), new.type_name.lstrip("."))
        if (
            isinstance(old_msg, pb.DescriptorProto)
            and isinstance(new_msg, pb.DescriptorProto)
            and pair not in ctx.visited
        ):
            ctx.visited.add(pair)
            _compare_message(ctx, new.type_name.lstrip("."), old_msg, new_msg)


def _split_fields(msg: pb.DescriptorProto) -> tuple[_Fields, _Fields, dict[int, str]]:
    """By number: fields outside real oneofs, all fields, and each oneof member's oneof name."""
    top: _Fields = {}
    every: _Fields = {}
    oneof_of: dict[int, str] = {}
    oneofs = len(msg.oneof_decl)
    for f in msg.field:
        every[f.number] = f
        if oneofs and _real_oneof(f):
            oneof_of[f.number] = msg.oneof_decl[f.oneof_index].name
        else:
            top[f.number] = f
    return top, every, oneof_of


def _compare_message(
    ctx: _Context, path: str, old: pb.DescriptorProto, new: pb.DescriptorProto
) -> None:
    old_top, old_all, old_oneof_of = _split_fields(old)
    new_top, new_all, new_oneof_of = _split_fields(new)
    old_oneofs: dict[str, set[int]] = {}
    for number, name in old_oneof_of.items():
        old_oneofs.setdefault(name, set()).add(number)
    new_oneofs: dict[str, set[int]] = {}
    for number, name in new_oneof_of.items():
        new_oneofs.setdefault(name, set()).add(number)

    for name, numbers in new_oneofs.items():
        moved = [n for n in numbers if n in old_top]
        existing = [n for n in numbers if n in old_oneof_of]
        for number in moved:
            del old_top[number]
        if len(moved) > 1:
            ctx.add(
                "MULTIPLE_FIELDS_MOVED_TO_ONEOF",
                f"{path}/{name}",
                f"existing fields {sorted(moved)} were moved into one oneof",
            )
        elif len(moved) == 1 and existing:
            ctx.add(
                "FIELD_MOVED_TO_EXISTING_ONEOF",
                f"{path}/{name}",
                f"field {moved[0]} was moved into a oneof that already has fields",
            )
    for name, numbers in old_oneofs.items():
        if name in new_oneofs:
            for number in sorted(numbers - new_oneofs[name]):
                ctx.add(
                    "ONEOF_FIELD_REMOVED",
                    f"{path}/{name}",
                    f"field {number} was removed from oneof '{name}'",
                )

    for number in sorted(set(old_top) | set(new_top)):
        old_field, new_field = old_top.get(number), new_top.get(number)
        field_path = f"{path}/{number}"
        if new_field is None and old_field is not None:
            if old_field.label == _F.LABEL_REQUIRED:
                ctx.add(
                    "REQUIRED_FIELD_REMOVED",
                    field_path,
                    f"required field '{old_field.name}' removed",
                )
        elif old_field is None and new_field is not None:
            if new_field.label == _F.LABEL_REQUIRED:
                ctx.add(
                    "REQUIRED_FIELD_ADDED", field_path, f"required field '{new_field.name}' added"
                )
        elif old_field is not None and new_field is not None:
            if old_field == new_field and old_field.type not in _NAMED:
                continue  # the same scalar field: nothing can differ
            _compare_field(ctx, field_path, old_field, new_field)

    for number in sorted(set(old_all) & set(new_all)):
        old_in, new_in = old_oneof_of.get(number), new_oneof_of.get(number)
        if (old_in is None and new_in is None) or (old_in is not None and old_in == new_in):
            continue
        _compare_field(ctx, f"{path}/{number}", old_all[number], new_all[number])

    _compare_types(ctx, path, list(old.nested_type), list(new.nested_type))


def _compare_types(
    ctx: _Context, path: str, old: list[pb.DescriptorProto], new: list[pb.DescriptorProto]
) -> None:
    old_by_name = {m.name: m for m in old if not m.options.map_entry}
    new_by_name = {m.name: m for m in new if not m.options.map_entry}
    prefix = f"{path}." if path else ""
    for name in sorted(old_by_name):
        full = f"{prefix}{name}"
        if name not in new_by_name:
            ctx.add("MESSAGE_REMOVED", full, f"message '{full}' was removed")
            continue
        pair = (full, full)
        if pair in ctx.visited:
            continue
        ctx.visited.add(pair)
        _compare_message(ctx, full, old_by_name[name], new_by_name[name])


def protobuf_incompatibilities(reader: ProtobufSchema, writer: ProtobufSchema) -> list[str]:
    ctx = _Context(writer.types_by_name, reader.types_by_name)
    if writer.file.package != reader.file.package:
        ctx.add(
            "PACKAGE_CHANGED",
            "",
            f"package changed from '{writer.file.package}' to '{reader.file.package}'",
        )
    _compare_types(
        ctx, reader.file.package, list(writer.file.message_type), list(reader.file.message_type)
    )
    return ctx.messages
