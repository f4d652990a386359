"""Operations endpoints: ``/health``, ``/metrics`` and ``/openapi.json``.

``/health`` answers 503 when the broker is unreachable (this instance cannot ingest), and 200 with
``status: degraded`` when only Redis is down (ingest goes on with local state then) or an extra
check says ``degraded`` (e.g. the schema registry until its reader has caught up with
``_schemas``: ``ready``, ``schemas`` loaded and the ``last_offset`` read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from app.http import json_response
from app.openapi import build_spec
from app.services import Services

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]


def install_ops_views(
    app: faust.App, services: Services, version: str, extra_checks: dict[str, HealthCheck]
) -> None:
    async def health(_request: web.Request) -> web.Response:
        names = ["broker", "redis", *extra_checks]
        checks: list[Awaitable[dict[str, Any]]] = [
            services.broker_health(),
            services.redis_health(),
        ]
        checks += [check() for check in extra_checks.values()]
        results = dict(zip(names, await asyncio.gather(*checks), strict=True))
        if not results["broker"]["ok"]:
            status = "down"
        elif all(r.get("ok", True) and not r.get("degraded") for r in results.values()):
            status = "ok"
        else:
            status = "degraded"
        return json_response(
            {"status": status, "version": version, **results},
            status=503 if status == "down" else 200,
        )

    async def metrics(_request: web.Request) -> web.Response:
        body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, REGISTRY)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def openapi(_request: web.Request) -> web.Response:
        return json_response(build_spec(version))

    for path, handler, name in (
        ("/health", health, "health"),
        ("/metrics", metrics, "metrics"),
        ("/openapi.json", openapi, "openapi"),
    ):
        app.page(path, name=name)(_get_view(handler))


def _get_view(handler: Callable[[web.Request], Awaitable[web.Response]]) -> type[faust.web.View]:
    class GetView(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return await handler(request)

    GetView.__name__ = f"{handler.__name__.title()}View"
    return GetView
