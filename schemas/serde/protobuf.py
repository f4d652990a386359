"""Protobuf serdes in the Confluent wire format.

The header (magic, id, index path) depends only on the subject and the message class, so it
is computed once and cached; the hot path is one dict lookup plus ``SerializeToString``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor
from google.protobuf.message import DecodeError, Message

from schemas.formats.protobuf import ProtobufSchema
from schemas.serde.types import SchemaLookup, SchemaText
from schemas.types import SchemaError, SchemaType
from schemas.wire import WireFormatError, decode_message_indexes, decode_schema_id, encode_header


def descriptor_indexes(descriptor: Descriptor) -> list[int]:
    """The Confluent index path of a message type within its own file."""
    path: list[int] = []
    while descriptor.containing_type is not None:
        parent = descriptor.containing_type
        path.insert(0, list(parent.nested_types).index(descriptor))
        descriptor = parent
    path.insert(0, list(descriptor.file.message_types_by_name.values()).index(descriptor))
    return path


class ProtobufSerializer:
    """Frames protobuf messages; registers (or looks up) the message's file per subject.

    ``use_latest`` frames with the subject's latest schema instead of the class's own file,
    which is how schemas with non-well-known imports (registered by references) are used.
    """

    def __init__(
        self, lookup: SchemaLookup, auto_register: bool = True, use_latest: bool = False
    ) -> None:
        self.lookup = lookup
        self.auto_register = auto_register
        self.use_latest = use_latest
        self._headers: dict[tuple[str, type[Message]], bytes] = {}
        self._dict_classes: dict[str, tuple[bytes, type[Message]]] = {}

    def header_for(self, subject: str, message_class: type[Message]) -> bytes:
        key = (subject, message_class)
        header = self._headers.get(key)
        if header is None:
            descriptor: Descriptor = message_class.DESCRIPTOR
            if self.use_latest:
                latest = self.lookup.latest(subject)
                if latest is None or not isinstance(latest[1], ProtobufSchema):
                    raise SchemaError(f"Subject '{subject}' has no protobuf schema")
                schema_id, schema = latest[0], latest[1]
                indexes = schema.message_indexes(descriptor.full_name)
            else:
                text = base64.standard_b64encode(descriptor.file.serialized_pb).decode("ascii")
                schema_id = self.lookup.id_for(
                    subject, SchemaText(SchemaType.PROTOBUF, text), self.auto_register
                )
                indexes = descriptor_indexes(descriptor)
            header = encode_header(schema_id, indexes)
            self._headers[key] = header
        return header

    def serialize(self, subject: str, message: Message) -> bytes:
        header = self._headers.get((subject, type(message)))
        if header is None:
            header = self.header_for(subject, type(message))
        payload: bytes = message.SerializeToString()
        return header + payload

    def serialize_dict(self, subject: str, record: Mapping[str, Any]) -> bytes:
        """Encode a dict with the subject's latest protobuf schema (first message type)."""
        cached = self._dict_classes.get(subject)
        if cached is None:
            latest = self.lookup.latest(subject)
            if latest is None or not isinstance(latest[1], ProtobufSchema):
                raise SchemaError(f"Subject '{subject}' has no protobuf schema")
            cls = latest[1].message_class([0])
            cached = (encode_header(latest[0], [0]), cls)
            self._dict_classes[subject] = cached
        header, cls = cached
        payload: bytes = json_format.ParseDict(record, cls()).SerializeToString()
        return header + payload


class ProtobufDeserializer:
    """Decodes framed protobuf records, into ``message_class`` or the writer's own type."""

    def __init__(self, lookup: SchemaLookup, message_class: type[Message] | None = None) -> None:
        self.lookup = lookup
        self.message_class = message_class
        self._classes: dict[tuple[int, bytes], type[Message]] = {}

    def writer_class(self, schema_id: int, indexes: list[int]) -> type[Message]:
        schema = self.lookup.schema_by_id(schema_id)
        if not isinstance(schema, ProtobufSchema):
            raise SchemaError(f"Schema {schema_id} is {schema.schema_type}, not PROTOBUF")
        return schema.message_class(indexes)

    def deserialize(self, data: bytes) -> Message:
        schema_id = decode_schema_id(data)
        if data[5] == 0:  # the [0] path: by far the most common
            offset, cache_key = 6, (schema_id, b"\x00")
        else:
            indexes, offset = decode_message_indexes(data, 5)
            cache_key = (schema_id, data[5:offset])
        cls = self.message_class or self._classes.get(cache_key)
        if cls is None:
            indexes, _ = decode_message_indexes(data, 5)
            cls = self.writer_class(schema_id, indexes)
            self._classes[cache_key] = cls
        try:
            message: Message = cls.FromString(data[offset:])
            return message
        except DecodeError as exc:
            raise WireFormatError(f"invalid protobuf payload for schema {schema_id}") from exc

    def deserialize_dict(self, data: bytes) -> dict[str, Any]:
        message = self.deserialize(data)
        record: dict[str, Any] = json_format.MessageToDict(
            message, preserving_proto_field_name=True
        )
        return record
