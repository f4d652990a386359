"""The pipeline REST API (``/v1/pipelines...``): thin views over the pipeline commands.

A request for one pipeline is answered by the worker that owns the pipeline's partition (see
``agents.pipelines.agent``): another worker forwards the HTTP request there unchanged (the token
is checked again by the owner). The owner parses parameters (422 on bad ones), runs the command
with the token's name as author, and answers JSON with an ``ETag`` of the current version (send it
back in ``If-Match`` for optimistic concurrency: 409 when stale).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

import aiohttp
import faust
import orjson
from aiohttp import web
from faust.web import View

from agents.pipelines.agent import PipelineService
from agents.pipelines.commands import Op, Reply
from app.http import HTTPError, json_response, read_body
from app.web.auth import author_of
from app.web.pipelines_docs import document_pipeline_routes
from tables.pipelines import (
    PipelineError,
    expected_version,
    page_params,
    pipeline_json_schema,
    version_param,
)
from tables.pipelines.pagination import MAX_PAGE_SIZE, check_page, slice_page

MAX_BODY_BYTES = 1 << 20
FORWARDED_HEADER = "X-DataNexus-Forwarded"
FORWARD_TIMEOUT_S = 30.0


def _answer(result: Reply) -> web.Response:
    status = int(result["status"])
    if status == 204:
        return web.Response(status=204)
    headers = {} if result.get("etag") is None else {"ETag": f'"{result["etag"]}"'}
    return json_response(result["body"], status, headers)


async def _document(request: web.Request) -> tuple[dict[str, Any], str]:
    """The config and change description: ``{"config": {...}, "description": "..."}`` or the bare
    config (the config schema has no ``config`` field, so both read unambiguously)."""
    raw = await read_body(request, MAX_BODY_BYTES)
    try:
        body = orjson.loads(raw) if raw.strip() else None
    except orjson.JSONDecodeError as exc:
        raise HTTPError(400, f"request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise HTTPError(422, "request body must be a JSON object (a pipeline config)")
    description = request.headers.get("X-Change-Description", "")
    if isinstance(body.get("config"), dict):
        description = str(body.get("description") or description)
        body = body["config"]
    return body, description


async def _description(request: web.Request) -> str:
    raw = await read_body(request, MAX_BODY_BYTES)
    if not raw.strip():
        return request.headers.get("X-Change-Description", "")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HTTPError(400, f"request body is not valid JSON: {exc}") from None
    return str(body.get("description") or "") if isinstance(body, dict) else ""


def _links(request: web.Request, page: int, page_size: int, pages: int) -> dict[str, str | None]:
    def link(number: int) -> str:
        return f"{request.path}?{urlencode({'page': number, 'page_size': page_size})}"

    last = max(pages, 1)
    return {
        "self": link(page),
        "first": link(1),
        "last": link(last),
        "next": link(page + 1) if page < pages else None,
        "prev": link(min(page - 1, last)) if page > 1 else None,
    }


async def _forward(request: web.Request, url: str, body: bytes | None = None) -> web.Response:
    """Replays the request on the worker that owns the pipeline and relays its answer; ``body``
    replaces the request's when the view has read it already."""
    headers = {
        name: value
        for name, value in request.headers.items()
        if name in ("Authorization", "Content-Type", "If-Match", "X-Change-Description")
    }
    headers[FORWARDED_HEADER] = "1"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)) as http,
            http.request(
                request.method,
                url + request.path_qs,
                data=await request.read() if body is None else body,
                headers=headers,
            ) as answer,
        ):
            body = await answer.read()
            relayed = {k: v for k, v in answer.headers.items() if k in ("ETag", "Location")}
            return web.Response(
                body=body, status=answer.status, headers=relayed, content_type=answer.content_type
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HTTPError(503, f"the pipeline's owner {url} did not answer: {exc}") from None


async def _peer_heads(request: web.Request, url: str) -> list[dict[str, Any]]:
    headers = {"Authorization": request.headers.get("Authorization", "")}
    query = f"?scope=local&page_size={MAX_PAGE_SIZE}"
    heads: list[dict[str, Any]] = []
    page = 1
    try:
        async with aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S)
        ) as http:
            while True:
                async with http.get(f"{url}/v1/pipelines{query}&page={page}", headers=headers) as r:
                    if r.status != 200:
                        raise HTTPError(503, f"worker {url} answered {r.status} to the listing")
                    body = await r.json()
                heads.extend(body["items"])
                if page >= body["pages"]:
                    return heads
                page += 1
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise HTTPError(503, f"worker {url} did not answer the listing: {exc}") from None


def install_pipeline_views(app: faust.App, service: PipelineService) -> None:
    class _View(View):
        """Forwards requests for pipelines owned elsewhere; maps store errors to JSON answers."""

        async def dispatch(self, request: Any) -> Any:
            try:
                pipeline_id = request.match_info.get("pipeline_id")
                if pipeline_id is not None:
                    owner = await owner_of(request, pipeline_id)
                    if owner is not None:
                        return await _forward(request, owner)
                return await super().dispatch(request)
            except PipelineError as exc:
                return json_response(exc.to_json(), exc.status)

    async def owner_of(request: web.Request, pipeline_id: str) -> str | None:
        """The URL to forward to, or None to answer here."""
        await service.wait_until_settled()
        try:
            owner = service.owner_url(pipeline_id)
        except LookupError as exc:
            raise HTTPError(503, f"{exc}; retry") from None
        if owner is not None and request.headers.get(FORWARDED_HEADER):
            raise HTTPError(503, "pipeline ownership is moving (rebalance); retry")
        return owner

    async def ask(request: web.Request, pipeline_id: str, op: Op, **args: Any) -> web.Response:
        command = {"op": op.value, "author": author_of(request), **args}
        return _answer(await service.run(pipeline_id, command))

    async def list_all(request: web.Request) -> list[dict[str, Any]]:
        """This worker's heads plus each other owner's (``?scope=local`` asks for just those)."""
        await service.wait_for_assignment()
        heads = {head["id"]: head for head in await service.local_heads()}
        if request.query.get("scope") != "local":
            for url in service.peer_urls():
                for head in await _peer_heads(request, url):
                    heads[head["id"]] = head
        return sorted(heads.values(), key=lambda h: (h["created_ms"], h["id"]))

    def if_match(request: web.Request) -> int | None:
        return expected_version(request.headers.get("If-Match"))

    class SchemaView(_View):
        async def get(self, request: web.Request) -> web.Response:
            return json_response(pipeline_json_schema())

    class PipelinesView(_View):
        async def get(self, request: web.Request) -> web.Response:
            page, page_size = page_params(request.query)
            check_page(page, page_size)
            listing = slice_page(await list_all(request), page, page_size)
            return json_response(
                {
                    "items": list(listing.items),
                    "total": listing.total,
                    "page": page,
                    "page_size": page_size,
                    "pages": listing.pages,
                    "links": _links(request, page, page_size, listing.pages),
                    "owned_partitions": sorted(service.owned_partitions()),
                }
            )

        async def post(self, request: web.Request) -> web.Response:
            config, description = await _document(request)
            pipeline_id = config.get("id")
            if not isinstance(pipeline_id, str) or not pipeline_id:
                pipeline_id = "pl-" + secrets.token_hex(8)
                config = {**config, "id": pipeline_id}
            owner = await owner_of(request, pipeline_id)
            if owner is not None:  # the id decides the owner: forward with the id filled in
                body = orjson.dumps({"config": config, "description": description})
                return await _forward(request, owner, body)
            answer = await ask(
                request,
                pipeline_id,
                Op.CREATE,
                config=config,
                description=description or "created",
            )
            if answer.status == 201:
                answer.headers["Location"] = f"/v1/pipelines/{pipeline_id}"
            return answer

    class PipelineView(_View):
        async def get(self, request: web.Request, pipeline_id: str) -> web.Response:
            return await ask(request, pipeline_id, Op.GET)

        async def put(self, request: web.Request, pipeline_id: str) -> web.Response:
            expected = if_match(request)
            config, description = await _document(request)
            return await ask(
                request,
                pipeline_id,
                Op.UPDATE,
                config=config,
                description=description,
                expected_version=expected,
            )

        async def delete(self, request: web.Request, pipeline_id: str) -> web.Response:
            return await ask(request, pipeline_id, Op.DELETE, expected_version=if_match(request))

    class VersionsView(_View):
        async def get(self, request: web.Request, pipeline_id: str) -> web.Response:
            page, page_size = page_params(request.query)
            answer = await ask(request, pipeline_id, Op.VERSIONS, page=page, page_size=page_size)
            if answer.status == 200:
                body = orjson.loads(answer.body)  # type: ignore[arg-type]
                body["links"] = _links(request, page, page_size, body["pages"])
                return json_response(body)
            return answer

    class VersionView(_View):
        async def get(self, request: web.Request, pipeline_id: str, version: str) -> web.Response:
            return await ask(request, pipeline_id, Op.VERSION, version=version_param(version))

    class DiffView(_View):
        async def get(
            self, request: web.Request, pipeline_id: str, v1: str, v2: str
        ) -> web.Response:
            return await ask(
                request,
                pipeline_id,
                Op.DIFF,
                from_version=version_param(v1, "v1"),
                to_version=version_param(v2, "v2"),
            )

    class RollbackView(_View):
        async def post(self, request: web.Request, pipeline_id: str, version: str) -> web.Response:
            number = version_param(version)
            expected = if_match(request)
            return await ask(
                request,
                pipeline_id,
                Op.ROLLBACK,
                version=number,
                description=await _description(request),
                expected_version=expected,
            )

    class PauseView(_View):
        async def post(self, request: web.Request, pipeline_id: str) -> web.Response:
            return await ask(request, pipeline_id, Op.PAUSE)

    class ResumeView(_View):
        async def post(self, request: web.Request, pipeline_id: str) -> web.Response:
            return await ask(request, pipeline_id, Op.RESUME)

    class StatusView(_View):
        async def get(self, request: web.Request, pipeline_id: str) -> web.Response:
            return await ask(request, pipeline_id, Op.STATUS)

    base = "/v1/pipelines"
    one = base + "/{pipeline_id}"
    for path, view, name in (
        (base + "/schema", SchemaView, "pipeline-schema"),
        (base, PipelinesView, "pipelines"),
        (one, PipelineView, "pipeline"),
        (one + "/versions", VersionsView, "pipeline-versions"),
        (one + "/versions/{version}", VersionView, "pipeline-version"),
        (one + "/versions/{v1}/diff/{v2}", DiffView, "pipeline-diff"),
        (one + "/rollback/{version}", RollbackView, "pipeline-rollback"),
        (one + "/pause", PauseView, "pipeline-pause"),
        (one + "/resume", ResumeView, "pipeline-resume"),
        (one + "/status", StatusView, "pipeline-status"),
    ):
        app.page(path, name=name)(view)
    document_pipeline_routes(base)
