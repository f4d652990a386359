"""Coexistence during a JSON -> protobuf migration.

Readers accept both plain JSON and framed records (told apart by the magic byte); producers
write protobuf when the subject has a protobuf schema and fall back to JSON otherwise,
counting every fallback so the migration's progress is visible.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from fastavro import schemaless_reader
from google.protobuf import json_format
from google.protobuf.message import Message

from schemas.formats.avro import AvroSchema
from schemas.formats.protobuf import ProtobufSchema
from schemas.serde.metrics import JSON_FALLBACK
from schemas.serde.protobuf import ProtobufDeserializer, ProtobufSerializer
from schemas.serde.types import SchemaLookup
from schemas.types import SchemaError
from schemas.wire import HEADER_SIZE, decode_schema_id, is_framed


class RecordDeserializer:
    """Reads plain JSON and framed PROTOBUF / JSON / AVRO records alike.

    With ``as_dict`` protobuf records come back as dicts (proto field names), so consumers see
    the same shape before and after a topic is migrated.
    """

    def __init__(self, lookup: SchemaLookup, as_dict: bool = True) -> None:
        self.lookup = lookup
        self.as_dict = as_dict
        self.protobuf = ProtobufDeserializer(lookup)

    def deserialize(self, data: bytes) -> Any:
        if not is_framed(data):
            return orjson.loads(data)
        schema = self.lookup.schema_by_id(decode_schema_id(data))
        if isinstance(schema, ProtobufSchema):
            message = self.protobuf.deserialize(data)
            if not self.as_dict:
                return message
            return json_format.MessageToDict(message, preserving_proto_field_name=True)
        if isinstance(schema, AvroSchema):
            return schemaless_reader(io.BytesIO(data[HEADER_SIZE:]), schema.parsed, None)
        return orjson.loads(data[HEADER_SIZE:])


class FallbackSerializer:
    """Protobuf when the subject has a protobuf schema, else plain JSON (counted).

    A missing schema is remembered for ``recheck_seconds`` so an unmigrated subject does not
    cost a registry round trip per record.
    """

    def __init__(
        self,
        lookup: SchemaLookup,
        recheck_seconds: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lookup = lookup
        self.protobuf = ProtobufSerializer(lookup, auto_register=False, use_latest=True)
        self.recheck_seconds = recheck_seconds
        self.clock = clock
        self._missing_until: dict[str, float] = {}

    def _has_protobuf(self, subject: str) -> bool:
        until = self._missing_until.get(subject)
        if until is not None and self.clock() < until:
            return False
        latest = self.lookup.latest(subject)
        if latest is not None and isinstance(latest[1], ProtobufSchema):
            self._missing_until.pop(subject, None)
            return True
        self._missing_until[subject] = self.clock() + self.recheck_seconds
        return False

    def serialize(self, subject: str, record: Message | Mapping[str, Any]) -> bytes:
        known = (subject, type(record)) in self.protobuf._headers or (
            subject in self.protobuf._dict_classes
        )
        if known or self._has_protobuf(subject):
            try:
                if isinstance(record, Message):
                    return self.protobuf.serialize(subject, record)
                return self.protobuf.serialize_dict(subject, record)
            except SchemaError:
                pass
        JSON_FALLBACK.labels(subject=subject).inc()
        if isinstance(record, Message):
            text: str = json_format.MessageToJson(record, preserving_proto_field_name=True)
            return text.encode()
        return orjson.dumps(record)
