"""Shared helpers of the connect integration tests."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import psycopg

from app.testing import WorkerProcess

PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
T = TypeVar("T")


def wait_for(check: Callable[[], T], timeout_s: float = 20.0, what: str = "condition") -> T:
    deadline = time.monotonic() + timeout_s
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}; last value: {last!r}")


def tag(prefix: str = "c") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def put_json(worker: WorkerProcess, path: str, payload: Any = None) -> tuple[int, Any]:
    body = b"" if payload is None else json.dumps(payload).encode()
    return worker.request("PUT", path, body, {"Content-Type": "application/json"})


def create(worker: WorkerProcess, name: str, config: dict[str, Any]) -> dict[str, Any]:
    status, body = worker.post_json("/connect/connectors", {"name": name, "config": config})
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def task_states(worker: WorkerProcess, name: str) -> list[str]:
    status, body = worker.get(f"/connect/connectors/{name}/status")
    assert status == 200, body
    return [t["state"] for t in body["tasks"]]


def connector_state(worker: WorkerProcess, name: str) -> str:
    _, body = worker.get(f"/connect/connectors/{name}/status")
    return str(body["connector"]["state"])


def pg_rows(table: str, order_by: str = "id") -> list[tuple[Any, ...]]:
    with psycopg.connect(PG_URL) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()
        if not exists or exists[0] is None:
            return []
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY {order_by}').fetchall()


def pg_drop(table: str) -> None:
    with psycopg.connect(PG_URL, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{table}"')
