"""Pure batch triage for the Kafka ingest agent: raw messages -> accepted and dead-letter records.

Kept apart from the agent so the rules (what is rejected, what the DLQ record says) are tested
without a broker.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from agents.ingest.records import RecordError, RejectReason, normalize_record
from app.producer import Headers, OutRecord

ERROR_REASON_HEADER = "datanexus-error-reason"
ERROR_DETAIL_HEADER = "datanexus-error"
ORIGIN_TOPIC_HEADER = "datanexus-origin-topic"
ORIGIN_PARTITION_HEADER = "datanexus-origin-partition"
ORIGIN_OFFSET_HEADER = "datanexus-origin-offset"


class RawMessage(NamedTuple):
    key: bytes | None
    value: bytes | None
    headers: Headers | None
    topic: str
    partition: int
    offset: int


@dataclass
class Triage:
    accepted: list[OutRecord] = field(default_factory=list)
    dead: list[OutRecord] = field(default_factory=list)
    sources: list[str | None] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    records: list[dict[str, Any]] = field(default_factory=list)
    """The accepted records as dicts (same order as `accepted`), for de-duplication."""


def dead_letter(message: RawMessage, reason: RejectReason, detail: str) -> OutRecord:
    """The DLQ record: the reason in headers and value, the original bytes kept verbatim."""
    original = message.value or b""
    try:
        original_text: Any = original.decode("utf-8")
        encoding = "utf-8"
    except UnicodeDecodeError:
        original_text = original.hex()
        encoding = "hex"
    value = orjson.dumps(
        {
            "reason": reason.value,
            "error": detail,
            "origin": {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
            },
            "key": message.key.decode("utf-8", "replace") if message.key is not None else None,
            "value": original_text,
            "value_encoding": encoding,
        }
    )
    headers: Headers = [
        *(message.headers or ()),
        (ERROR_REASON_HEADER, reason.value.encode()),
        (ERROR_DETAIL_HEADER, detail.encode("utf-8", "replace")[:1024]),
        (ORIGIN_TOPIC_HEADER, message.topic.encode()),
        (ORIGIN_PARTITION_HEADER, str(message.partition).encode()),
        (ORIGIN_OFFSET_HEADER, str(message.offset).encode()),
    ]
    return (message.key, value, headers)


def triage(messages: Sequence[RawMessage], now_ms: int) -> Triage:
    out = Triage()
    loads, dumps = orjson.loads, orjson.dumps
    for message in messages:
        try:
            if message.value is None:
                raise RecordError(RejectReason.INVALID_JSON, "record value is empty (tombstone)")
            try:
                obj = loads(message.value)
            except orjson.JSONDecodeError as exc:
                raise RecordError(RejectReason.INVALID_JSON, f"value is not JSON: {exc}") from None
            key_id: str | None = None
            if message.key is not None:
                try:
                    key_id = message.key.decode("utf-8")
                except UnicodeDecodeError:
                    raise RecordError(RejectReason.INVALID_ID, "key is not UTF-8") from None
            record = normalize_record(obj, now_ms, key_id)
        except RecordError as exc:
            out.dead.append(dead_letter(message, exc.reason, exc.detail))
            out.rejected[exc.reason.value] += 1
            continue
        out.accepted.append((record["id"].encode(), dumps(record), message.headers or None))
        out.sources.append(record["source"])
        out.records.append(record)
    return out
