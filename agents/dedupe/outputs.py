"""What a verdict turns a record into: the accepted record (with the late header for `flag`) or a
dead-letter record that says why; shared by the HTTP edge and the stream stage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from agents.ingest.triage import ERROR_DETAIL_HEADER, ERROR_REASON_HEADER
from app.producer import Headers, OutRecord
from tables.dedupe import LATE_HEADER, DedupeAction, Verdict

LATE_DUPLICATE_REASON = "late_duplicate"


@dataclass
class DedupeOutputs:
    forward: list[OutRecord] = field(default_factory=list)
    dead: list[OutRecord] = field(default_factory=list)
    dropped: int = 0
    flagged: int = 0


def apply_verdicts(
    records: Sequence[dict[str, Any]],
    encoded: Sequence[OutRecord],
    verdicts: Sequence[Verdict],
    out: DedupeOutputs,
    extra_dlq_headers: Headers | None = None,
) -> None:
    """`encoded[i]` is the accepted form of `records[i]`; appends to `out`."""
    for record, (key, value, headers), verdict in zip(records, encoded, verdicts, strict=True):
        action = verdict.action
        if action is DedupeAction.FORWARD:
            out.forward.append((key, value, headers))
        elif action is DedupeAction.FLAG:
            out.forward.append((key, value, [*(headers or ()), LATE_HEADER]))
            out.flagged += 1
        elif action is DedupeAction.DLQ:
            out.dead.append(dead_letter(record, verdict, headers, extra_dlq_headers))
        else:
            out.dropped += 1


def dead_letter(
    record: dict[str, Any],
    verdict: Verdict,
    headers: Headers | None,
    extra_headers: Headers | None = None,
) -> OutRecord:
    value = orjson.dumps(
        {
            "reason": LATE_DUPLICATE_REASON,
            "error": verdict.reason,
            "result": verdict.result.value,
            "record": record,
        }
    )
    out_headers: Headers = [
        *(headers or ()),
        *(extra_headers or ()),
        (ERROR_REASON_HEADER, LATE_DUPLICATE_REASON.encode()),
        (ERROR_DETAIL_HEADER, verdict.reason.encode()),
    ]
    return (str(record["id"]).encode(), value, out_headers)
