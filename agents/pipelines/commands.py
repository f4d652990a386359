"""The pipeline commands the REST views send to the partition owner, executed against the stores.

Pure and synchronous (no awaits between reading and writing a pipeline), so a command is atomic on
the owner's event loop; the agent in ``agent.py`` only decodes, calls :func:`execute` and replies.
Replies are plain JSON: ``{"status": <http status>, "body": ..., "etag": <version or None>}``.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from typing import Any

from agents.pipelines.scheduler import partition_of
from tables.pipelines import (
    NotFoundError,
    PipelineError,
    PipelineRuntimeStore,
    PipelineStore,
)

log = logging.getLogger(__name__)

Reply = dict[str, Any]
RunnerStats = Callable[[str], dict[str, Any] | None]


class Op(enum.StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    ROLLBACK = "rollback"
    PAUSE = "pause"
    RESUME = "resume"
    GET = "get"
    LIST_LOCAL = "list_local"
    VERSIONS = "versions"
    VERSION = "version"
    DIFF = "diff"
    STATUS = "status"


WRITES = frozenset({Op.CREATE, Op.UPDATE, Op.DELETE, Op.ROLLBACK, Op.PAUSE, Op.RESUME})


def reply(status: int, body: Any, etag: int | None = None) -> Reply:
    return {"status": status, "body": body, "etag": etag}


def status_body(
    pipeline_id: str, runtime: PipelineRuntimeStore, runner_stats: RunnerStats
) -> dict[str, Any]:
    """Desired state from the table, what the runner does from the runner itself (live counters)."""
    body = runtime.status(pipeline_id).to_json()
    live = runner_stats(pipeline_id)
    if live is not None:
        body.update(live)
    return body


def execute(
    command: dict[str, Any],
    store: PipelineStore,
    runtime: PipelineRuntimeStore,
    runner_stats: RunnerStats,
) -> Reply:
    try:
        return _execute(Op(command["op"]), command, store, runtime, runner_stats)
    except PipelineError as exc:
        return reply(exc.status, exc.to_json())
    except Exception as exc:
        log.exception("pipeline command %s failed", command.get("op"))
        return reply(500, {"error": f"internal error: {exc}", "status": 500})


def _execute(
    op: Op,
    c: dict[str, Any],
    store: PipelineStore,
    runtime: PipelineRuntimeStore,
    runner_stats: RunnerStats,
) -> Reply:
    pid: str = c.get("id", "")
    author: str = c.get("author", "anonymous")
    expected: int | None = c.get("expected_version")
    if op is Op.CREATE:
        head = store.create(
            c["config"], author=author, description=c.get("description") or "created"
        )
        return reply(201, head.to_json(), head.current_version)
    if op is Op.UPDATE:
        head = store.update(
            pid,
            c["config"],
            author=author,
            description=c.get("description") or "",
            expected_version=expected,
        )
        return reply(200, head.to_json(), head.current_version)
    if op is Op.ROLLBACK:
        head = store.rollback(
            pid,
            int(c["version"]),
            author=author,
            description=c.get("description") or "",
            expected_version=expected,
        )
        return reply(200, head.to_json(), head.current_version)
    if op is Op.DELETE:
        store.delete(pid, author=author, expected_version=expected)
        return reply(204, None)
    if op in (Op.PAUSE, Op.RESUME):
        store.get(pid)
        if op is Op.PAUSE:
            runtime.pause(pid, author=author)
        else:
            runtime.resume(pid, author=author)
        return reply(200, status_body(pid, runtime, runner_stats))
    if op is Op.GET:
        head = store.get(pid)
        return reply(200, head.to_json(), head.current_version)
    if op is Op.LIST_LOCAL:
        wanted = set(c["partitions"])
        return reply(
            200,
            [h for h in _local_heads(store) if partition_of(h["id"], c["of"]) in wanted],
        )
    if op is Op.VERSIONS:
        listing = store.list_versions(pid, int(c["page"]), int(c["page_size"]))
        return reply(
            200,
            {
                "items": [meta.to_json() for meta in listing.items],
                "total": listing.total,
                "page": listing.page,
                "page_size": listing.page_size,
                "pages": listing.pages,
            },
        )
    if op is Op.VERSION:
        return reply(200, store.get_version(pid, int(c["version"])).to_json())
    if op is Op.DIFF:
        diff = store.diff(pid, int(c["from_version"]), int(c["to_version"]))
        return reply(200, {"from": c["from_version"], "to": c["to_version"], **diff.to_json()})
    if op is Op.STATUS:
        head = store.get(pid)
        return reply(
            200, {"version": head.current_version, **status_body(pid, runtime, runner_stats)}
        )
    raise NotFoundError(f"unknown command {op}")


def _local_heads(store: PipelineStore) -> list[dict[str, Any]]:
    """Every live pipeline in this worker's tables (standby copies included: callers filter)."""
    heads: list[dict[str, Any]] = []
    page = 1
    while True:
        listing = store.list(page, 100)
        heads.extend(h.to_json() for h in listing.items)
        if not listing.has_next:
            return heads
        page += 1
