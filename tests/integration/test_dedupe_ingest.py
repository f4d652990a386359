"""De-duplication in the running product, on the real broker and the real Redis: the stream stage
of the Kafka ingest agent, the HTTP edge shared by two instances, config changes reaching every
instance, a kill -9 mid-stream, and a Redis outage (a private redis-server, never the shared
one)."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from confluent_kafka import Producer

from agents.dedupe.outputs import LATE_DUPLICATE_REASON
from agents.ingest.triage import ERROR_REASON_HEADER
from app.dev_broker import free_port
from app.testing import WorkerProcess, headers_dict, read_topic
from tests.integration.markers import DEV_BROKER_LIVE_END_SKIP

pytestmark = pytest.mark.integration


WINDOW_MS = 2_000


def dedupe_env(topic_env: dict[str, str], redis_url: str, **config: Any) -> dict[str, str]:
    return {
        **topic_env,
        "DATANEXUS_REDIS_URL": redis_url,
        "DATANEXUS_DEDUPE_KEY_PREFIX": f"dn:test:{uuid.uuid4().hex[:8]}",
        "DATANEXUS_DEDUPE_CONFIG": json.dumps(config),
    }


def murmur2_producer(bootstrap: str) -> Producer:
    return Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})


def produce(
    producer: Producer, topic: str, records: list[tuple[str | None, dict[str, Any]]]
) -> None:
    for key, value in records:
        producer.produce(topic, orjson.dumps(value), key.encode() if key is not None else None)
    assert producer.flush(10) == 0


def ids_of(messages: list[Any]) -> Counter[str]:
    return Counter(json.loads(m.value())["id"] for m in messages)


def wait_for(check: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def test_stream_stage_drops_repeats_in_window_and_applies_late_policy(
    start_worker, topic_env, kafka_bootstrap, redis_url
):
    env = dedupe_env(
        topic_env,
        redis_url,
        default={"mode": "exact", "window_ms": WINDOW_MS, "late_policy": "flag"},
        sources={"audit": {"late_policy": "dlq"}},
    )
    start_worker(env)
    raw, accepted_topic = topic_env["DATANEXUS_TOPIC_RAW"], topic_env["DATANEXUS_TOPIC_ACCEPTED"]
    producer = murmur2_producer(kafka_bootstrap)
    first = [
        ("a", {"id": "a"}),
        ("b", {"id": "b"}),
        ("a", {"id": "a", "payload": {"again": True}}),
        (None, {"id": "keyless"}),  # rerouted by id, then de-duplicated in its partition
        (None, {"id": "keyless"}),
        ("x", {"id": "x", "source": "audit"}),
    ]
    produce(producer, raw, first)
    accepted = read_topic(kafka_bootstrap, accepted_topic, expect=4)
    assert ids_of(accepted) == Counter({"a": 1, "b": 1, "keyless": 1, "x": 1})

    time.sleep(WINDOW_MS / 1000 + 0.5)
    produce(producer, raw, [("a", {"id": "a"}), ("x", {"id": "x", "source": "audit"})])
    accepted = read_topic(kafka_bootstrap, accepted_topic, expect=5)
    late = [m for m in accepted if headers_dict(m).get("datanexus-duplicate") == b"late"]
    assert ids_of(accepted) == Counter({"a": 2, "b": 1, "keyless": 1, "x": 1})
    assert [json.loads(m.value())["id"] for m in late] == ["a"]
    dead = read_topic(kafka_bootstrap, topic_env["DATANEXUS_TOPIC_DLQ"], expect=1)
    assert [headers_dict(m)[ERROR_REASON_HEADER].decode() for m in dead] == [LATE_DUPLICATE_REASON]
    assert json.loads(dead[0].value())["record"]["id"] == "x"


def test_two_http_instances_share_state_and_config(
    start_worker, topic_env, kafka_bootstrap, redis_url
):
    env = dedupe_env(topic_env, redis_url, default={"mode": "exact", "window_ms": 60_000})
    one, two = start_worker(env), start_worker(env)
    batch = [{"id": f"h-{i}", "source": "web"} for i in range(40)]
    results = [one.post_json("/v1/ingest", batch), two.post_json("/v1/ingest", batch)]
    assert [status for status, _ in results] == [202, 202]
    assert sum(body["accepted"] for _, body in results) == 40
    assert sum(body["duplicates"] for _, body in results) == 40
    again = [{"id": "h-0", "source": "web"}, {"id": "h-new"}, {"id": "h-new"}]
    status, body = two.post_json("/v1/ingest", again)
    assert (status, body["accepted"], body["duplicates"]) == (202, 1, 2)

    # invalid changes name the field and change nothing
    status, body = one.request("PUT", "/v1/dedupe/config", b"{nope")
    assert status == 400 and body["field"] == "body"
    put = json.dumps({"sources": {"web": {"window_ms": 7_200_000}}}).encode()
    status, body = one.request("PUT", "/v1/dedupe/config", put)
    assert status == 422 and body["field"] == "sources.web.window_ms" and "<=" in body["error"]

    fuzzy = {"sources": {"sensors": {"mode": "fuzzy", "ignore_fields": ["trace_id", "at"]}}}
    status, body = one.request("PUT", "/v1/dedupe/config", json.dumps(fuzzy).encode())
    assert status == 200 and body["sources"]["sensors"]["mode"] == "fuzzy" and body["shared"]
    wait_for(
        lambda: (
            two.get("/v1/dedupe/config")[1]["sources"].get("sensors", {}).get("mode") == "fuzzy"
        ),
        5,
    )

    reading = {"source": "sensors", "payload": {"temp": 21.5, "trace_id": "t1", "at": 1}}
    status, body = one.post_json("/v1/ingest", {**reading, "id": "s-1"})
    assert (status, body["accepted"]) == (202, 1)
    same_but_ignored = {
        **reading,
        "id": "s-2",
        "payload": {**reading["payload"], "trace_id": "t2", "at": 2},
    }
    status, body = two.post_json("/v1/ingest", same_but_ignored)
    assert (status, body["accepted"], body["duplicates"]) == (202, 0, 1)
    different = {**reading, "id": "s-3", "payload": {"temp": 22.0, "trace_id": "t3"}}
    status, body = two.post_json("/v1/ingest", different)
    assert (status, body["accepted"]) == (202, 1)

    accepted = read_topic(kafka_bootstrap, topic_env["DATANEXUS_TOPIC_ACCEPTED"], expect=43)
    counts = ids_of(accepted)
    assert len(accepted) == 43 and set(counts.values()) == {1}
    assert {"h-new", "s-1", "s-3"} <= set(counts) and "s-2" not in counts

    per_instance = [w.get("/v1/dedupe/stats")[1]["edge"]["sources"]["web"] for w in (one, two)]
    web = [stats["results"]["exact"] for stats in per_instance]
    assert sum(r["unique"] for r in web) == 40 and sum(r["duplicate"] for r in web) == 41
    metric = "datanexus_dedupe_records_total"
    assert sum(w.metric(metric, source="web", result="duplicate") for w in (one, two)) == 41


@DEV_BROKER_LIVE_END_SKIP
@pytest.mark.parametrize("mode", ["exact", "bloom"])
def test_kill_minus_nine_mid_stream_no_duplicate_no_loss(
    start_worker, topic_env, kafka_bootstrap, redis_url, tmp_path, mode
):
    """Exact mode: no loss and no duplicate. Bloom mode: no loss (its keys are added to the
    filter only after the output was acknowledged, so the replay of an unacknowledged batch is
    not dropped as "seen"); a record may be forwarded twice if the worker died in between."""
    env = dedupe_env(topic_env, redis_url, default={"mode": mode, "window_ms": 600_000})
    worker = start_worker(env, data_dir=tmp_path / "crash")
    raw, accepted_topic = topic_env["DATANEXUS_TOPIC_RAW"], topic_env["DATANEXUS_TOPIC_ACCEPTED"]
    unique = [f"c-{i}" for i in range(6_000)]
    stream = [(i, {"id": i, "payload": {"n": n}}) for n, i in enumerate(unique)]
    # every 5th record repeats an id produced a little earlier (an at-least-once upstream)
    with_repeats = []
    for n, item in enumerate(stream):
        with_repeats.append(item)
        if n % 5 == 4:
            with_repeats.append(stream[n - 3])
    producer = murmur2_producer(kafka_bootstrap)

    def produce_slowly() -> None:
        for first in range(0, len(with_repeats), 300):
            produce(producer, raw, with_repeats[first : first + 300])
            time.sleep(0.05)

    feeder = threading.Thread(target=produce_slowly)
    feeder.start()
    wait_for(lambda: worker.metric("datanexus_dedupe_records_total") >= 1_500, 30)
    worker.kill()
    feeder.join()
    worker.start()
    accepted = read_topic(kafka_bootstrap, accepted_topic, expect=len(unique), timeout_s=60)
    deadline = time.monotonic() + 60
    while set(ids_of(accepted)) != set(unique) and time.monotonic() < deadline:
        time.sleep(1)  # duplicates (bloom) can make up the expected count before the tail
        accepted = read_topic(kafka_bootstrap, accepted_topic, expect=len(unique), timeout_s=60)
    counts = ids_of(accepted)
    assert set(counts) == set(unique), f"lost {len(set(unique) - set(counts))} unique records"
    duplicated = {i: c for i, c in counts.items() if c > 1}
    if mode == "exact":
        assert not duplicated, f"{len(duplicated)} ids forwarded twice"
    else:  # at most the batches in flight at the kill (a batch is at most 1000 records)
        assert len(duplicated) <= 4_000, f"{len(duplicated)} ids forwarded twice"


def answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[Callable[[], None]]:
    """A redis-server of our own on a free port; calling the fixture's value restarts it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server binary not installed")
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        args = [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        procs.append(subprocess.Popen(args, cwd=tmp_path, stdout=subprocess.DEVNULL))
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        wait_for(lambda: answers(client), 10)

    def stop() -> None:
        for proc in procs:
            proc.kill()
            proc.wait()
        procs.clear()

    start()
    start.port = port  # type: ignore[attr-defined]
    start.stop = stop  # type: ignore[attr-defined]
    yield start
    stop()


def test_redis_outage_degrades_keeps_exact_and_catches_up(
    start_worker, topic_env, kafka_bootstrap, private_redis
):
    port = private_redis.port
    url = f"redis://127.0.0.1:{port}/0"
    env = dedupe_env(topic_env, url, default={"mode": "exact", "window_ms": 600_000})
    prefix = env["DATANEXUS_DEDUPE_KEY_PREFIX"]
    worker: WorkerProcess = start_worker(env)
    assert worker.post_json("/v1/ingest", [{"id": "before"}])[1]["accepted"] == 1

    private_redis.stop()
    status, body = worker.post_json("/v1/ingest", [{"id": "during"}, {"id": "during"}])
    assert (status, body["accepted"], body["duplicates"]) == (202, 1, 1)
    status, body = worker.post_json("/v1/ingest", [{"id": "during"}, {"id": "before"}])
    assert (status, body["accepted"], body["duplicates"]) == (202, 0, 2)
    status, health = worker.get("/health")
    assert (status, health["status"], health["dedupe"]["degraded"]) == (200, "degraded", True)

    private_redis()
    wait_for(lambda: worker.get("/health")[1]["dedupe"]["degraded"] is False, 15)
    client = redis.Redis(port=port)
    wait_for(lambda: client.exists(f"{prefix}:{{_none}}:exact:during") == 1, 10)
    accepted = read_topic(kafka_bootstrap, topic_env["DATANEXUS_TOPIC_ACCEPTED"], expect=2)
    assert ids_of(accepted) == Counter({"before": 1, "during": 1})
