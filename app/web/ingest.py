"""``POST /v1/ingest``: one JSON record, a JSON array, or NDJSON, acknowledged by the broker.

The answer is 202 only after the broker acknowledged (acks=all) every accepted record; rejected
records are listed by index with the reason. Bodies that cannot be read as records at all are 400,
too many records or bytes are 413, and a broker that does not acknowledge is 503 (the caller may
retry: records are keyed by id, so de-duplication makes the retry safe).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import faust
import orjson
from aiohttp import web

from agents.ingest.records import RecordError, RejectReason, normalize_record
from app.http import HTTPError, json_response, read_body
from app.metrics import INGEST_BATCH_SECONDS, count_batch, tally_sources
from app.openapi import document
from app.producer import DeliveryError, OutRecord
from app.services import Services
from app.settings import Settings

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


def install_ingest_views(app: faust.App, settings: Settings, services: Services) -> None:
    topic = settings.topic_accepted
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
        try:
            await asyncio.wait_for(services.producer.send_batch(topic, accepted), ACK_TIMEOUT_S)
        except (DeliveryError, TimeoutError) as exc:
            raise HTTPError(
                503,
                "the broker did not acknowledge the records; retry the request",
                detail=str(exc) or "timeout",
            ) from None
        count_batch("http", tally_sources(sources), reasons)
        INGEST_BATCH_SECONDS.labels("http").observe(time.perf_counter() - started)
        answer = {"accepted": len(accepted), "rejected": rejected}
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
            "Answers 202 once the broker acknowledged every accepted record."
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
