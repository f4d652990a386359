"""``/v1/dedupe/config`` (GET, PUT) and ``/v1/dedupe/stats``: the de-duplication settings shared by
every instance (stored in Redis, reloaded by each instance within about a second) and its counts."""

from __future__ import annotations

from typing import Any

import faust
import orjson
from aiohttp import web

from agents.dedupe.config_sync import ConfigUnavailable
from agents.dedupe.runtime import DedupeRuntime
from app.http import HTTPError, json_response, read_body
from app.openapi import document
from tables.dedupe import DedupeConfigError

MAX_CONFIG_BYTES = 1024 * 1024

CONFIG_FIELDS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "mode": {"type": "string", "enum": ["off", "exact", "fuzzy", "bloom"]},
        "window_ms": {"type": "integer", "minimum": 1000, "maximum": 3_600_000},
        "window_s": {"type": "number", "description": "window_ms in seconds"},
        "clock": {"type": "string", "enum": ["receive_time", "event_time"]},
        "late_policy": {"type": "string", "enum": ["accept", "flag", "drop", "dlq"]},
        "late_horizon_ms": {"type": "integer"},
        "ignore_fields": {"type": "array", "items": {"type": "string"}},
        "bloom_capacity": {"type": "integer"},
        "bloom_fp_rate": {"type": "number"},
        "bloom_slices": {"type": "integer"},
        "late_capacity": {"type": "integer"},
        "late_fp_rate": {"type": "number"},
    },
}
REGISTRY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "default": CONFIG_FIELDS,
        "sources": {"type": "object", "additionalProperties": CONFIG_FIELDS},
    },
}


def install_dedupe_views(app: faust.App, runtime: DedupeRuntime) -> None:
    def config_answer() -> dict[str, Any]:
        return {**runtime.registry.to_json(), "shared": runtime.config.shared}

    class ConfigView(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return json_response(config_answer())

        async def put(self, request: web.Request) -> web.Response:
            body = await read_body(request, MAX_CONFIG_BYTES)
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise HTTPError(400, f"body is not valid JSON: {exc}", field="body") from None
            if not isinstance(data, dict):
                raise HTTPError(400, "body must be a JSON object", field="body")
            try:
                await runtime.config.update(data)
            except DedupeConfigError as exc:
                raise HTTPError(422, str(exc), field=exc.field_name) from None
            except ConfigUnavailable as exc:
                raise HTTPError(
                    503, "Redis did not store the config; nothing changed", detail=str(exc)
                ) from None
            return json_response(config_answer())

    class StatsView(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return json_response(await runtime.stats())

    app.page("/v1/dedupe/config", name="dedupe_config")(ConfigView)
    app.page("/v1/dedupe/stats", name="dedupe_stats")(StatsView)
    config_response = {
        "type": "object",
        "properties": {**REGISTRY_SCHEMA["properties"], "shared": {"type": "boolean"}},
    }
    document(
        "GET",
        "/v1/dedupe/config",
        summary="The de-duplication config: a default and per-source overrides",
        description="`shared` is true when the config is shared through Redis by all instances.",
        tag="dedupe",
        responses={200: "The config in force on this instance"},
        response_schema=config_response,
    )
    document(
        "PUT",
        "/v1/dedupe/config",
        summary="Change the de-duplication config of the default and/or some sources",
        description=(
            'Body: `{"default": {...}, "sources": {"name": {...}}}`; omitted fields keep '
            "their values. The window is at most 1 hour. Stored in Redis, every instance applies "
            "it within about a second. Errors name the offending field in `field`."
        ),
        tag="dedupe",
        request_body=REGISTRY_SCHEMA,
        responses={
            200: "Applied; the whole config in force",
            400: "The body is not a JSON object",
            422: "A field has an invalid value (see `field`)",
            503: "Redis is configured but unreachable; nothing changed",
        },
        response_schema=config_response,
    )
    document(
        "GET",
        "/v1/dedupe/stats",
        summary="De-duplication counts, ratios, Bloom fill and expected false-positive rates",
        description=(
            "Per stage (`edge`: HTTP ingest, `stream`: Kafka ingest agent): degraded state, "
            "Redis catch-up queue, and per source the counts by mode and result (counts cover "
            "both stages of this instance) and, for Bloom mode, fill ratios and expected "
            "false-positive rate."
        ),
        tag="dedupe",
        responses={200: "Statistics of this instance"},
        response_schema={"type": "object"},
    )
