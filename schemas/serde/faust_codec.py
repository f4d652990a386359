"""Faust codec so agents read and write registered types.

``dumps`` frames protobuf messages (subject = message full name, Confluent's
RecordNameStrategy, since a codec does not know its topic) and falls back to JSON for dicts of
unmigrated subjects; ``loads`` reads anything the coexistence deserializer reads.
"""

from __future__ import annotations

from typing import Any

import orjson
from faust.serializers import codecs
from google.protobuf.message import Message

from schemas.serde.records import FallbackSerializer, RecordDeserializer
from schemas.serde.types import SchemaLookup

CODEC_NAME = "dn-protobuf"


class RegistryCodec(codecs.Codec):
    """Registry-aware codec; ``subject`` fixes the subject (TopicNameStrategy) when known."""

    def __init__(
        self, lookup: SchemaLookup, subject: str | None = None, as_dict: bool = False
    ) -> None:
        super().__init__()
        self.subject = subject
        self.writer = FallbackSerializer(lookup)
        self.reader = RecordDeserializer(lookup, as_dict=as_dict)

    def _dumps(self, obj: Any) -> bytes:
        if isinstance(obj, Message):
            return self.writer.serialize(self.subject or obj.DESCRIPTOR.full_name, obj)
        if self.subject is not None and isinstance(obj, dict):
            return self.writer.serialize(self.subject, obj)
        return orjson.dumps(obj)

    def _loads(self, s: bytes) -> Any:
        return self.reader.deserialize(s)


def register_codec(
    lookup: SchemaLookup, name: str = CODEC_NAME, subject: str | None = None
) -> RegistryCodec:
    """Register under ``name`` so ``value_serializer=name`` works on topics and agents."""
    codec = RegistryCodec(lookup, subject=subject)
    codecs.register(name, codec)
    return codec
