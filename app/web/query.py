"""Query API: ``/v1/query``, ``/v1/query/batch``, ``/v1/query/stats``, ``/v1/dashboards/{id}``.

Every answer is JSON; query errors answer their ``QueryError.status`` (400 bad query or range,
404 unknown metric or dashboard, 413 too large) with ``QueryError.to_dict()``. A worker holding
needed partitions that does not answer is 503: a partial answer is never served.
``POST /v1/query/windows`` is what workers ask each other (their local windows of a range).
Queries are reads: a ``viewer`` token may POST them.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

import faust
import orjson
from aiohttp import web

from agents.query.cluster import WINDOWS_PATH, PeerUnavailable, encode_windows
from agents.query.runtime import QueryRuntime
from app.http import HTTPError, json_response, read_body
from app.openapi import document
from app.web.auth import require_role
from tables.query.dashboards import Dashboard, refresh
from tables.query.errors import QueryError
from tables.query.timeparse import parse_instant_ms
from tables.tokens import Role

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_BATCH_QUERIES = 500

#: The caller's Authorization header, forwarded on the peer reads its query triggers.
CALLER_AUTHORIZATION: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "datanexus_query_authorization", default=None
)


def peer_headers() -> dict[str, str]:
    value = CALLER_AUTHORIZATION.get()
    return {} if value is None else {"Authorization": value}


async def _json_body(request: web.Request) -> Any:
    body = await read_body(request, MAX_BODY_BYTES)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise HTTPError(400, f"request body is not valid JSON: {exc}") from None


def _error(exc: QueryError) -> web.Response:
    return json_response(exc.to_dict(), exc.status)


def _unavailable(exc: PeerUnavailable) -> HTTPError:
    return HTTPError(503, "a worker holding part of the data did not answer", detail=str(exc))


def install_query_views(app: faust.App, runtime: QueryRuntime) -> None:
    class QueryView(faust.web.View):
        async def post(self, request: web.Request) -> web.Response:
            body = await _json_body(request)
            CALLER_AUTHORIZATION.set(request.headers.get("Authorization"))
            try:
                return json_response(await runtime.engine.query(body))
            except QueryError as exc:
                return _error(exc)
            except PeerUnavailable as exc:
                raise _unavailable(exc) from None

    class QueryBatchView(faust.web.View):
        async def post(self, request: web.Request) -> web.Response:
            body = await _json_body(request)
            queries = body.get("queries") if isinstance(body, Mapping) else body
            if not isinstance(queries, list):
                raise HTTPError(400, "body must be {'queries': [query, ...]} or a list of queries")
            if len(queries) > MAX_BATCH_QUERIES:
                raise HTTPError(413, f"at most {MAX_BATCH_QUERIES} queries per batch")
            CALLER_AUTHORIZATION.set(request.headers.get("Authorization"))
            try:
                results = await runtime.engine.query_many(queries)
            except PeerUnavailable as exc:
                raise _unavailable(exc) from None
            return json_response({"results": results})

    class QueryStatsView(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return json_response(
                {
                    **runtime.engine.stats(),
                    "metrics": runtime.catalog.names(),
                    "peers": runtime.peers(),
                    "partitions": runtime.owned(),
                }
            )

    class WindowsView(faust.web.View):
        async def post(self, request: web.Request) -> web.Response:
            body = await _json_body(request)
            if not isinstance(body, Mapping) or not isinstance(body.get("metric"), str):
                raise HTTPError(400, "body must be {'metric': str, 'from': ms, 'to': ms}")
            try:
                from_ms = parse_instant_ms(body.get("from"), 0, "from")
                to_ms = parse_instant_ms(body.get("to"), 0, "to")
            except QueryError as exc:
                return _error(exc)
            records = runtime.store.range(body["metric"], from_ms, to_ms)
            return web.Response(body=encode_windows(records), content_type="application/json")

    class DashboardView(faust.web.View):
        async def get(self, request: web.Request, **params: str) -> web.Response:
            return json_response(_load(params["id"]).to_dict())

        async def put(self, request: web.Request, **params: str) -> web.Response:
            body = await _json_body(request)
            try:
                dashboard = Dashboard.from_dict(body, params["id"])
                dashboard.validate(runtime.engine)
            except QueryError as exc:
                return _error(exc)
            runtime.dashboards.put(dashboard)
            return json_response(dashboard.to_dict())

    class DashboardDataView(faust.web.View):
        async def get(self, request: web.Request, **params: str) -> web.Response:
            dashboard = _load(params["id"])
            CALLER_AUTHORIZATION.set(request.headers.get("Authorization"))
            try:
                return json_response(await refresh(dashboard, runtime.engine))
            except PeerUnavailable as exc:
                raise _unavailable(exc) from None

    def _load(dashboard_id: str) -> Dashboard:
        dashboard = runtime.dashboards.get(dashboard_id)
        if dashboard is None:
            raise HTTPError(404, f"no dashboard {dashboard_id!r}")
        return dashboard

    runtime.client.headers = peer_headers
    app.page("/v1/query", name="query")(QueryView)
    app.page("/v1/query/batch", name="query_batch")(QueryBatchView)
    app.page("/v1/query/stats", name="query_stats")(QueryStatsView)
    app.page(WINDOWS_PATH, name="query_windows")(WindowsView)
    app.page("/v1/dashboards/{id}", name="dashboard")(DashboardView)
    app.page("/v1/dashboards/{id}/data", name="dashboard_data")(DashboardDataView)
    for path in ("/v1/query", "/v1/query/batch", WINDOWS_PATH):
        require_role(path, Role.VIEWER, ("POST",))
    _document()


QUERY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["metric", "from", "to", "step", "aggregate"],
    "properties": {
        "metric": {"type": "string"},
        "from": {"oneOf": [{"type": "integer"}, {"type": "string", "example": "now-24h"}]},
        "to": {"oneOf": [{"type": "integer"}, {"type": "string", "example": "now"}]},
        "step": {"oneOf": [{"type": "integer"}, {"type": "string", "example": "5m"}]},
        "group_by": {"type": "array", "items": {"type": "string"}},
        "filters": {"type": "object"},
        "aggregate": {"type": "string", "example": "amount.sum"},
    },
}
RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "metric": {"type": "string"},
        "step": {"type": "integer"},
        "from": {"type": "integer"},
        "to": {"type": "integer"},
        "aggregate": {"type": "string"},
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "key": {"type": "object"},
                    "points": {"type": "array", "items": {"type": "array"}},
                },
            },
        },
    },
}
DASHBOARD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["widgets"],
    "properties": {
        "title": {"type": "string"},
        "widgets": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["query"],
                "properties": {
                    "id": {"type": "string"},
                    "title": {"type": "string"},
                    "query": QUERY_SCHEMA,
                },
            },
        },
    },
}
_AUTH = {401: "Missing or invalid token", 403: "The token's role may not do this"}
_QUERY_ERRORS = {
    400: "Malformed query or bad range",
    404: "Unknown metric",
    413: "Result too large",
    503: "A worker holding part of the data did not answer",
}


def _document() -> None:
    document(
        "POST",
        "/v1/query",
        summary="Aggregate query over windowed metrics",
        description="Answers JSON time series; relative ranges ('now-1h') are aligned to step.",
        tag="query",
        request_body=QUERY_SCHEMA,
        responses={200: "Time series", **_QUERY_ERRORS, **_AUTH},
        response_schema=RESULT_SCHEMA,
    )
    document(
        "POST",
        "/v1/query/batch",
        summary="Many queries at once; each result is a result or an error object",
        tag="query",
        request_body={
            "type": "object",
            "properties": {"queries": {"type": "array", "items": QUERY_SCHEMA}},
        },
        responses={200: "One item per query", 400: "Malformed body", 413: "Too many queries"},
        response_schema={
            "type": "object",
            "properties": {"results": {"type": "array", "items": {"type": "object"}}},
        },
    )
    document(
        "GET",
        "/v1/query/stats",
        summary="Query engine counters: cache hits/misses, coalesced, merged, backend fetches",
        tag="query",
        responses={200: "Counters and configuration", **_AUTH},
        response_schema={"type": "object"},
    )
    document(
        "POST",
        WINDOWS_PATH,
        summary="This worker's stored windows of a range (what workers ask each other)",
        tag="query",
        request_body={
            "type": "object",
            "required": ["metric", "from", "to"],
            "properties": {
                "metric": {"type": "string"},
                "from": {"type": "integer"},
                "to": {"type": "integer"},
            },
        },
        responses={200: "[[group_key, start, end, aggregates, final], ...]", 400: "Bad body"},
        response_schema={"type": "array", "items": {"type": "array"}},
    )
    document(
        "GET",
        "/v1/dashboards/{id}",
        summary="A saved dashboard",
        tag="query",
        responses={200: "The dashboard", 404: "No such dashboard", **_AUTH},
        response_schema=DASHBOARD_SCHEMA,
    )
    document(
        "PUT",
        "/v1/dashboards/{id}",
        summary="Save a dashboard (widgets are validated queries)",
        tag="query",
        request_body=DASHBOARD_SCHEMA,
        responses={200: "Saved", 400: "Invalid dashboard or widget query", 404: "Unknown metric"},
        response_schema=DASHBOARD_SCHEMA,
    )
    document(
        "GET",
        "/v1/dashboards/{id}/data",
        summary="Refresh every widget of a dashboard at once",
        tag="query",
        responses={200: "Every widget's result or error", 404: "No such dashboard", **_AUTH},
        response_schema={"type": "object"},
    )
