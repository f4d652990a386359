"""Bearer-token authentication and role checks for every ``/v1`` route, and the token API.

Which role a route needs: ``/v1/ingest`` needs ``producer`` (held by producer and admin tokens:
an editor changes pipelines but does not feed data), ``/v1/tokens`` and ``/v1/config`` need
``admin``, any other ``/v1`` route needs ``viewer`` for GET/HEAD and ``editor`` for the other
methods. Feature modules may register other rules with :func:`require_role` (e.g. a POST that only
reads) and put other path prefixes behind the same checks with :func:`protect_prefix` (the Kafka
Connect API under ``/connect``). Other paths (``/health``, ``/metrics``, ``/openapi.json``, the
schema registry's root paths) stay open. ``DATANEXUS_AUTH=off`` switches the checks off, with a
warning at start and in ``/health``; views then see no token and record the author ``anonymous``.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
import orjson
from aiohttp import web

from agents.tokens.service import TokenService, tokens_topic
from app.http import Handler, HTTPError, error_response, json_response, read_body
from app.openapi import document
from app.services import Services
from app.settings import Settings
from app.web.ops import HealthCheck
from tables.pipelines.errors import PipelineError
from tables.tokens import Role, TokenInfo, authorize, bearer_token

log = logging.getLogger(__name__)

TOKEN_KEY = "datanexus.token"
ANONYMOUS = "anonymous"
LOAD_WAIT_S = 30.0
AUTH_OFF_WARNING = "DATANEXUS_AUTH=off: every /v1 endpoint is open to anyone who can reach it"

_PREFIX_ROLES: list[tuple[str, frozenset[str] | None, Role]] = [
    ("/v1/ingest", None, Role.PRODUCER),
    ("/v1/tokens", None, Role.ADMIN),
    ("/v1/config", None, Role.ADMIN),
]
_READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PROTECTED_PREFIXES: list[str] = ["/v1"]


def protect_prefix(path_prefix: str) -> None:
    """Put the paths under ``path_prefix`` behind the token checks, like ``/v1``."""
    if path_prefix not in _PROTECTED_PREFIXES:
        _PROTECTED_PREFIXES.append(path_prefix)


def is_protected(path: str) -> bool:
    return any(path.startswith(prefix) for prefix in _PROTECTED_PREFIXES)


def require_role(path_prefix: str, role: Role, methods: tuple[str, ...] | None = None) -> None:
    """Register the role a route needs; the longest matching prefix wins."""
    chosen = None if methods is None else frozenset(m.upper() for m in methods)
    _PREFIX_ROLES.append((path_prefix, chosen, role))


def required_role(method: str, path: str) -> Role:
    best: tuple[int, Role] | None = None
    for prefix, methods, role in _PREFIX_ROLES:
        matches = path == prefix or path.startswith(prefix.rstrip("/") + "/")
        applies = matches and (methods is None or method in methods)
        if applies and (best is None or len(prefix) >= best[0]):
            best = (len(prefix), role)
    if best is not None:
        return best[1]
    return Role.VIEWER if method in _READ_METHODS else Role.EDITOR


def request_token(request: web.Request) -> TokenInfo | None:
    token: TokenInfo | None = request.get(TOKEN_KEY)
    return token


def author_of(request: web.Request) -> str:
    """The name recorded as the author of a change: the token's name."""
    token = request_token(request)
    return ANONYMOUS if token is None else token.name


def _unauthorized(message: str) -> web.Response:
    answer = error_response(401, message)
    answer.headers["WWW-Authenticate"] = 'Bearer realm="datanexus"'
    return answer


def auth_middleware(tokens: TokenService) -> Any:
    @web.middleware
    async def check_token(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_protected(request.path):
            return await handler(request)
        if not tokens.loaded and not await tokens.wait_loaded(LOAD_WAIT_S):
            return error_response(503, "API tokens are still loading; retry shortly")
        bearer = bearer_token(request.headers.get("Authorization"))
        if bearer is None:
            return _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
        token = tokens.verify(bearer)
        if token is None:
            return _unauthorized("invalid or revoked token")
        needed = required_role(request.method, request.path)
        if not authorize(token, needed):
            return error_response(
                403,
                f"the role {token.role.value!r} may not do this: it needs {needed.value!r}",
                required_role=needed.value,
            )
        request[TOKEN_KEY] = token
        return await handler(request)

    return check_token


def install_auth(app: faust.App, settings: Settings, services: Services) -> HealthCheck:
    """Adds the middleware (unless auth is off), the token views and the token table's start-up.

    Returns the health check the app puts into ``/health`` under ``auth``.
    """
    tokens = TokenService(
        settings.kafka_bootstrap, tokens_topic(settings.app_id, settings.tokens_topic)
    )
    if settings.auth:
        app.web.web_app.middlewares.append(auth_middleware(tokens))  # type: ignore[attr-defined]
    else:
        log.warning(AUTH_OFF_WARNING)

    @app.task  # type: ignore[untyped-decorator]
    async def load_tokens() -> None:
        if settings.kafka_bootstrap:
            await tokens.start(services.producer, settings.bootstrap_admin_token)

    _install_token_views(app, tokens, services)

    async def auth_health() -> dict[str, Any]:
        if not settings.auth:
            return {"ok": True, "enabled": False, "warning": AUTH_OFF_WARNING, **tokens.health()}
        return {"ok": True, "enabled": True, **tokens.health()}

    return auth_health


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = orjson.loads(await read_body(request, 1 << 20))
    except orjson.JSONDecodeError as exc:
        raise HTTPError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPError(422, "request body must be a JSON object")
    return body


def _install_token_views(app: faust.App, tokens: TokenService, services: Services) -> None:
    class TokensView(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return json_response({"items": [t.to_json() for t in tokens.store.list()]})

        async def post(self, request: web.Request) -> web.Response:
            body = await _json_object(request)
            name, role = body.get("name"), body.get("role")
            if not isinstance(name, str) or not name.strip():
                raise HTTPError(422, "'name' must be a non-empty string")
            if role not in {r.value for r in Role}:
                raise HTTPError(422, f"'role' must be one of {[r.value for r in Role]}")
            try:
                issued = await tokens.create(
                    services.producer, name=name, role=role, created_by=author_of(request)
                )
            except PipelineError as exc:
                return json_response(exc.to_json(), exc.status)
            return json_response({"token": issued.token, **issued.info.to_json()}, 201)

    class TokenView(faust.web.View):
        async def delete(self, request: web.Request, token_id: str) -> web.Response:
            try:
                info = await tokens.revoke(
                    services.producer, token_id, revoked_by=author_of(request)
                )
            except PipelineError as exc:
                return json_response(exc.to_json(), exc.status)
            return json_response(info.to_json())

    app.page("/v1/tokens", name="tokens")(TokensView)
    app.page("/v1/tokens/{token_id}", name="token")(TokenView)
    token_fields: dict[str, Any] = {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "role": {"type": "string", "enum": [r.value for r in Role]},
        "created_ms": {"type": "integer"},
        "created_by": {"type": "string"},
    }
    token_schema = {"type": "object", "properties": token_fields}
    auth_errors = {401: "Missing or invalid token", 403: "The token is not an admin token"}
    document(
        "GET",
        "/v1/tokens",
        summary="List live API tokens (never their secrets)",
        tag="auth",
        responses={200: "The tokens", **auth_errors},
        response_schema={
            "type": "object",
            "properties": {"items": {"type": "array", "items": token_schema}},
        },
    )
    document(
        "POST",
        "/v1/tokens",
        summary="Create an API token; the answer holds the token, shown only this once",
        tag="auth",
        request_body={
            "type": "object",
            "required": ["name", "role"],
            "properties": {"name": {"type": "string"}, "role": token_fields["role"]},
        },
        responses={
            201: "Created",
            409: "The name is taken",
            422: "Bad name or role",
            **auth_errors,
        },
        response_schema={
            **token_schema,
            "properties": {**token_fields, "token": {"type": "string"}},
        },
    )
    document(
        "DELETE",
        "/v1/tokens/{token_id}",
        summary="Revoke an API token (it stays listed for audit, never verifies again)",
        tag="auth",
        responses={200: "Revoked", 404: "Unknown token id", **auth_errors},
        response_schema=token_schema,
    )
