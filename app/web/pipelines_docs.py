"""OpenAPI descriptions of the pipeline routes (kept apart so the view module stays readable)."""

from __future__ import annotations

from typing import Any

from app.openapi import document

TAG = "pipelines"
AUTH = {401: "Missing or invalid token", 403: "The token's role may not do this"}
PAGE_PARAMS: list[dict[str, Any]] = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}},
    {
        "name": "page_size",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
    },
]
IF_MATCH: list[dict[str, Any]] = [
    {
        "name": "If-Match",
        "in": "header",
        "required": False,
        "schema": {"type": "string"},
        "description": 'The version you changed (the ETag, e.g. "3"); 409 if it is not current',
    }
]
PIPELINE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "version": {"type": "integer"},
        "oldest_version": {"type": "integer"},
        "created_ms": {"type": "integer"},
        "created_by": {"type": "string"},
        "updated_ms": {"type": "integer"},
        "updated_by": {"type": "string"},
        "config": {"type": "object"},
    },
}
VERSION_META: dict[str, Any] = {
    "type": "object",
    "properties": {
        "version": {"type": "integer"},
        "author": {"type": "string"},
        "created_ms": {"type": "integer"},
        "description": {"type": "string"},
        "kind": {"type": "string", "enum": ["created", "updated", "rolled_back"]},
        "previous_version": {"type": ["integer", "null"]},
        "rollback_of": {"type": ["integer", "null"]},
    },
}
LINKS: dict[str, Any] = {
    "type": "object",
    "properties": {
        k: {"type": ["string", "null"]} for k in ("self", "first", "last", "next", "prev")
    },
}


def _listing(items: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": items},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "page_size": {"type": "integer"},
            "pages": {"type": "integer"},
            "links": LINKS,
            "owned_partitions": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "Partitions of the pipeline commands this worker owns (listings)",
            },
        },
    }


STATUS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "pipeline_id": {"type": "string"},
        "version": {"type": "integer"},
        "desired": {"type": "string", "enum": ["active", "paused"]},
        "state": {"type": "string"},
        "running_version": {"type": ["integer", "null"]},
        "records_in": {"type": "integer"},
        "records_out": {"type": "integer"},
        "records_dropped": {"type": "integer"},
        "lag": {"type": ["integer", "null"]},
    },
}
DOCUMENT = {
    "oneOf": [
        {"type": "object", "description": "A pipeline config: see GET /v1/pipelines/schema"},
        {
            "type": "object",
            "required": ["config"],
            "properties": {"config": {"type": "object"}, "description": {"type": "string"}},
        },
    ]
}


def document_pipeline_routes(base: str) -> None:
    one = base + "/{pipeline_id}"
    document(
        "GET",
        base + "/schema",
        summary="The JSON Schema of a pipeline config",
        tag=TAG,
        responses={200: "JSON Schema (draft 2020-12)", **AUTH},
        response_schema={"type": "object"},
    )
    document(
        "GET",
        base,
        summary="List pipelines (paginated, oldest first)",
        tag=TAG,
        parameters=[
            *PAGE_PARAMS,
            {
                "name": "scope",
                "in": "query",
                "schema": {"type": "string", "enum": ["all", "local"], "default": "all"},
                "description": "local: only pipelines owned by this worker (used between workers)",
            },
        ],
        responses={200: "One page", 422: "Bad page or page_size", **AUTH},
        response_schema=_listing(PIPELINE),
    )
    document(
        "POST",
        base,
        summary="Create a pipeline (version 1); the id is generated unless the config has one",
        description=(
            "Body: the config, or {config, description}. The config is validated against "
            f"GET {base}/schema; 422 lists each bad field as a JSON pointer."
        ),
        tag=TAG,
        request_body=DOCUMENT,
        responses={201: "Created", 409: "The id exists", 422: "Invalid config", **AUTH},
        response_schema=PIPELINE,
    )
    document(
        "GET",
        one,
        summary="A pipeline's current config and version (ETag = version)",
        tag=TAG,
        responses={200: "The pipeline", 404: "No such pipeline", **AUTH},
        response_schema=PIPELINE,
    )
    document(
        "PUT",
        one,
        summary="Change a pipeline: a new version (none if the config is unchanged)",
        tag=TAG,
        request_body=DOCUMENT,
        parameters=IF_MATCH,
        responses={
            200: "The new head",
            404: "No such pipeline",
            409: "If-Match is not the current version",
            422: "Invalid config",
            **AUTH,
        },
        response_schema=PIPELINE,
    )
    document(
        "DELETE",
        one,
        summary="Delete a pipeline (its runner stops; history is kept for a re-creation)",
        tag=TAG,
        parameters=IF_MATCH,
        responses={204: "Deleted", 404: "No such pipeline", 409: "Stale If-Match", **AUTH},
        response_schema=None,
    )
    document(
        "GET",
        one + "/versions",
        summary="Kept versions, newest first (at most 100 are kept)",
        tag=TAG,
        parameters=PAGE_PARAMS,
        responses={200: "One page", 404: "No such pipeline", 422: "Bad paging", **AUTH},
        response_schema=_listing(VERSION_META),
    )
    document(
        "GET",
        one + "/versions/{version}",
        summary="One version with its config",
        tag=TAG,
        responses={
            200: "The version",
            404: "No such version",
            410: "The version was pruned",
            422: "Not a number",
            **AUTH,
        },
        response_schema={
            **VERSION_META,
            "properties": {**VERSION_META["properties"], "config": {"type": "object"}},
        },
    )
    document(
        "GET",
        one + "/versions/{v1}/diff/{v2}",
        summary="Structured diff: RFC 6902 JSON Patch from v1 to v2 plus readable changes",
        tag=TAG,
        responses={200: "The diff", 404: "No such version", 410: "Pruned", **AUTH},
        response_schema={
            "type": "object",
            "properties": {
                "from": {"type": "integer"},
                "to": {"type": "integer"},
                "patch": {"type": "array", "items": {"type": "object"}},
                "changes": {"type": "array", "items": {"type": "object"}},
            },
        },
    )
    document(
        "POST",
        one + "/rollback/{version}",
        summary="Make a new version whose config equals that version's (records who and from)",
        tag=TAG,
        parameters=IF_MATCH,
        responses={
            200: "The new head",
            404: "No such version",
            409: "Stale If-Match",
            410: "The version was pruned",
            **AUTH,
        },
        response_schema=PIPELINE,
    )
    for action, text in (("pause", "Pause"), ("resume", "Resume")):
        document(
            "POST",
            one + f"/{action}",
            summary=f"{text} the pipeline (after the batch in flight is committed)",
            tag=TAG,
            responses={200: "The status", 404: "No such pipeline", **AUTH},
            response_schema=STATUS,
        )
    document(
        "GET",
        one + "/status",
        summary="Running version, state, records in/out, lag",
        tag=TAG,
        responses={200: "The status", 404: "No such pipeline", **AUTH},
        response_schema=STATUS,
    )
