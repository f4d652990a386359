"""PROTOBUF handler: ``.proto`` text or base64 ``FileDescriptorProto`` -> descriptors.

Confluent clients register either form (the Python serializer sends base64 descriptors), and
the registry must hand back either (``?format=serialized``), so a parsed schema keeps the
descriptor and renders text from it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
from collections.abc import Sequence
from typing import Any

from google.protobuf import descriptor_pb2 as pb
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FileDescriptor
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import DecodeError, Message

from schemas.formats.protobuf_compile import builtin_file, compile_proto, is_builtin
from schemas.formats.protobuf_fast import parse_plain
from schemas.types import ParsedSchema, ResolvedReference, SchemaError, SchemaType

ROOT_FILE_NAME = "default"
_RefKey = tuple[tuple[str, str, "tuple[object, ...]"], ...]


class ProtobufSchema:
    """A compiled protobuf file plus the closure of files it imports."""

    schema_type = SchemaType.PROTOBUF

    def __init__(
        self,
        file: pb.FileDescriptorProto,
        dependencies: Sequence[pb.FileDescriptorProto],
        references: Sequence[ResolvedReference] = (),
    ) -> None:
        self.file = file
        self.dependencies = tuple(dependencies)
        self.references = tuple(references)

    def canonical(self) -> str:
        return self.text

    @functools.cached_property
    def text(self) -> str:
        from schemas.formats.protobuf_text import render_proto

        return render_proto(self.file)

    def serialized(self) -> str:
        """Base64 ``FileDescriptorProto``, Confluent's ``format=serialized``."""
        return base64.standard_b64encode(self.file.SerializeToString()).decode("ascii")

    @functools.cached_property
    def pool(self) -> DescriptorPool:
        pool = DescriptorPool()
        added: set[str] = set()

        def add(proto: pb.FileDescriptorProto) -> None:
            if proto.name in added:
                return
            for name in proto.dependency:
                if name not in added and name not in known:
                    if not is_builtin(name):
                        raise SchemaError(f"Unresolved protobuf import '{name}'")
                    add(builtin_file(name))
                elif name in known:
                    add(known[name])
            added.add(proto.name)
            pool.Add(proto)

        known = {dep.name: dep for dep in self.dependencies}
        for dep in self.dependencies:
            add(dep)
        add(self.file)
        return pool

    @functools.cached_property
    def types_by_name(self) -> dict[str, Any]:
        """Messages and enums of this file and its imports by ``.package.Name`` (computed once
        per schema: a registered version is compared with many candidates)."""
        types: dict[str, Any] = {}

        def walk(prefix: str, messages: Sequence[Any], enums: Sequence[Any]) -> None:
            for enum in enums:
                types[f"{prefix}.{enum.name}"] = enum
            for msg in messages:
                name = f"{prefix}.{msg.name}"
                types[name] = msg
                walk(name, msg.nested_type, msg.enum_type)

        for proto in (*self.dependencies, self.file):
            walk(f".{proto.package}" if proto.package else "", proto.message_type, proto.enum_type)
        return types

    @property
    def file_descriptor(self) -> FileDescriptor:
        return self.pool.FindFileByName(self.file.name)

    def message_descriptor(self, indexes: Sequence[int]) -> Descriptor:
        """Resolve a Confluent message-index path (``[0]`` is the first top-level message)."""
        try:
            descriptor = list(self.file_descriptor.message_types_by_name.values())[indexes[0]]
            for index in indexes[1:]:
                descriptor = descriptor.nested_types[index]
        except IndexError as exc:
            raise SchemaError(f"No message at index path {list(indexes)}") from exc
        return descriptor

    def message_indexes(self, full_name: str) -> list[int]:
        """The index path of the message called ``full_name`` in this file."""
        path: list[int] = []
        descriptor = self.pool.FindMessageTypeByName(full_name)
        while descriptor.containing_type is not None:
            parent = descriptor.containing_type
            path.insert(0, list(parent.nested_types).index(descriptor))
            descriptor = parent
        top = list(self.file_descriptor.message_types_by_name.values())
        path.insert(0, top.index(descriptor))
        return path

    def message_class(self, indexes: Sequence[int] = (0,)) -> type[Message]:
        cls: type[Message] = message_factory.GetMessageClass(self.message_descriptor(indexes))
        return cls

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ProtobufSchema) and other.canonical() == self.canonical()

    def __hash__(self) -> int:
        return hash(self.canonical())


def _ref_key(references: Sequence[ResolvedReference]) -> _RefKey:
    return tuple((ref.name, ref.schema, _ref_key(ref.references)) for ref in references)


def _decode_descriptor(text: str) -> pb.FileDescriptorProto | None:
    stripped = text.strip()
    if not stripped or any(ch in stripped for ch in " ;{\n"):
        return None
    try:
        raw = base64.b64decode(stripped, validate=True)
        proto = pb.FileDescriptorProto()
        proto.ParseFromString(raw)
    except (binascii.Error, DecodeError, ValueError):
        return None
    return proto


def _from_key(key: _RefKey) -> tuple[ResolvedReference, ...]:
    return tuple(
        ResolvedReference(name, schema, _from_key(sub))  # type: ignore[arg-type]
        for name, schema, sub in key
    )


@functools.lru_cache(maxsize=2048)
def _parse_cached(text: str, file_name: str, key: _RefKey) -> ProtobufSchema:
    """Parse once per (text, name, references); the key is hashable even for list inputs.

    Plain proto3 files are parsed in Python (``protobuf_fast``), the rest compiled by protoc."""
    references = _from_key(key)
    closure: dict[str, pb.FileDescriptorProto] = {}
    for ref, (_, _, sub_key) in zip(references, key, strict=True):
        if is_builtin(ref.name):
            continue
        dep = _parse_cached(ref.schema, ref.name, sub_key)
        for proto in (*dep.dependencies, dep.file):
            closure.setdefault(proto.name, proto)
    decoded = _decode_descriptor(text)
    if decoded is not None:
        decoded.name = file_name
        schema = ProtobufSchema(decoded, list(closure.values()), references)
        try:
            _ = schema.pool  # validates types and imports
        except (TypeError, ValueError, KeyError) as exc:
            raise SchemaError(f"Invalid protobuf descriptor: {exc}") from exc
        return schema
    plain = parse_plain(text, file_name)
    if plain is not None:
        schema = ProtobufSchema(plain, list(closure.values()), references)
        with contextlib.suppress(TypeError, ValueError, KeyError):
            _ = schema.pool  # the runtime's checks too; on doubt protoc decides (and explains)
            return schema
    files = compile_proto(text, file_name, list(closure.values()))
    main = files[-1]
    main.ClearField("source_code_info")
    by_name = {proto.name: proto for proto in files[:-1]}
    by_name.update(closure)
    return ProtobufSchema(main, list(by_name.values()), references)


class ProtobufHandler:
    schema_type = SchemaType.PROTOBUF

    def parse(self, text: str, references: Sequence[ResolvedReference]) -> ProtobufSchema:
        names = {ref.name for ref in references}
        root = ROOT_FILE_NAME if ROOT_FILE_NAME not in names else "__root__.proto"
        return _parse_cached(text, root, _ref_key(references))

    def incompatibilities(self, reader: ParsedSchema, writer: ParsedSchema) -> list[str]:
        from schemas.formats.protobuf_compat import protobuf_incompatibilities

        if not isinstance(reader, ProtobufSchema) or not isinstance(writer, ProtobufSchema):
            return ["Schema types differ: cannot compare PROTOBUF with another type"]
        return protobuf_incompatibilities(reader, writer)
