"""``POST /v1/ingest``: one JSON record, a JSON array, or NDJSON, acknowledged by the broker.

The answer is 202 only after the broker acknowledged (acks=all) every accepted record; rejected
records are listed by index with the reason. Bodies that cannot be read as records at all are 400,
too many records or bytes are 413, and a broker that does not acknowledge is 503 (the caller may
retry: records are keyed by id, so de-duplication makes the retry safe).

With de-duplication, the EDGE engine drops duplicates before they reach Kafka (Redis holds the
first sightings of every instance); when the broker does not acknowledge, the batch's sightings
are released so that the client's retry is not taken for a duplicate.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import TYPE_CHECKING, Any, cast

import faust
import orjson
from aiohttp import web

from agents.dedupe.outputs import DedupeOutputs, apply_verdicts
from agents.ingest.records import RecordError, RejectReason, normalize_record
from app.http import HTTPError, json_response, read_body
from app.metrics import INGEST_BATCH_SECONDS, count_batch, tally_sources
from app.openapi import document
from app.producer import DeliveryError, OutRecord
from app.services import Services
from app.settings import Settings
from tables.dedupe import Record
from tables.dedupe.redis_mirror import PendingBloomAdd

if TYPE_CHECKING:
    from agents.dedupe.runtime import DedupeRuntime

NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
ACK_TIMEOUT_S = 30.0

RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id"],
    "properties": {
        "id": {"type": "string", "minLength": 1, "maxLength": 512},
        "source": {"type": "string"},
        "event_time": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "integer"}]},
        "payload": {"type": "object"},
    },
}


def parse_body(body: bytes, content_type: str) -> list[Any | RecordError]:
    """Decode the body into records; a line of NDJSON that is not JSON becomes a RecordError."""
    if not body.strip():
        raise HTTPError(400, "request body is empty; send a JSON record, a JSON array or NDJSON")
    if content_type not in NDJSON_TYPES:
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if b"\n" not in body.strip():
                raise HTTPError(400, f"request body is not valid JSON: {exc}") from None
        else:
            return decoded if isinstance(decoded, list) else [decoded]
    items: list[Any | RecordError] = []
    for number, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            items.append(RecordError(RejectReason.INVALID_JSON, f"line {number}: {exc}"))
    if items and all(isinstance(i, RecordError) for i in items):
        raise HTTPError(400, "request body is neither JSON nor NDJSON", first_error=str(items[0]))
    return items


def install_ingest_views(
    app: faust.App, settings: Settings, services: Services, dedupe: DedupeRuntime | None = None
) -> None:
    topic, dlq_topic = settings.topic_accepted, settings.topic_dlq
    max_batch = settings.ingest_max_batch
    max_bytes = settings.ingest_max_body_bytes

    async def ingest(request: web.Request) -> web.Response:
        started = time.perf_counter()
        body = await read_body(request, max_bytes)
        items = parse_body(body, request.content_type)
        if len(items) > max_batch:
            raise HTTPError(
                413, f"batch of {len(items)} records exceeds the limit of {max_batch} records"
            )
        now_ms = int(time.time() * 1000)
        accepted: list[OutRecord] = []
        sources: list[str | None] = []
        records: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        reasons: Counter[str] = Counter()
        dumps = orjson.dumps
        for index, item in enumerate(items):
            try:
                if isinstance(item, RecordError):
                    raise item
                record = normalize_record(item, now_ms)
            except RecordError as exc:
                rejected.append({"index": index, "reason": exc.reason.value, "error": exc.detail})
                reasons[exc.reason.value] += 1
                continue
            accepted.append((record["id"].encode(), dumps(record), None))
            sources.append(record["source"])
            records.append(record)
        out = DedupeOutputs(forward=accepted)
        verdicts = None
        # Bloom keys are added only once the broker acknowledged the batch: an addition cannot
        # be undone, so adding first would make the client's retry after a 503 look "seen" and
        # drop it. The cost: two concurrent requests with one new id may both pass (Bloom mode
        # is approximate; exact and fuzzy modes claim their keys in the check itself).
        bloom_adds: list[PendingBloomAdd] = []
        if dedupe is not None and records and dedupe.active:
            out = DedupeOutputs()
            verdicts = await dedupe.edge.check_batch(
                cast(list[Record], records), now_ms, bloom_adds
            )
            apply_verdicts(records, accepted, verdicts, out)
        try:
            await asyncio.wait_for(
                services.producer.send_many([(topic, out.forward), (dlq_topic, out.dead)]),
                ACK_TIMEOUT_S,
            )
        except (DeliveryError, TimeoutError) as exc:
            if dedupe is not None and verdicts is not None:
                await dedupe.edge.release(cast(list[Record], records), verdicts, now_ms)
            raise HTTPError(
                503,
                "the broker did not acknowledge the records; retry the request",
                detail=str(exc) or "timeout",
            ) from None
        if dedupe is not None and bloom_adds:
            await dedupe.edge.apply_bloom_adds(bloom_adds, now_ms)
        count_batch("http", tally_sources(sources), reasons)
        INGEST_BATCH_SECONDS.labels("http").observe(time.perf_counter() - started)
        answer = {
            "accepted": len(out.forward),
            "duplicates": len(accepted) - len(out.forward),
            "rejected": rejected,
        }
        if not accepted:
            return json_response({**answer, "error": "no record was valid", "status": 422}, 422)
        return json_response(answer, 202)

    class IngestView(faust.web.View):
        async def post(self, request: web.Request) -> web.Response:
            return await ingest(request)

    app.page("/v1/ingest", name="ingest")(IngestView)
    document(
        "POST",
        "/v1/ingest",
        summary="Ingest records over HTTP",
        description=(
            "Body: one JSON record, a JSON array of records, or NDJSON (one record per line). "
            "Answers 202 once the broker acknowledged every accepted record. Duplicates "
            "(per the source's de-duplication config) are not forwarded and are counted in "
            "`duplicates` (late duplicates follow the late policy: flagged ones count as "
            "accepted, dead-lettered or dropped ones as duplicates)."
        ),
        tag="ingest",
        request_body={"oneOf": [RECORD_SCHEMA, {"type": "array", "items": RECORD_SCHEMA}]},
        request_content_types=("application/json", "application/x-ndjson"),
        responses={
            202: "Accepted records were acknowledged by the broker",
            400: "The body is not JSON or NDJSON",
            413: "Too many records or bytes",
            422: "No record in the body was valid",
            503: "The broker did not acknowledge",
        },
        response_schema={
            "type": "object",
            "properties": {
                "accepted": {"type": "integer"},
                "duplicates": {"type": "integer"},
                "rejected": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "index": {"type": "integer"},
                            "reason": {"type": "string"},
                            "error": {"type": "string"},
                        },
                    },
                },
            },
        },
    )
