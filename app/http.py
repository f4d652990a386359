"""JSON responses and errors for every HTTP view, so no handler answers HTML or a bare 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

log = logging.getLogger(__name__)

JSON = "application/json"


def json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type=JSON,
        headers=headers,
    )


def error_response(status: int, message: str, **details: Any) -> web.Response:
    return json_response({"error": message, "status": status, **details}, status=status)


class HTTPError(Exception):
    """Raised by handlers to answer a JSON error."""

    def __init__(self, status: int, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.details = details

    def response(self) -> web.Response:
        return error_response(self.status, self.message, **self.details)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except HTTPError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400 or exc.content_type == JSON:
            raise
        return error_response(exc.status, exc.reason, path=request.path)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal error; see the server log", path=request.path)


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read the body with our own size limit (a JSON 413 instead of aiohttp's text one)."""
    length = request.content_length
    if length is not None and length > limit:
        raise HTTPError(413, f"request body of {length} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
