"""The pipeline runner on a real broker: exactly-once through version switches, and durability of
pipelines, versions and tokens across a worker restart."""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from agents.pipelines.runner import VERSION_HEADER
from app.testing import WorkerProcess, headers_dict, read_topic, unique_topics
from app.topics import ensure_topics

pytestmark = pytest.mark.integration

RECORDS = 100_000
SWITCHES = 10


def marked_config(pid: str, marker: str) -> dict[str, Any]:
    return {
        "id": pid,
        "name": f"switch-{marker}",
        "sources": [f"{pid}.in"],
        "steps": [{"type": "map", "set": {"marker": marker}}],
        "sink": {"type": "topic", "topic": f"{pid}.out"},
    }


def put(worker: WorkerProcess, pid: str, doc: dict[str, Any], version: int) -> dict[str, Any]:
    status, body = worker.request(
        "PUT",
        f"/v1/pipelines/{pid}",
        json.dumps(doc).encode(),
        {"Content-Type": "application/json", "If-Match": f'"{version}"'},
    )
    assert status == 200, body
    result: dict[str, Any] = body
    return result


def wait_running(worker: WorkerProcess, pid: str, version: int, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = worker.get(f"/v1/pipelines/{pid}/status")
        if status == 200 and body["running_version"] == version and body["state"] == "running":
            return
        assert time.monotonic() < deadline, f"version {version} never ran: {body}"
        time.sleep(0.05)


def produce(bootstrap: str, topic: str, ids: range, positions: dict[str, tuple[int, int]]) -> None:
    """Sends records at a steady pace (25k/s), remembering each one's partition/offset."""
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "acks": "all"})

    def on_delivery(err: Any, msg: Any) -> None:
        assert err is None, err
        positions[msg.key().decode()] = (msg.partition(), msg.offset())

    started = time.monotonic()
    for n, i in enumerate(ids):
        while True:
            try:
                producer.produce(
                    topic,
                    orjson.dumps({"id": str(i), "seq": i}),
                    str(i).encode(),
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.01)
        if n % 2000 == 1999:
            producer.poll(0)
            ahead = (n + 1) / 25_000 - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    assert producer.flush(30) == 0


def test_switches_lose_nothing_and_tag_every_record(
    start_worker: Any, kafka_bootstrap: str
) -> None:
    worker = start_worker(unique_topics("sw"))
    pid = "sw" + uuid.uuid4().hex[:8]
    ensure_topics(kafka_bootstrap, [f"{pid}.in", f"{pid}.out"], 4)
    status, head = worker.post_json("/v1/pipelines", marked_config(pid, "m1"))
    assert status == 201, head
    wait_running(worker, pid, 1)

    positions: dict[str, tuple[int, int]] = {}
    warm_up = 1000
    produce(kafka_bootstrap, f"{pid}.in", range(warm_up), positions)
    deadline = time.monotonic() + 30
    while worker.get(f"/v1/pipelines/{pid}/status")[1]["records_in"] < warm_up:
        assert time.monotonic() < deadline, "the pipeline never consumed"
        time.sleep(0.05)
    sender = threading.Thread(
        target=produce, args=(kafka_bootstrap, f"{pid}.in", range(warm_up, RECORDS), positions)
    )
    sender.start()
    version = 1
    for n in range(SWITCHES):
        time.sleep(0.3)
        if n % 3 == 2:
            status, body = worker.post_json(
                f"/v1/pipelines/{pid}/rollback/{version - 2}",
                {},
                headers={"If-Match": f'"{version}"'},
            )
            assert status == 200, body
        else:
            body = put(worker, pid, marked_config(pid, f"m{version + 1}"), version)
        version = body["version"]
        wait_running(worker, pid, version)
    sender.join()
    assert version == SWITCHES + 1

    markers = {}
    for v in range(1, version + 1):
        status, body = worker.get(f"/v1/pipelines/{pid}/versions/{v}")
        markers[v] = body["config"]["steps"][0]["set"]["marker"]

    out = read_topic(kafka_bootstrap, f"{pid}.out", expect=RECORDS, timeout_s=60)
    ids = [json.loads(m.value())["id"] for m in out]
    assert len(ids) == RECORDS, f"{len(ids)} records out, {len(set(ids))} distinct"
    assert set(ids) == {str(i) for i in range(RECORDS)}

    by_partition: dict[int, list[tuple[int, int]]] = {}
    for message in out:
        record = json.loads(message.value())
        produced_in = int(headers_dict(message)[VERSION_HEADER])
        assert record["marker"] == markers[produced_in]
        partition, offset = positions[record["id"]]
        by_partition.setdefault(partition, []).append((offset, produced_in))
    seen_versions = set()
    for pairs in by_partition.values():
        pairs.sort()
        versions = [v for _, v in pairs]
        assert versions == sorted(versions), "a record was processed by an older version"
        seen_versions |= set(versions)
    assert len(seen_versions) >= SWITCHES // 2, seen_versions
    status, state = worker.get(f"/v1/pipelines/{pid}/status")
    assert state["records_in"] == RECORDS and state["records_out"] == RECORDS


def test_restart_keeps_pipelines_versions_and_tokens(
    kafka_bootstrap: str, embedded_broker_in_use: bool, tmp_path: Path
) -> None:
    env = unique_topics("rs")
    first = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path / "first",
        env=env,
        embedded=embedded_broker_in_use,
    ).start()
    pid = "rs" + uuid.uuid4().hex[:8]
    ensure_topics(kafka_bootstrap, [f"{pid}.in", f"{pid}.out"], 4)
    try:
        assert first.post_json("/v1/pipelines", marked_config(pid, "a"))[0] == 201
        put(first, pid, marked_config(pid, "b"), 1)
        put(first, pid, marked_config(pid, "c"), 2)
        status, issued = first.post_json("/v1/tokens", {"name": "vera", "role": "viewer"})
        assert status == 201
        wait_running(first, pid, 3)
    finally:
        first.stop()

    # a fresh state dir: everything must come back from the changelogs on the broker
    second = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path / "second",
        env=env,
        embedded=embedded_broker_in_use,
        app_id=first.app_id,
        token=first.token,
    ).start()
    try:
        status, head = second.get(f"/v1/pipelines/{pid}", token=issued["token"])
        assert status == 200 and head["version"] == 3 and head["config"]["name"] == "switch-c"
        status, versions = second.get(f"/v1/pipelines/{pid}/versions")
        assert [v["version"] for v in versions["items"]] == [3, 2, 1]
        status, health = second.get("/health")
        assert health["auth"]["bootstrap_token_used"] is False
        wait_running(second, pid, 3)
        producer = Producer({"bootstrap.servers": kafka_bootstrap})
        for i in range(10):
            producer.produce(f"{pid}.in", orjson.dumps({"id": f"r{i}"}), f"r{i}".encode())
        assert producer.flush(10) == 0
        out = read_topic(kafka_bootstrap, f"{pid}.out", expect=10)
        assert sorted(json.loads(m.value())["id"] for m in out) == [f"r{i}" for i in range(10)]
        assert {headers_dict(m)[VERSION_HEADER] for m in out} == {b"3"}
    finally:
        second.stop()


def test_two_workers_route_commands_to_the_owner_and_one_concurrent_update_wins(
    kafka_bootstrap: str, embedded_broker_in_use: bool, tmp_path: Path
) -> None:
    env = unique_topics("tw")
    one = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path / "one",
        env=env,
        embedded=embedded_broker_in_use,
    ).start()
    two = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path / "two",
        env=env,
        embedded=embedded_broker_in_use,
        app_id=one.app_id,
        token=one.token,
    ).start()
    try:

        def split() -> bool:
            owned = [
                w.get("/v1/pipelines?scope=local")[1].get("owned_partitions") for w in (one, two)
            ]
            return all(owned) and sorted(owned[0] + owned[1]) == [0, 1, 2, 3]

        deadline = time.monotonic() + 60
        while not split():
            assert time.monotonic() < deadline, "the two workers never split the partitions"
            time.sleep(0.2)
        ids = [f"tw{n}-{uuid.uuid4().hex[:6]}" for n in range(8)]
        for pid in ids:
            while True:  # the first requests may meet the rebalance the second worker caused
                status, body = one.post_json("/v1/pipelines", marked_config(pid, "a"))
                if status == 201:
                    break
                assert status in (409, 503) and time.monotonic() < deadline, body
                if status == 409:
                    break
        for worker in (one, two):
            status, listing = worker.get("/v1/pipelines?page_size=100")
            assert status == 200 and {p["id"] for p in listing["items"]} >= set(ids)
            for pid in ids:
                assert worker.get(f"/v1/pipelines/{pid}")[1]["version"] == 1

        results: list[int] = []

        def update(worker: WorkerProcess, marker: str) -> None:
            status, _ = worker.request(
                "PUT",
                f"/v1/pipelines/{ids[0]}",
                json.dumps(marked_config(ids[0], marker)).encode(),
                {"Content-Type": "application/json", "If-Match": '"1"'},
            )
            results.append(status)

        racers = [threading.Thread(target=update, args=(w, m)) for w, m in ((one, "x"), (two, "y"))]
        for racer in racers:
            racer.start()
        for racer in racers:
            racer.join()
        assert sorted(results) == [200, 409]
        assert one.get(f"/v1/pipelines/{ids[0]}")[1]["version"] == 2
    finally:
        two.stop()
        one.stop()
