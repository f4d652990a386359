"""The OpenAPI 3 description of every ``/v1`` endpoint.

Each view module documents its own operations next to its code with :func:`document`; the
``/openapi.json`` view serves what was collected. A test fails when a ``/v1`` route is served but
not documented, so the description cannot drift.
"""

from __future__ import annotations

import copy
from typing import Any

_OPERATIONS: dict[str, dict[str, dict[str, Any]]] = {}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "status"],
    "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
}


def document(
    method: str,
    path: str,
    *,
    summary: str,
    description: str = "",
    tag: str = "datanexus",
    request_body: dict[str, Any] | None = None,
    request_content_types: tuple[str, ...] = ("application/json",),
    responses: dict[int, str] | None = None,
    response_schema: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
) -> None:
    operation: dict[str, Any] = {"summary": summary, "tags": [tag]}
    if description:
        operation["description"] = description
    path_params = [
        {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for part in path.split("/")
        if part.startswith("{") and part.endswith("}")
    ]
    if path_params or parameters:
        operation["parameters"] = path_params + list(parameters or [])
    if request_body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {ct: {"schema": request_body} for ct in request_content_types},
        }
    answers: dict[str, Any] = {}
    for status, text in (responses or {200: "OK"}).items():
        schema = response_schema if status < 400 else ERROR_SCHEMA
        answer: dict[str, Any] = {"description": text}
        if schema is not None:
            answer["content"] = {"application/json": {"schema": schema}}
        answers[str(status)] = answer
    operation["responses"] = answers
    _OPERATIONS.setdefault(path, {})[method.lower()] = operation


def documented_operations() -> set[tuple[str, str]]:
    return {(m.upper(), p) for p, ops in _OPERATIONS.items() for m in ops}


def build_spec(version: str) -> dict[str, Any]:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "DataNexus",
            "version": version,
            "description": "Kafka-native real-time data pipeline and analytics platform.",
        },
        "paths": copy.deepcopy(_OPERATIONS),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": ERROR_SCHEMA},
        },
    }
