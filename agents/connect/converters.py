"""Converters between Kafka bytes and Connect (schema, value): JSON, string, and the registry's.

Registry converters (protobuf / JSON Schema / Avro) read the Confluent wire format with
``schemas.serde`` and write with the subject's latest registered schema (TopicNameStrategy),
which is how Kafka Connect's converters behave with ``auto.register.schemas=false``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any

import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastavro import schemaless_writer

from agents.connect.types import ConnectorError, ConnectSchema, Converter
from schemas.formats.avro import AvroSchema
from schemas.formats.json_schema import JsonSchema
from schemas.serde.lookup import ConfluentClientLookup
from schemas.serde.protobuf import ProtobufSerializer
from schemas.serde.records import RecordDeserializer
from schemas.serde.types import SchemaLookup, topic_subject
from schemas.wire import encode_header

JSON = "org.apache.kafka.connect.json.JsonConverter"
STRING = "org.apache.kafka.connect.storage.StringConverter"
BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"
PROTOBUF = "io.confluent.connect.protobuf.ProtobufConverter"
JSON_SCHEMA = "io.confluent.connect.json.JsonSchemaConverter"
AVRO = "io.confluent.connect.avro.AvroConverter"
REGISTRY_CONVERTERS = (PROTOBUF, JSON_SCHEMA, AVRO)
CONVERTERS = (JSON, STRING, BYTES, *REGISTRY_CONVERTERS)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _json_default(value: Any) -> Any:
    """Connect's logical types as JsonConverter writes them (ms, days, ms of day)."""
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return int((moment - _EPOCH).total_seconds() * 1000)
    if isinstance(value, date):
        return (value - _EPOCH.date()).days
    if isinstance(value, time):
        return ((value.hour * 60 + value.minute) * 60 + value.second) * 1000 + (
            value.microsecond // 1000
        )
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_PASSTHROUGH_DATETIME)


def infer_schema(value: Any) -> dict[str, Any]:
    """A Connect schema for a schemaless value (JsonConverter's envelope needs one)."""
    if isinstance(value, bool):
        return {"type": "boolean", "optional": True}
    if isinstance(value, int):
        return {"type": "int64", "optional": True}
    if isinstance(value, float):
        return {"type": "double", "optional": True}
    if isinstance(value, str):
        return {"type": "string", "optional": True}
    if isinstance(value, datetime):
        return {
            "type": "int64",
            "name": "org.apache.kafka.connect.data.Timestamp",
            "optional": True,
        }
    if isinstance(value, Mapping):
        return {
            "type": "struct",
            "optional": False,
            "fields": [{"field": str(k), **infer_schema(v)} for k, v in value.items()],
        }
    if isinstance(value, list):
        items = infer_schema(value[0]) if value else {"type": "string", "optional": True}
        return {"type": "array", "items": items, "optional": True}
    return {"type": "string", "optional": True}


class JsonConverter:
    def __init__(self, schemas_enable: bool = True) -> None:
        self.schemas_enable = schemas_enable

    def from_connect(self, topic: str, schema: ConnectSchema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        if not self.schemas_enable:
            return dumps(value)
        return dumps({"schema": schema or infer_schema(value), "payload": value})

    def to_connect(self, topic: str, data: bytes | None) -> tuple[ConnectSchema | None, Any]:
        if data is None:
            return None, None
        try:
            decoded = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise ConnectorError(f"Converting byte[] to Kafka Connect data failed: {exc}") from None
        if not self.schemas_enable:
            return None, decoded
        if not isinstance(decoded, dict) or set(decoded) != {"schema", "payload"}:
            raise ConnectorError(
                'JsonConverter with schemas.enable requires "schema" and "payload" fields '
                "and may not contain additional fields. If you are trying to deserialize plain "
                "JSON data, set schemas.enable=false in your converter configuration."
            )
        return decoded["schema"], decoded["payload"]


class StringConverter:
    def from_connect(self, topic: str, schema: ConnectSchema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        return value.encode() if isinstance(value, str) else dumps(value)

    def to_connect(self, topic: str, data: bytes | None) -> tuple[ConnectSchema | None, Any]:
        if data is None:
            return None, None
        return {"type": "string", "optional": True}, data.decode("utf-8", "replace")


class ByteArrayConverter:
    def from_connect(self, topic: str, schema: ConnectSchema | None, value: Any) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        return value.encode() if isinstance(value, str) else dumps(value)

    def to_connect(self, topic: str, data: bytes | None) -> tuple[ConnectSchema | None, Any]:
        return {"type": "bytes", "optional": True}, data


class RegistryConverter:
    """Protobuf, JSON Schema or Avro in the Confluent wire format."""

    def __init__(self, kind: str, lookup: SchemaLookup, is_key: bool = False) -> None:
        self.kind = kind
        self.lookup = lookup
        self.is_key = is_key
        self._reader = RecordDeserializer(lookup, as_dict=True)
        self._protobuf = ProtobufSerializer(lookup, auto_register=False, use_latest=True)
        self._latest: dict[str, tuple[int, Any]] = {}

    def from_connect(self, topic: str, schema: ConnectSchema | None, value: Any) -> bytes | None:
        if value is None:
            return None
        subject = topic_subject(topic, self.is_key)
        try:
            if self.kind == PROTOBUF:
                return self._protobuf.serialize_dict(subject, value)
            schema_id, parsed = self._subject_schema(subject)
            if isinstance(parsed, JsonSchema):
                parsed.validator.validate(value)
                return encode_header(schema_id) + dumps(value)
            if isinstance(parsed, AvroSchema):
                out = io.BytesIO()
                out.write(encode_header(schema_id))
                schemaless_writer(out, parsed.parsed, value)
                return out.getvalue()
        except ConnectorError:
            raise
        except Exception as exc:
            raise ConnectorError(f"{self.kind} cannot serialize for {subject}: {exc}") from None
        raise ConnectorError(f"subject {subject} has no {self.kind} schema")

    def _subject_schema(self, subject: str) -> tuple[int, Any]:
        cached = self._latest.get(subject)
        if cached is None:
            latest = self.lookup.latest(subject)
            if latest is None:
                raise ConnectorError(f"subject {subject} has no registered schema")
            cached = self._latest[subject] = latest
        return cached

    def to_connect(self, topic: str, data: bytes | None) -> tuple[ConnectSchema | None, Any]:
        if data is None:
            return None, None
        try:
            return None, self._reader.deserialize(data)
        except Exception as exc:
            raise ConnectorError(f"Converting byte[] to Kafka Connect data failed: {exc}") from None


_LOOKUPS: dict[str, SchemaLookup] = {}


def registry_lookup(url: str) -> SchemaLookup:
    """One cached lookup per registry URL (its schema caches are shared by every task)."""
    lookup = _LOOKUPS.get(url)
    if lookup is None:
        lookup = _LOOKUPS[url] = ConfluentClientLookup(
            SchemaRegistryClient.new_client({"url": url})
        )
    return lookup


def _flag(value: Any, default: bool) -> bool:
    if value is None:
        return default
    return str(value).strip().lower() == "true"


def make_converter(config: Mapping[str, Any], prefix: str, default: str = JSON) -> Converter:
    """The converter named by ``key.converter`` / ``value.converter`` with its sub-keys."""
    name = str(config.get(prefix) or default)
    sub = {k[len(prefix) + 1 :]: v for k, v in config.items() if k.startswith(prefix + ".")}
    if name == JSON:
        return JsonConverter(_flag(sub.get("schemas.enable"), True))
    if name == STRING:
        return StringConverter()
    if name == BYTES:
        return ByteArrayConverter()
    if name in REGISTRY_CONVERTERS:
        url = sub.get("schema.registry.url")
        if not url:
            raise ConnectorError(f"{prefix}.schema.registry.url is required for {name}")
        return RegistryConverter(name, registry_lookup(str(url)), is_key=prefix == "key.converter")
    raise ConnectorError(f"{prefix}: unknown converter class {name}")
