"""Pipelines with dedupe and window steps, created over REST, on a real worker, broker and Redis:
the sink gets exactly the unique records / the closed windows; after kill -9 and a replay of
every input, the window state (local RocksDB) and the dedupe ids (Redis) count nothing twice."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from app.testing import WorkerProcess, read_topic, unique_topics
from app.topics import ensure_topics
from tests.unit.pipeline_configs import COUNT_WINDOW, TUMBLING

pytestmark = pytest.mark.integration


def pipeline(pid: str, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": pid,
        "name": f"stages-{pid}",
        "sources": [f"{pid}.in"],
        "steps": steps,
        "sink": {"type": "topic", "topic": f"{pid}.out"},
    }


def produce(bootstrap: str, topic: str, records: list[dict[str, Any]], key: str) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for record in records:
        producer.produce(topic, orjson.dumps(record), str(record[key]).encode())
        producer.flush(10)  # one at a time: keeps the order, and makes several batches
    assert producer.flush(10) == 0


def wait_status(
    worker: WorkerProcess, pid: str, done: Any, timeout_s: float = 30
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        status, body = worker.get(f"/v1/pipelines/{pid}/status")
        if status == 200 and done(body):
            result: dict[str, Any] = body
            return result
        assert time.monotonic() < deadline, f"pipeline {pid}: {body}"
        time.sleep(0.1)


def rewind(bootstrap: str, group: str, topic: str) -> None:
    """Joins the pipeline's group (its killed member expires) and commits offset 0: the restart
    replays everything the pipeline processed, as after a crash between the sink ack and the
    offset commit."""
    assigned: list[TopicPartition] = []
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "session.timeout.ms": 6000,
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic], on_assign=lambda _c, tps: assigned.extend(tps))
    deadline = time.monotonic() + 30
    try:
        while not assigned:
            assert time.monotonic() < deadline, f"cannot join {group}"
            consumer.poll(0.2)
        offsets = [TopicPartition(tp.topic, tp.partition, 0) for tp in assigned]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()


def running(body: dict[str, Any]) -> bool:
    return bool(body["state"] == "running")


def values(bootstrap: str, topic: str, expect: int) -> list[dict[str, Any]]:
    return [json.loads(m.value()) for m in read_topic(bootstrap, topic, expect=expect)]


def test_dedupe_and_window_steps_run_and_window_state_survives_a_restart(
    kafka_bootstrap: str, embedded_broker_in_use: bool, redis_url: str, tmp_path: Path
) -> None:
    env = {**unique_topics("st"), "DATANEXUS_REDIS_URL": redis_url}
    tag = uuid.uuid4().hex[:8]
    dedupe_id, count_id, time_id = f"dd{tag}", f"cw{tag}", f"tw{tag}"
    ensure_topics(kafka_bootstrap, [f"{dedupe_id}.in", f"{count_id}.in"], 2)
    ensure_topics(kafka_bootstrap, [f"{time_id}.in"], 1)
    ensure_topics(kafka_bootstrap, [f"{p}.out" for p in (dedupe_id, count_id, time_id)], 1)

    def start(app_id: str = "", token: str = "") -> WorkerProcess:
        return WorkerProcess(
            bootstrap=kafka_bootstrap,
            data_dir=tmp_path / "worker",
            env=env,
            embedded=embedded_broker_in_use,
            app_id=app_id,
            token=token,
        ).start()

    worker = start()
    try:
        status, issued = worker.post_json("/v1/tokens", {"name": f"ed{tag}", "role": "editor"})
        assert status == 201, issued
        editor = issued["token"]
        docs = {
            dedupe_id: pipeline(dedupe_id, [{"type": "dedupe", "mode": "exact", "window": "1m"}]),
            count_id: pipeline(count_id, [{"type": "window", "window": COUNT_WINDOW}]),
            time_id: pipeline(time_id, [{"type": "window", "window": TUMBLING}]),
        }
        for doc in docs.values():
            status, body = worker.post_json("/v1/pipelines", doc, token=editor)
            assert status == 201, body
        for pid in docs:
            wait_status(worker, pid, running)

        # dedupe: 30 ids, 10 of them sent twice (in the same and in later batches)
        unique = [{"id": f"d{i}", "n": i} for i in range(30)]
        repeats = [{"id": f"d{i}", "n": -i} for i in range(10)]
        produce(kafka_bootstrap, f"{dedupe_id}.in", unique[:20] + repeats[:5], "id")
        produce(kafka_bootstrap, f"{dedupe_id}.in", repeats[5:] + unique[20:], "id")
        # count windows of 3 per user: a closes 2 (7th pending), b closes 2
        a = [{"user": "a", "amount": n, "event_time": 1000 * n} for n in range(1, 8)]
        b = [{"user": "b", "amount": n, "event_time": 1000 * n} for n in range(10, 16)]
        produce(kafka_bootstrap, f"{count_id}.in", a + b, "user")
        # tumbling 10 s: [0,10s) gets 3, [10s,20s) gets 2; the event at 25 s closes both
        times = [1_000, 4_000, 9_999, 12_000, 19_000, 25_000]
        ticks = [{"id": f"t{t}", "event_time": t} for t in times]
        produce(kafka_bootstrap, f"{time_id}.in", ticks, "id")

        out = values(kafka_bootstrap, f"{dedupe_id}.out", 30)
        assert sorted(r["id"] for r in out) == sorted(r["id"] for r in unique)
        assert all(r["n"] >= 0 for r in out)
        state = wait_status(worker, dedupe_id, lambda s: s["records_in"] == 40)
        assert state["state"] == "running" and state["error"] is None
        assert (state["records_out"], state["records_dropped"]) == (30, 10)

        windows = values(kafka_bootstrap, f"{count_id}.out", 4)
        sums = sorted((r["group"]["user"], r["aggregates"]["amount.sum"]) for r in windows)
        assert sums == [("a", 6), ("a", 15), ("b", 33), ("b", 42)]
        assert all(r["aggregates"]["*.count"] == 3 and r["final"] for r in windows)
        ticks_out = values(kafka_bootstrap, f"{time_id}.out", 2)
        assert sorted((r["start"], r["end"], r["aggregates"]["*.count"]) for r in ticks_out) == [
            (0, 10_000, 3),
            (10_000, 20_000, 2),
        ]
        for pid in docs:
            assert wait_status(worker, pid, running)["error"] is None
    finally:
        worker.kill()

    # kill -9, restart on the same state dir, replay every input: the window state (RocksDB) skips
    # the replayed events and keeps user a's pending 7th event; Redis knows the dedupe ids
    with ThreadPoolExecutor(2) as pool:
        groups = [(f"{worker.app_id}.pipeline.{pid}", f"{pid}.in") for pid in (dedupe_id, count_id)]
        for done in [pool.submit(rewind, kafka_bootstrap, *group) for group in groups]:
            done.result()
    worker = start(worker.app_id, worker.token)
    try:
        replayed = wait_status(worker, count_id, lambda s: s["records_in"] == len(a + b))
        assert (replayed["records_out"], replayed["records_dropped"]) == (0, 0)
        more = [{"user": "a", "amount": n, "event_time": 1000 * n} for n in (8, 9)]
        produce(kafka_bootstrap, f"{count_id}.in", more, "user")
        windows = values(kafka_bootstrap, f"{count_id}.out", 5)
        assert len(windows) == 5, windows
        sums = sorted((r["group"]["user"], r["aggregates"]["amount.sum"]) for r in windows)
        assert sums == [("a", 6), ("a", 15), ("a", 24), ("b", 33), ("b", 42)]
        assert wait_status(worker, count_id, running)["error"] is None
        state = wait_status(worker, dedupe_id, lambda s: s["records_in"] == 40)
        assert (state["records_out"], state["records_dropped"]) == (0, 40)
        assert len(values(kafka_bootstrap, f"{dedupe_id}.out", 30)) == 30

        # deleting a pipeline drops its local stage state: a new one of that id starts empty
        state_dir = tmp_path / "worker" / worker.app_id / "pipelines" / count_id
        assert state_dir.is_dir()
        status, _ = worker.request("DELETE", f"/v1/pipelines/{count_id}")
        assert status == 204
        assert not state_dir.exists()
    finally:
        worker.stop()
