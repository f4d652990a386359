"""The ingest record contract, shared by the Kafka agent and ``POST /v1/ingest``.

Accepted record (JSON on ``datanexus.ingest.accepted``, key = id)::

    {"id": str, "source": str | null, "event_time": int (epoch ms), "payload": object,
     "ingested_at": int (epoch ms, set by us)}

``event_time`` arrives as ISO-8601 text or epoch milliseconds and defaults to receive time.
Validation is a hot path (every record, both ingest paths): plain checks, no schema library.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

MAX_ID_LENGTH = 512
MAX_SOURCE_LENGTH = 256
# Epoch ms beyond year 9999 is certainly a unit mistake (seconds*1e6, ns ...).
MAX_EPOCH_MS = 253_402_300_799_999


class RejectReason(enum.StrEnum):
    """Why a record was rejected; the value is the metric label and the DLQ header."""

    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_ID = "missing_id"
    INVALID_ID = "invalid_id"
    ID_MISMATCH = "id_mismatch"
    INVALID_SOURCE = "invalid_source"
    INVALID_EVENT_TIME = "invalid_event_time"
    INVALID_PAYLOAD = "invalid_payload"


class RecordError(ValueError):
    def __init__(self, reason: RejectReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def parse_event_time(value: Any, default_ms: int) -> int:
    if value is None:
        return default_ms
    if isinstance(value, bool):
        raise RecordError(RejectReason.INVALID_EVENT_TIME, "event_time must not be a boolean")
    if isinstance(value, int):
        if 0 <= value <= MAX_EPOCH_MS:
            return value
        raise RecordError(
            RejectReason.INVALID_EVENT_TIME, f"event_time {value} is not epoch milliseconds"
        )
    if isinstance(value, float):
        if value != value or not 0 <= value <= MAX_EPOCH_MS:
            raise RecordError(
                RejectReason.INVALID_EVENT_TIME, f"event_time {value} is not epoch milliseconds"
            )
        return int(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise RecordError(
                RejectReason.INVALID_EVENT_TIME,
                f"event_time {value[:64]!r} is neither ISO-8601 nor epoch milliseconds",
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp() * 1000)
    raise RecordError(
        RejectReason.INVALID_EVENT_TIME,
        f"event_time must be ISO-8601 text or epoch ms, got {type(value).__name__}",
    )


def normalize_record(obj: Any, now_ms: int, key_id: str | None = None) -> dict[str, Any]:
    """Validate one decoded record and return the accepted form (raises RecordError)."""
    if not isinstance(obj, dict):
        raise RecordError(
            RejectReason.NOT_AN_OBJECT, f"a record must be a JSON object, got {_json_type(obj)}"
        )
    record_id = obj.get("id")
    if record_id is None:
        if key_id is None:
            raise RecordError(RejectReason.MISSING_ID, "field 'id' is required")
        record_id = key_id
    elif not isinstance(record_id, str) or not record_id or len(record_id) > MAX_ID_LENGTH:
        raise RecordError(
            RejectReason.INVALID_ID,
            f"field 'id' must be a non-empty string of at most {MAX_ID_LENGTH} characters",
        )
    elif key_id is not None and key_id != record_id:
        raise RecordError(
            RejectReason.ID_MISMATCH,
            f"record key {key_id[:64]!r} differs from field 'id' {record_id[:64]!r}",
        )
    source = obj.get("source")
    if source is not None and (not isinstance(source, str) or len(source) > MAX_SOURCE_LENGTH):
        raise RecordError(
            RejectReason.INVALID_SOURCE,
            f"field 'source' must be a string of at most {MAX_SOURCE_LENGTH} characters",
        )
    payload = obj.get("payload")
    if payload is None:
        payload = {}
    elif not isinstance(payload, dict):
        raise RecordError(
            RejectReason.INVALID_PAYLOAD,
            f"field 'payload' must be a JSON object, got {_json_type(payload)}",
        )
    return {
        "id": record_id,
        "source": source,
        "event_time": parse_event_time(obj.get("event_time"), now_ms),
        "payload": payload,
        "ingested_at": now_ms,
    }


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
