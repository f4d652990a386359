"""Records of the ``_schemas`` topic, in Confluent Schema Registry's key/value JSON shapes.

Keys: ``{"keytype": "SCHEMA", "subject": s, "version": v, "magic": 1}``, ``CONFIG``/``MODE``
(``subject`` null for the global setting), ``DELETE_SUBJECT`` and ``NOOP``. Values: Confluent's
schema value plus one extra field, ``fingerprint`` (hash of type + canonical text + references),
so every reader can decide "same schema" from the log alone without parsing. Records written by
Confluent or Karapace lack it; we then hash the stored text instead.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from schemas.types import CompatibilityLevel, RegistryMode, SchemaReference, SchemaType


class KeyType(enum.StrEnum):
    SCHEMA = "SCHEMA"
    CONFIG = "CONFIG"
    MODE = "MODE"
    DELETE_SUBJECT = "DELETE_SUBJECT"
    NOOP = "NOOP"


@dataclass(frozen=True)
class SchemaValue:
    subject: str
    version: int
    schema_id: int
    text: str
    schema_type: SchemaType
    references: tuple[SchemaReference, ...]
    deleted: bool
    fingerprint: str


@dataclass(frozen=True)
class SchemaRecord:
    """One subject version; ``value`` None is a tombstone (permanent delete)."""

    subject: str
    version: int
    value: SchemaValue | None


@dataclass(frozen=True)
class ConfigRecord:
    subject: str | None
    level: CompatibilityLevel | None


@dataclass(frozen=True)
class ModeRecord:
    subject: str | None
    mode: RegistryMode | None


@dataclass(frozen=True)
class DeleteSubjectRecord:
    """Soft-deletes every version of ``subject`` up to ``version``."""

    subject: str
    version: int


@dataclass(frozen=True)
class NoopRecord:
    """Written to learn the log's end: once read back, everything before it has been read."""


Record = SchemaRecord | ConfigRecord | ModeRecord | DeleteSubjectRecord | NoopRecord


def fingerprint(
    schema_type: SchemaType, canonical: str, references: Sequence[SchemaReference]
) -> str:
    refs = [[r.name, r.subject, r.version] for r in references]
    payload = orjson.dumps([schema_type.value, canonical, refs])
    return hashlib.sha256(payload).hexdigest()


def _refs_json(references: Sequence[SchemaReference]) -> list[dict[str, Any]]:
    return [{"name": r.name, "subject": r.subject, "version": r.version} for r in references]


def encode(record: Record) -> tuple[bytes, bytes | None]:
    """Key and value bytes (value None: tombstone)."""
    key: dict[str, Any]
    value: dict[str, Any] | None
    match record:
        case SchemaRecord(subject, version, schema):
            key = {"keytype": "SCHEMA", "subject": subject, "version": version, "magic": 1}
            value = None
            if schema is not None:
                value = {
                    "subject": schema.subject,
                    "version": schema.version,
                    "id": schema.schema_id,
                    "schema": schema.text,
                    "deleted": schema.deleted,
                    "fingerprint": schema.fingerprint,
                }
                if schema.schema_type is not SchemaType.AVRO:
                    value["schemaType"] = schema.schema_type.value
                if schema.references:
                    value["references"] = _refs_json(schema.references)
        case ConfigRecord(subject, level):
            key = {"keytype": "CONFIG", "subject": subject, "magic": 0}
            value = None if level is None else {"compatibilityLevel": level.value}
        case ModeRecord(subject, mode):
            key = {"keytype": "MODE", "subject": subject, "magic": 0}
            value = None if mode is None else {"mode": mode.value}
        case DeleteSubjectRecord(subject, version):
            key = {"keytype": "DELETE_SUBJECT", "subject": subject, "magic": 0}
            value = {"subject": subject, "version": version}
        case NoopRecord():
            key = {"keytype": "NOOP", "magic": 0}
            value = None
    return orjson.dumps(key), None if value is None else orjson.dumps(value)


def decode(key_bytes: bytes | None, value_bytes: bytes | None) -> Record | None:
    """The record, or None for keys we do not understand (skipped, like Confluent does)."""
    if not key_bytes:
        return None
    try:
        key = orjson.loads(key_bytes)
        value = None if value_bytes is None else orjson.loads(value_bytes)
        return _decode(key, value)
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None


def _decode(key: dict[str, Any], value: dict[str, Any] | None) -> Record | None:
    keytype = key.get("keytype")
    subject = key.get("subject")
    if keytype == KeyType.SCHEMA:
        if value is None:
            return SchemaRecord(str(subject), int(key["version"]), None)
        return SchemaRecord(str(subject), int(key["version"]), decode_schema_value(value))
    if keytype == KeyType.CONFIG:
        level = None if value is None else CompatibilityLevel(value["compatibilityLevel"])
        return ConfigRecord(subject, level)
    if keytype == KeyType.MODE:
        mode = None if value is None else RegistryMode(value["mode"])
        return ModeRecord(subject, mode)
    if keytype == KeyType.DELETE_SUBJECT and value is not None:
        return DeleteSubjectRecord(str(value["subject"]), int(value["version"]))
    if keytype == KeyType.NOOP:
        return NoopRecord()
    return None


def decode_schema_value(value: dict[str, Any]) -> SchemaValue:
    schema_type = SchemaType(value.get("schemaType") or "AVRO")
    references = tuple(
        SchemaReference(str(r["name"]), str(r["subject"]), int(r["version"]))
        for r in value.get("references") or ()
    )
    text = str(value["schema"])
    return SchemaValue(
        subject=str(value["subject"]),
        version=int(value["version"]),
        schema_id=int(value["id"]),
        text=text,
        schema_type=schema_type,
        references=references,
        deleted=bool(value.get("deleted", False)),
        fingerprint=str(value.get("fingerprint") or fingerprint(schema_type, text, references)),
    )
