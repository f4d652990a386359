"""The Confluent Schema Registry REST API as Faust web views (aiohttp driver).

Served at the root paths, so a Confluent client's base URL is the DataNexus web URL. Bodies are
read as JSON whatever the content type (Confluent clients send
``application/vnd.schemaregistry.v1+json``); answers use that content type and Confluent's error
bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
import orjson
from aiohttp import web

from app.openapi import document
from schemas.registry import errors
from schemas.registry.errors import RegistryError
from schemas.registry.service import RegistryService, SchemaPayload

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
READY_TIMEOUT_S = 30.0

Handler = Callable[..., Awaitable[Any]]


class Raw(str):
    """A handler result sent as-is (the ``/schema`` endpoints answer the bare schema text)."""


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "false").lower() == "true"


def _schema_id(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise errors.schema_not_found() from None


async def _json_body(request: web.Request) -> Any:
    body = await request.read()
    try:
        return orjson.loads(body) if body else {}
    except orjson.JSONDecodeError as exc:
        raise errors.bad_request(f"Unexpected body: {exc}") from None


def _respond(result: Any, status: int = 200) -> web.Response:
    if isinstance(result, Raw):
        return web.Response(text=str(result), status=status, content_type=CONTENT_TYPE)
    return web.Response(body=orjson.dumps(result), status=status, content_type=CONTENT_TYPE)


def registry_health(service: RegistryService, ready: bool) -> dict[str, Any]:
    """The registry's part of ``/health``: degraded (not down) until its reader has caught up
    with ``_schemas``, since until then it answers nothing (requests wait for it)."""
    state = service.store.state
    return {
        "ok": True,
        "ready": ready,
        "degraded": not ready,
        "schemas": len(state.schemas),
        "subjects": len(state.subjects),
        "last_offset": state.applied_offset,
    }


def install_registry_views(
    app: faust.App, service: RegistryService
) -> Callable[[], Awaitable[dict[str, Any]]]:
    """Register the registry's views on ``app`` and start/stop ``service`` with its web server.

    The registry starts with the web server, not as a Faust service: those start only once the
    worker's consumer group has joined (seconds to tens of seconds), and the registry needs
    nothing from the group. Start-up runs in the background (retrying while the broker is not
    reachable); requests that arrive before it is ready wait up to ``READY_TIMEOUT_S``.
    Answers the registry's ``/health`` check.
    """
    ready = asyncio.Event()
    starting: list[asyncio.Task[None]] = []

    async def start_until_ready() -> None:
        delay = 0.5
        while True:
            try:
                await service.start()
            except Exception:
                log.exception("schema registry start failed; retrying in %.1fs", delay)
                with contextlib.suppress(Exception):
                    await service.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            else:
                ready.set()
                return

    async def on_startup(_web_app: web.Application) -> None:
        starting.append(asyncio.get_running_loop().create_task(start_until_ready()))

    async def on_shutdown(_web_app: web.Application) -> None:
        ready.clear()
        for task in starting:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        starting.clear()
        await service.stop()

    web_app: web.Application = app.web.web_app  # type: ignore[attr-defined]
    web_app.on_startup.append(on_startup)
    web_app.on_shutdown.append(on_shutdown)

    async def call(handler: Handler, request: web.Request, match: dict[str, str]) -> web.Response:
        try:
            if not ready.is_set():
                try:
                    await asyncio.wait_for(ready.wait(), READY_TIMEOUT_S)
                except TimeoutError:
                    raise errors.store_timeout("the schema registry is still starting") from None
            return _respond(await handler(request, **match))
        except RegistryError as exc:
            return _respond(exc.body(), exc.http_status)

    def page(path: str, name: str, **handlers: Handler) -> None:
        def method(handler: Handler) -> Any:
            async def run(self: faust.web.View, request: web.Request, **match: str) -> Any:
                return await call(handler, request, match)

            return run

        view = type(name, (faust.web.View,), {m: method(h) for m, h in handlers.items()})
        app.page(path, name=f"schema_registry_{name}")(view)

    async def health() -> dict[str, Any]:
        return registry_health(service, ready.is_set())

    for path, name, handlers in _routes(service):
        page(path, name, **handlers)
        for method, handler in handlers.items():
            document(
                method.upper(),
                path,
                summary=(handler.__doc__ or name).rstrip("."),
                tag="schema-registry",
                request_content_types=(CONTENT_TYPE, "application/json"),
            )
    return health


def _routes(svc: RegistryService) -> list[tuple[str, str, dict[str, Handler]]]:
    async def schema_types(request: web.Request) -> Any:
        """Schema types this registry supports."""
        return svc.schema_types()

    async def schema_by_id(request: web.Request, schema_id: str) -> Any:
        """The schema with this global id."""
        return svc.schema_by_id(_schema_id(schema_id), request.query.get("format"))

    async def raw_schema_by_id(request: web.Request, schema_id: str) -> Any:
        """The bare schema text of this id."""
        return Raw(svc.schema_by_id(_schema_id(schema_id), request.query.get("format"))["schema"])

    async def subjects_by_id(request: web.Request, schema_id: str) -> Any:
        """Subjects that use this schema id."""
        return svc.subjects_by_id(_schema_id(schema_id), _flag(request, "deleted"))

    async def versions_by_id(request: web.Request, schema_id: str) -> Any:
        """Subject versions that use this schema id."""
        return svc.versions_by_id(_schema_id(schema_id), _flag(request, "deleted"))

    async def subjects(request: web.Request) -> Any:
        """All subjects (deleted=true: include soft-deleted)."""
        return svc.subjects(_flag(request, "deleted"), request.query.get("subjectPrefix", ""))

    async def lookup(request: web.Request, subject: str) -> Any:
        """Find this schema among the subject's versions."""
        payload = SchemaPayload.from_json(await _json_body(request))
        return svc.lookup(subject, payload, _flag(request, "normalize"), _flag(request, "deleted"))

    async def delete_subject(request: web.Request, subject: str) -> Any:
        """Soft-delete a subject (permanent=true: after a soft delete, remove it)."""
        return await svc.delete_subject(subject, _flag(request, "permanent"))

    async def versions(request: web.Request, subject: str) -> Any:
        """Version numbers of a subject."""
        return svc.versions(subject, _flag(request, "deleted"))

    async def register(request: web.Request, subject: str) -> Any:
        """Register a schema under a subject (checked for compatibility)."""
        body = await _json_body(request)
        payload = SchemaPayload.from_json(body)
        schema_id = await svc.register(
            subject,
            payload,
            _flag(request, "normalize"),
            schema_id=_optional_int(body.get("id")),
            version=_optional_int(body.get("version")),
        )
        return {"id": schema_id}

    async def version(request: web.Request, subject: str, version: str) -> Any:
        """One version of a subject (a number or latest)."""
        return svc.version(subject, version, _flag(request, "deleted"), request.query.get("format"))

    async def delete_version(request: web.Request, subject: str, version: str) -> Any:
        """Soft-delete a version (permanent=true: after a soft delete, remove it)."""
        return await svc.delete_version(subject, version, _flag(request, "permanent"))

    async def raw_version(request: web.Request, subject: str, version: str) -> Any:
        """The bare schema text of a subject version."""
        found = svc.version(
            subject, version, _flag(request, "deleted"), request.query.get("format")
        )
        return Raw(found["schema"])

    async def referenced_by(request: web.Request, subject: str, version: str) -> Any:
        """Ids of schemas that reference this subject version."""
        return svc.referenced_by(subject, version)

    async def compatibility(request: web.Request, subject: str, version: str | None = None) -> Any:
        """Check a schema against a subject's versions (verbose=true: reasons)."""
        payload = SchemaPayload.from_json(await _json_body(request))
        return svc.check_compatibility(subject, payload, version, _flag(request, "verbose"))

    async def get_config(request: web.Request, subject: str | None = None) -> Any:
        """Compatibility level, global or of a subject."""
        return svc.get_config(subject, _flag(request, "defaultToGlobal"))

    async def put_config(request: web.Request, subject: str | None = None) -> Any:
        """Set the compatibility level."""
        body = await _json_body(request)
        level = body.get("compatibility") or body.get("compatibilityLevel")
        return await svc.set_config(subject, level)

    async def delete_config(request: web.Request, subject: str | None = None) -> Any:
        """Remove a compatibility level (a subject falls back to the global one)."""
        return await svc.delete_config(subject)

    async def get_mode(request: web.Request, subject: str | None = None) -> Any:
        """Mode (READWRITE, READONLY, IMPORT), global or of a subject."""
        return svc.get_mode(subject, _flag(request, "defaultToGlobal"))

    async def put_mode(request: web.Request, subject: str | None = None) -> Any:
        """Set the mode."""
        body = await _json_body(request)
        return await svc.set_mode(subject, body.get("mode"), _flag(request, "force"))

    async def delete_mode(request: web.Request, subject: str) -> Any:
        """Remove a subject's mode (it falls back to the global one)."""
        return await svc.delete_mode(subject)

    ids = "/schemas/ids/{schema_id}"
    versions_path = "/subjects/{subject}/versions"
    one_version = versions_path + "/{version}"
    return [
        ("/schemas/types", "types", {"get": schema_types}),
        (ids, "schema_by_id", {"get": schema_by_id}),
        (ids + "/schema", "raw_schema_by_id", {"get": raw_schema_by_id}),
        (ids + "/subjects", "subjects_by_id", {"get": subjects_by_id}),
        (ids + "/versions", "versions_by_id", {"get": versions_by_id}),
        ("/subjects", "subjects", {"get": subjects}),
        ("/subjects/{subject}", "subject", {"post": lookup, "delete": delete_subject}),
        (versions_path, "versions", {"get": versions, "post": register}),
        (one_version, "version", {"get": version, "delete": delete_version}),
        (one_version + "/schema", "raw_version", {"get": raw_version}),
        (one_version + "/referencedby", "referenced_by", {"get": referenced_by}),
        ("/compatibility/subjects/{subject}/versions", "compat_all", {"post": compatibility}),
        ("/compatibility/subjects/{subject}/versions/{version}", "compat", {"post": compatibility}),
        ("/config", "config", {"get": get_config, "put": put_config, "delete": delete_config}),
        (
            "/config/{subject}",
            "subject_config",
            {"get": get_config, "put": put_config, "delete": delete_config},
        ),
        ("/mode", "mode", {"get": get_mode, "put": put_mode}),
        (
            "/mode/{subject}",
            "subject_mode",
            {"get": get_mode, "put": put_mode, "delete": delete_mode},
        ),
    ]


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.RegistryError(422, f"Expected an integer, got {value!r}") from None
