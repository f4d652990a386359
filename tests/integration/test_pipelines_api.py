"""The pipeline REST API and bearer-token auth against a real worker and broker (one worker for
the module: every test uses its own pipeline ids and token names)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from app.testing import WorkerProcess, unique_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, embedded_broker_in_use: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path_factory.mktemp("pipelines-api"),
        env=unique_topics("pa"),
        embedded=embedded_broker_in_use,
    )
    process.start()
    yield process
    process.stop()


def config(pid: str, **overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": pid,
        "name": "orders",
        "sources": [f"{pid}.in"],
        "steps": [{"type": "filter", "where": {"field": "amount", "op": "gt", "value": 10}}],
        "sink": {"type": "topic", "topic": f"{pid}.out"},
    }
    doc.update(overrides)
    return doc


def new_id() -> str:
    return "p" + uuid.uuid4().hex[:10]


def put(
    worker: WorkerProcess, path: str, payload: Any, token: Any = None, **headers: str
) -> tuple[int, Any]:
    sent = {"Content-Type": "application/json", **headers}
    kwargs = {} if token is None else {"token": token}
    return worker.request("PUT", path, json.dumps(payload).encode(), sent, **kwargs)


def make_token(worker: WorkerProcess, role: str) -> tuple[str, str]:
    name = f"{role}-{uuid.uuid4().hex[:6]}"
    status, body = worker.post_json("/v1/tokens", {"name": name, "role": role})
    assert status == 201, body
    return name, body["token"]


def test_v1_needs_a_valid_token_and_the_right_role(worker: WorkerProcess) -> None:
    status, body = worker.get("/v1/pipelines", token=None)
    assert status == 401 and "bearer" in body["error"]
    status, _ = worker.get("/v1/pipelines", token="dnx_0123456789abcdef_forged")
    assert status == 401
    for open_path in ("/health", "/metrics", "/openapi.json"):
        assert worker.get(open_path, token=None)[0] == 200

    _, viewer = make_token(worker, "viewer")
    _, producer = make_token(worker, "producer")
    _, editor = make_token(worker, "editor")
    pid = new_id()
    assert worker.get("/v1/pipelines", token=viewer)[0] == 200
    status, body = worker.post_json("/v1/pipelines", config(pid), token=viewer)
    assert status == 403 and body["required_role"] == "editor"
    assert worker.get("/v1/pipelines", token=producer)[0] == 403
    assert worker.post_json("/v1/pipelines", config(pid), token=editor)[0] == 201
    assert put(worker, f"/v1/pipelines/{pid}", config(pid, name="x"), viewer)[0] == 403

    records = [{"id": "auth-1"}]
    assert worker.post_json("/v1/ingest", records, token=None)[0] == 401
    assert worker.post_json("/v1/ingest", records, token=viewer)[0] == 403
    assert worker.post_json("/v1/ingest", records, token=editor)[0] == 403
    assert worker.post_json("/v1/ingest", records, token=producer)[0] == 202
    assert worker.post_json("/v1/ingest", records)[0] == 202  # admin

    assert worker.get("/v1/tokens", token=editor)[0] == 403
    status, listing = worker.get("/v1/tokens")
    assert status == 200
    assert all("hash" not in t and "token" not in t for t in listing["items"])


def test_revoked_token_stops_working(worker: WorkerProcess) -> None:
    _, viewer = make_token(worker, "viewer")
    token_id = viewer.split("_")[1]
    assert worker.get("/v1/pipelines", token=viewer)[0] == 200
    assert worker.request("DELETE", f"/v1/tokens/{token_id}")[0] == 200
    assert worker.get("/v1/pipelines", token=viewer)[0] == 401


def test_cli_token_create_works_while_the_worker_runs(worker: WorkerProcess) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "DATANEXUS_KAFKA_BOOTSTRAP": worker.bootstrap,
        "DATANEXUS_APP_ID": worker.app_id,
    }
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create", "--name", name, "--role", "editor"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip().splitlines()[-1]
    assert token.startswith("dnx_")
    deadline = time.monotonic() + 10
    while worker.get("/v1/pipelines", token=token)[0] != 200:
        assert time.monotonic() < deadline, "the CLI token never verified on the worker"
        time.sleep(0.2)
    pid = new_id()
    status, body = worker.post_json("/v1/pipelines", config(pid), token=token)
    assert (status, body["created_by"]) == (201, name)


def test_create_get_update_delete(worker: WorkerProcess) -> None:
    name, editor = make_token(worker, "editor")
    pid = new_id()
    status, created = worker.post_json("/v1/pipelines", config(pid), token=editor)
    assert status == 201
    assert created["version"] == 1 and created["created_by"] == name
    assert created["config"] == config(pid)

    assert worker.post_json("/v1/pipelines", config(pid))[0] == 409
    status, head = worker.get(f"/v1/pipelines/{pid}")
    assert status == 200 and head["version"] == 1

    changed = config(pid, name="orders-v2")
    status, updated = put(worker, f"/v1/pipelines/{pid}", changed, editor, **{"If-Match": '"1"'})
    assert status == 200 and updated["version"] == 2 and updated["updated_by"] == name
    status, stale = put(worker, f"/v1/pipelines/{pid}", config(pid), editor, **{"If-Match": '"1"'})
    assert status == 409 and stale["current_version"] == 2
    status, same = put(worker, f"/v1/pipelines/{pid}", changed)
    assert status == 200 and same["version"] == 2  # unchanged config: no new version

    status, body = put(worker, f"/v1/pipelines/{pid}", config(pid, steps=[{"type": "nope"}]))
    assert status == 422
    assert body["issues"][0]["pointer"].startswith("/steps/0")

    assert worker.request("DELETE", f"/v1/pipelines/{pid}", headers={"If-Match": '"1"'})[0] == 409
    assert worker.request("DELETE", f"/v1/pipelines/{pid}")[0] == 204
    assert worker.get(f"/v1/pipelines/{pid}")[0] == 404
    assert put(worker, f"/v1/pipelines/{pid}", changed)[0] == 404
    assert worker.get(f"/v1/pipelines/{new_id()}")[0] == 404


def test_create_generates_an_id_and_rejects_bad_documents(worker: WorkerProcess) -> None:
    doc = config("x")
    del doc["id"]
    status, created = worker.post_json("/v1/pipelines", {"config": doc, "description": "mine"})
    assert status == 201 and created["id"].startswith("pl-")
    status, versions = worker.get(f"/v1/pipelines/{created['id']}/versions")
    assert versions["items"][0]["description"] == "mine"

    status, body = worker.post_json("/v1/pipelines", {**doc, "sources": []})
    assert status == 422 and body["issues"][0]["pointer"] == "/sources"
    assert worker.post_json("/v1/pipelines", b"{not json")[0] == 400
    assert worker.post_json("/v1/pipelines", [1, 2])[0] == 422


def test_versions_pagination_diff_and_rollback(worker: WorkerProcess) -> None:
    name, editor = make_token(worker, "editor")
    pid = new_id()
    worker.post_json("/v1/pipelines", config(pid))
    for n in range(2, 8):  # versions 2..7: name-2 .. name-7
        assert put(worker, f"/v1/pipelines/{pid}", config(pid, name=f"name-{n}"))[0] == 200

    status, page = worker.get(f"/v1/pipelines/{pid}/versions?page=1&page_size=3")
    assert status == 200
    assert [v["version"] for v in page["items"]] == [7, 6, 5]
    assert (page["total"], page["pages"]) == (7, 3)
    assert page["links"]["next"].endswith("page=2&page_size=3") and page["links"]["prev"] is None
    status, last = worker.get(f"/v1/pipelines/{pid}/versions?page=3&page_size=3")
    assert [v["version"] for v in last["items"]] == [1] and last["links"]["next"] is None
    status, beyond = worker.get(f"/v1/pipelines/{pid}/versions?page=4&page_size=3")
    assert status == 200 and beyond["items"] == [] and beyond["total"] == 7
    status, whole = worker.get(f"/v1/pipelines/{pid}/versions?page_size=100")
    assert len(whole["items"]) == 7
    for bad in ("page=0", "page_size=0", "page_size=101", "page=abc"):
        status, body = worker.get(f"/v1/pipelines/{pid}/versions?{bad}")
        assert status == 422, bad
        assert body["issues"][0]["pointer"] in ("page", "page_size")

    status, v3 = worker.get(f"/v1/pipelines/{pid}/versions/3")
    assert status == 200 and v3["config"]["name"] == "name-3" and v3["kind"] == "updated"
    assert worker.get(f"/v1/pipelines/{pid}/versions/8")[0] == 404
    assert worker.get(f"/v1/pipelines/{pid}/versions/abc")[0] == 422

    status, diff = worker.get(f"/v1/pipelines/{pid}/versions/3/diff/7")
    assert status == 200
    assert diff["patch"] == [{"op": "replace", "path": "/name", "value": "name-7"}]
    assert diff["changes"][0]["path"] == "/name"
    assert diff["changes"][0]["old"] == "name-3" and diff["changes"][0]["new"] == "name-7"

    rollback = f"/v1/pipelines/{pid}/rollback/3"
    assert worker.post_json(rollback, {}, headers={"If-Match": '"6"'}, token=editor)[0] == 409
    status, head = worker.post_json(rollback, {}, headers={"If-Match": '"7"'}, token=editor)
    assert status == 200 and head["version"] == 8 and head["config"]["name"] == "name-3"
    status, v8 = worker.get(f"/v1/pipelines/{pid}/versions/8")
    assert v8["kind"] == "rolled_back" and v8["rollback_of"] == 3
    assert v8["previous_version"] == 7 and v8["author"] == name
    assert "from version 7" in v8["description"]
    assert worker.post_json(f"/v1/pipelines/{pid}/rollback/99", {})[0] == 404


def test_pruning_keeps_the_newest_100_versions(worker: WorkerProcess) -> None:
    pid = new_id()
    worker.post_json("/v1/pipelines", config(pid))
    for n in range(2, 106):
        assert put(worker, f"/v1/pipelines/{pid}", config(pid, name=f"n{n}"))[0] == 200
    status, page = worker.get(f"/v1/pipelines/{pid}/versions?page=10&page_size=10")
    assert page["total"] == 100
    assert [v["version"] for v in page["items"]][-1] == 6
    status, gone = worker.get(f"/v1/pipelines/{pid}/versions/5")
    assert status == 410 and "pruned" in gone["error"] and "oldest kept: 6" in gone["error"]
    assert worker.get(f"/v1/pipelines/{pid}/versions/6")[0] == 200
    assert worker.get(f"/v1/pipelines/{pid}/versions/1/diff/105")[0] == 410
    assert worker.post_json(f"/v1/pipelines/{pid}/rollback/2", {})[0] == 410


def test_list_pagination(worker: WorkerProcess) -> None:
    status, first = worker.get("/v1/pipelines?page=1&page_size=1")
    assert status == 200 and first["total"] >= 1 and len(first["items"]) == 1
    total = first["total"]
    status, everything = worker.get("/v1/pipelines?page_size=100")
    assert len(everything["items"]) == total
    ids = [p["id"] for p in everything["items"]]
    assert len(set(ids)) == total
    status, beyond = worker.get(f"/v1/pipelines?page={total + 1}&page_size=1")
    assert status == 200 and beyond["items"] == [] and beyond["links"]["next"] is None
    assert worker.get("/v1/pipelines?page_size=500")[0] == 422


def test_pause_resume_status_and_schema(worker: WorkerProcess) -> None:
    name, editor = make_token(worker, "editor")
    pid = new_id()
    worker.post_json("/v1/pipelines", config(pid))
    status, paused = worker.post_json(f"/v1/pipelines/{pid}/pause", {}, token=editor)
    assert status == 200 and paused["desired"] == "paused"
    assert paused["desired_changed_by"] == name
    deadline = time.monotonic() + 10
    while worker.get(f"/v1/pipelines/{pid}/status")[1]["state"] != "paused":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    status, resumed = worker.post_json(f"/v1/pipelines/{pid}/resume", {}, token=editor)
    assert status == 200 and resumed["desired"] == "active"
    status, state = worker.get(f"/v1/pipelines/{pid}/status")
    assert status == 200 and state["version"] == 1
    assert {"records_in", "records_out", "lag", "running_version"} <= set(state)
    assert worker.post_json(f"/v1/pipelines/{new_id()}/pause", {})[0] == 404
    assert worker.get(f"/v1/pipelines/{new_id()}/status")[0] == 404

    status, schema = worker.get("/v1/pipelines/schema")
    assert status == 200 and schema["required"] == ["name", "sources", "steps", "sink"]
    status, spec = worker.get("/openapi.json", token=None)
    assert "/v1/pipelines/{pipeline_id}/versions/{v1}/diff/{v2}" in spec["paths"]


def test_auth_off_opens_v1_and_warns_in_health(start_worker: Any) -> None:
    open_worker = start_worker({**unique_topics("ao"), "DATANEXUS_AUTH": "off"})
    status, health = open_worker.get("/health", token=None)
    assert status == 200 and health["auth"]["enabled"] is False
    assert "DATANEXUS_AUTH=off" in health["auth"]["warning"]
    assert "DATANEXUS_AUTH=off" in open_worker.log_tail(400)
    pid = new_id()
    status, created = open_worker.post_json("/v1/pipelines", config(pid), token=None)
    assert status == 201 and created["created_by"] == "anonymous"
