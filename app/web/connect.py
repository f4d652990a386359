"""The Kafka Connect REST API under ``/connect`` (Kafka Connect's paths, JSON and errors),
plus ``POST /connect/webhooks/{name}`` for webhook source connectors.

The API sits behind the bearer-token checks of ``/v1`` (:mod:`app.web.auth`): reads need
``viewer``, changes ``editor``; validating a config only reads (``viewer``), and a webhook feeds
data, so it needs the ``producer`` role like ``/v1/ingest``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from aiohttp import web

from agents.connect.api import Answer, ConnectApi, ConnectApiError
from agents.connect.connectors.http import webhook_records
from agents.connect.herder import Herder
from agents.connect.types import ConnectorError, TargetState
from app.http import json_response
from app.openapi import document
from app.web.auth import protect_prefix, require_role
from tables.tokens import Role

BASE = "/connect"
READY_TIMEOUT_S = 60.0
WEBHOOK_MAX_BYTES = 16 * 1024 * 1024
Handler = Callable[..., Awaitable[Answer]]
_RESPONSES = {
    200: "OK",
    401: "Missing or invalid token",
    403: "The token's role may not do this",
    404: "Unknown connector, task or plugin",
}


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ConnectApiError(400, f"Request body is not valid JSON: {exc}") from None


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


def _task_id(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConnectApiError(404, f"Task {raw} not found") from None


def install_connect_views(app: faust.App, herder: Herder) -> None:
    api = ConnectApi(herder)

    async def call(handler: Handler, request: web.Request, match: dict[str, str]) -> web.Response:
        try:
            if not herder.store.ready.is_set():
                try:
                    await asyncio.wait_for(herder.store.ready.wait(), READY_TIMEOUT_S)
                except TimeoutError:
                    raise ConnectApiError(503, "the connect worker is still starting") from None
            status, body = await handler(request, **match)
        except ConnectApiError as exc:
            return json_response(exc.body(), exc.status)
        if status == 204 or body is None:
            return web.Response(status=status)
        return json_response(body, status)

    def page(path: str, name: str, **handlers: Handler) -> None:
        def method(handler: Handler) -> Any:
            async def run(self: faust.web.View, request: web.Request, **match: str) -> Any:
                return await call(handler, request, match)

            return run

        view = type(name, (faust.web.View,), {m: method(h) for m, h in handlers.items()})
        app.page(path, name=f"connect_{name}")(view)
        for verb, handler in handlers.items():
            document(
                verb.upper(),
                path,
                summary=(handler.__doc__ or name).rstrip("."),
                tag="kafka-connect",
                responses=_RESPONSES,
            )

    async def root(request: web.Request) -> Answer:
        """The worker's version and Kafka cluster id."""
        return await api.root()

    async def connectors(request: web.Request) -> Answer:
        """Connector names (?expand=status|info for details)."""
        return await api.list_connectors(request.query.getall("expand", []))

    async def create(request: web.Request) -> Answer:
        """Create a connector from {name, config}."""
        return await api.create(await _body(request))

    async def get(request: web.Request, name: str) -> Answer:
        """A connector's config and tasks."""
        return await api.get(name)

    async def delete(request: web.Request, name: str) -> Answer:
        """Delete a connector."""
        return await api.delete(name)

    async def get_config(request: web.Request, name: str) -> Answer:
        """A connector's config."""
        return await api.get_config(name)

    async def put_config(request: web.Request, name: str) -> Answer:
        """Create or update a connector's config."""
        return await api.put_config(name, await _body(request))

    async def status(request: web.Request, name: str) -> Answer:
        """A connector's state and its tasks' states."""
        return 200, api.status(name)

    async def pause(request: web.Request, name: str) -> Answer:
        """Pause a connector and its tasks."""
        return await api.set_target(name, TargetState.PAUSED)

    async def resume(request: web.Request, name: str) -> Answer:
        """Resume a paused or stopped connector."""
        return await api.set_target(name, TargetState.STARTED)

    async def stop(request: web.Request, name: str) -> Answer:
        """Stop a connector (its tasks are shut down)."""
        return await api.set_target(name, TargetState.STOPPED)

    async def restart(request: web.Request, name: str) -> Answer:
        """Restart a connector (?includeTasks, ?onlyFailed)."""
        return await api.restart(name, _flag(request, "includeTasks"), _flag(request, "onlyFailed"))

    async def tasks(request: web.Request, name: str) -> Answer:
        """A connector's task configs."""
        return await api.tasks(name)

    async def task_status(request: web.Request, name: str, task: str) -> Answer:
        """One task's state."""
        return await api.task_status(name, _task_id(task))

    async def task_restart(request: web.Request, name: str, task: str) -> Answer:
        """Restart one task."""
        return await api.restart_task(name, _task_id(task))

    async def topics(request: web.Request, name: str) -> Answer:
        """Topics a connector has used."""
        return await api.topics(name)

    async def reset_topics(request: web.Request, name: str) -> Answer:
        """Forget the topics a connector has used."""
        return await api.reset_topics(name)

    async def get_offsets(request: web.Request, name: str) -> Answer:
        """A connector's committed offsets."""
        return await api.get_offsets(name)

    async def alter_offsets(request: web.Request, name: str) -> Answer:
        """Alter a stopped connector's offsets."""
        return await api.alter_offsets(name, await _body(request))

    async def reset_offsets(request: web.Request, name: str) -> Answer:
        """Reset a stopped connector's offsets."""
        return await api.reset_offsets(name)

    async def plugins(request: web.Request) -> Answer:
        """Installed connector plugins."""
        return await api.plugins()

    async def validate(request: web.Request, plugin: str) -> Answer:
        """Validate a connector config against its plugin."""
        return await api.validate(plugin, await _body(request))

    async def webhook(request: web.Request, name: str) -> Answer:
        """Feed records to a webhook source connector (producer role)."""
        config = herder.config(name)
        plugin = herder.plugin(name)
        if (
            config is None
            or plugin is None
            or not plugin.class_name.endswith("WebhookSourceConnector")
        ):
            raise ConnectApiError(404, f"Webhook connector {name} not found")
        if herder.target(name) != TargetState.STARTED:
            raise ConnectApiError(409, f"Connector {name} is {herder.target(name).value}")
        if request.content_length and request.content_length > WEBHOOK_MAX_BYTES:
            raise ConnectApiError(413, "request body too large")
        pipeline = herder.webhook_pipeline(name)
        assert pipeline is not None
        try:
            records = webhook_records(config, await request.read())
            await pipeline.deliver(records)
        except ConnectorError as exc:
            raise ConnectApiError(400, str(exc)) from None
        return 200, {"accepted": len(records)}

    protect_prefix(BASE)
    require_role(f"{BASE}/connector-plugins", Role.VIEWER, ("PUT",))
    require_role(f"{BASE}/webhooks", Role.PRODUCER)
    base = BASE
    page(f"{base}/", "root", get=root)
    page(f"{base}/connectors", "connectors", get=connectors, post=create)
    page(f"{base}/connectors/{{name}}", "connector", get=get, delete=delete)
    page(f"{base}/connectors/{{name}}/config", "config", get=get_config, put=put_config)
    page(f"{base}/connectors/{{name}}/status", "status", get=status)
    page(f"{base}/connectors/{{name}}/pause", "pause", put=pause)
    page(f"{base}/connectors/{{name}}/resume", "resume", put=resume)
    page(f"{base}/connectors/{{name}}/stop", "stop", put=stop)
    page(f"{base}/connectors/{{name}}/restart", "restart", post=restart)
    page(f"{base}/connectors/{{name}}/tasks", "tasks", get=tasks)
    page(f"{base}/connectors/{{name}}/tasks/{{task}}/status", "task_status", get=task_status)
    page(f"{base}/connectors/{{name}}/tasks/{{task}}/restart", "task_restart", post=task_restart)
    page(f"{base}/connectors/{{name}}/topics", "topics", get=topics)
    page(f"{base}/connectors/{{name}}/topics/reset", "topics_reset", put=reset_topics)
    page(
        f"{base}/connectors/{{name}}/offsets",
        "offsets",
        get=get_offsets,
        patch=alter_offsets,
        delete=reset_offsets,
    )
    page(f"{base}/connector-plugins", "plugins", get=plugins)
    page(f"{base}/connector-plugins/{{plugin}}/config/validate", "validate", put=validate)
    page(f"{base}/webhooks/{{name}}", "webhook", post=webhook)
