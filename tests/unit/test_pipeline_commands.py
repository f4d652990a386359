"""The commands the REST views send to a pipeline's owner, executed against dict stores."""

from __future__ import annotations

from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from agents.pipelines.commands import execute
from agents.pipelines.scheduler import partition_of
from tables.pipelines import PipelineRuntimeStore, PipelineStore


def make() -> tuple[PipelineStore, PipelineRuntimeStore]:
    return PipelineStore({}, {}), PipelineRuntimeStore({})


def doc(pid: str, name: str = "a") -> dict[str, Any]:
    return {
        "id": pid,
        "name": name,
        "sources": ["in"],
        "steps": [],
        "sink": {"type": "topic", "topic": "out"},
    }


def no_runner(_pid: str) -> None:
    return None


def run(store: PipelineStore, runtime: PipelineRuntimeStore, **command: Any) -> dict[str, Any]:
    return execute(command, store, runtime, no_runner)


def test_create_update_conflict_and_errors_become_replies() -> None:
    store, runtime = make()
    created = run(store, runtime, op="create", id="p1", config=doc("p1"), author="ann")
    assert (created["status"], created["etag"], created["body"]["created_by"]) == (201, 1, "ann")
    again = run(store, runtime, op="create", id="p1", config=doc("p1"), author="ann")
    assert again["status"] == 409
    updated = run(
        store,
        runtime,
        op="update",
        id="p1",
        config=doc("p1", "b"),
        author="bob",
        expected_version=1,
    )
    assert (updated["status"], updated["etag"]) == (200, 2)
    stale = run(
        store,
        runtime,
        op="update",
        id="p1",
        config=doc("p1", "c"),
        author="bob",
        expected_version=1,
    )
    assert stale["status"] == 409 and stale["body"]["current_version"] == 2
    assert run(store, runtime, op="get", id="nope")["status"] == 404
    bad = run(store, runtime, op="update", id="p1", config={"name": 1}, author="bob")
    assert bad["status"] == 422 and bad["body"]["issues"]


def test_pause_resume_and_status_merge_the_runner_counters() -> None:
    store, runtime = make()
    run(store, runtime, op="create", id="p1", config=doc("p1"), author="ann")
    paused = run(store, runtime, op="pause", id="p1", author="ann")
    assert paused["body"]["desired"] == "paused" and runtime.is_paused("p1")
    status = execute(
        {"op": "status", "id": "p1"}, store, runtime, lambda _p: {"records_in": 7, "lag": 3}
    )
    assert status["body"]["records_in"] == 7 and status["body"]["version"] == 1
    assert run(store, runtime, op="resume", id="p1", author="ann")["body"]["desired"] == "active"
    assert run(store, runtime, op="pause", id="ghost", author="ann")["status"] == 404


def test_list_local_keeps_only_the_asked_partitions() -> None:
    store, runtime = make()
    ids = [f"p{i}" for i in range(20)]
    for pid in ids:
        run(store, runtime, op="create", id=pid, config=doc(pid), author="ann")
    answer = run(store, runtime, op="list_local", partitions=[0, 2], of=4)
    listed = {head["id"] for head in answer["body"]}
    assert listed == {pid for pid in ids if partition_of(pid, 4) in (0, 2)}
    assert 0 < len(listed) < len(ids)


def test_delete_then_versions_diff_and_rollback() -> None:
    store, runtime = make()
    run(store, runtime, op="create", id="p1", config=doc("p1"), author="ann")
    run(store, runtime, op="update", id="p1", config=doc("p1", "b"), author="ann")
    diff = run(store, runtime, op="diff", id="p1", from_version=1, to_version=2)
    assert diff["body"]["patch"] == [{"op": "replace", "path": "/name", "value": "b"}]
    back = run(store, runtime, op="rollback", id="p1", version=1, author="cat")
    assert back["etag"] == 3 and back["body"]["config"]["name"] == "a"
    listing = run(store, runtime, op="versions", id="p1", page=1, page_size=2)
    assert [v["version"] for v in listing["body"]["items"]] == [3, 2]
    assert listing["body"]["total"] == 3
    assert run(store, runtime, op="delete", id="p1", author="cat")["status"] == 204
    assert run(store, runtime, op="get", id="p1")["status"] == 404


def test_partition_matches_the_partitioner_faust_sends_commands_with() -> None:
    partitioner = DefaultPartitioner()
    for i in range(200):
        key = f"pipeline-{i}"
        assert partition_of(key, 4) == partitioner(key.encode(), [0, 1, 2, 3], [0, 1, 2, 3])
