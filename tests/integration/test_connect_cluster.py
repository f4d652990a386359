"""Connect workers as a group: file-source offsets survive a restart, tasks spread over two
workers, and a killed worker's tasks move to the survivor."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from confluent_kafka import Producer

from app.testing import WorkerProcess, read_topic
from app.topics import ensure_topics
from tests.integration.conftest import WorkerFactory
from tests.integration.connect_helpers import create, tag, wait_for

pytestmark = pytest.mark.integration

STRING = "org.apache.kafka.connect.storage.StringConverter"


def lines(start: int, stop: int) -> str:
    return "".join(f"line-{i}\n" for i in range(start, stop))


def topic_values(worker: WorkerProcess, topic: str, expect: int) -> list[bytes]:
    return [
        m.value() or b""
        for m in read_topic(worker.bootstrap, topic, expect=expect, timeout_s=20, idle_s=0.5)
    ]


def statuses(worker: WorkerProcess, name: str) -> list[tuple[str, str]]:
    _, body = worker.get(f"/connect/connectors/{name}/status")
    return [(t["state"], t["worker_id"]) for t in body["tasks"]]


def test_offsets_survive_restart_and_tasks_move_on_kill(
    start_worker: WorkerFactory, tmp_path: Path, redis_url: str
) -> None:
    env = {"DATANEXUS_CONNECT_ENABLED": "1", "DATANEXUS_CONNECT_TOPIC_PREFIX": tag("cc")}
    app_id = tag("dn-connect-")
    first = start_worker(env, app_id=app_id)
    source, topic = tmp_path / "src.txt", tag("lines")
    source.write_text(lines(0, 50))
    file_source = tag("fs")
    create(
        first,
        file_source,
        {
            "connector.class": "FileStreamSource",
            "file": str(source),
            "topic": topic,
            "value.converter": STRING,
            "batch.size": "7",
        },
    )
    assert sorted(topic_values(first, topic, 50)) == sorted(f"line-{i}".encode() for i in range(50))
    first.stop()
    with source.open("a") as f:
        f.write(lines(50, 80))
    second = start_worker(env, app_id=app_id, token=first.token)  # the group's admin token
    values = topic_values(second, topic, 80)
    assert len(values) == 80, "a clean restart must neither repeat nor skip a line"
    assert set(values) == {f"line-{i}".encode() for i in range(80)}

    third = start_worker(env, app_id=app_id, token=first.token)
    sink_topic, prefix = tag("kv"), tag("cn:") + ":"
    redis_sink = tag("rs")
    ensure_topics(
        third.bootstrap, [sink_topic], 4
    )  # sink topics exist before the sink, as in Connect
    create(
        second,
        redis_sink,
        {
            "connector.class": "RedisSinkConnector",
            "topics": sink_topic,
            "tasks.max": "8",
            "redis.url": redis_url,
            "redis.key.prefix": prefix,
            "value.converter": STRING,
        },
    )
    workers = {second.url.removeprefix("http://"), third.url.removeprefix("http://")}
    spread = wait_for(
        lambda: (
            (s := statuses(third, redis_sink))
            and all(state == "RUNNING" for state, _ in s)
            and {w for _, w in s} == workers
            and s
        ),
        timeout_s=40,
        what="8 tasks running on both workers",
    )
    assert spread and len(spread) == 8
    second.kill()
    survivor = third.url.removeprefix("http://")
    wait_for(
        lambda: (
            all(s == ("RUNNING", survivor) for s in statuses(third, redis_sink))
            and statuses(third, file_source) == [("RUNNING", survivor)]
        ),
        timeout_s=60,
        what="tasks moved to the survivor",
    )
    producer = Producer({"bootstrap.servers": third.bootstrap})
    for i in range(200):
        producer.produce(sink_topic, f"v{i}".encode(), f"k{i}".encode())
    assert producer.flush(30) == 0, "the broker did not take the 200 records"
    client = redis.Redis.from_url(redis_url)
    try:
        wait_for(
            # the sink group re-forms after the kill; on the dev broker that can take a stale-leader
            # timeout (app/broker_profile.py, quirk 4)
            lambda: len(client.keys(prefix + "*")) == 200,
            timeout_s=60,
            what="200 keys in Redis",
        )
        assert client.get(prefix + "k7") == b"v7"
    finally:
        keys = client.keys(prefix + "*")
        if keys:
            client.delete(*keys)
        client.close()
