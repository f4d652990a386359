"""The Kafka Connect REST API on a real worker: CRUD, errors, lifecycle, connectors, DLQ."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psycopg
import pytest
import redis
from confluent_kafka import Producer

from agents.connect import store as connect_store
from agents.connect.store import ConnectStore, ConnectTopics
from app.producer import FastProducer
from app.testing import WorkerProcess, headers_dict, read_topic
from tests.integration.connect_helpers import (
    PG_URL,
    connector_state,
    create,
    pg_drop,
    pg_rows,
    put_json,
    tag,
    task_states,
    wait_for,
)

pytestmark = pytest.mark.integration

STRING = "org.apache.kafka.connect.storage.StringConverter"
JSON = "org.apache.kafka.connect.json.JsonConverter"
PROTOBUF = "io.confluent.connect.protobuf.ProtobufConverter"
T = "org.apache.kafka.connect.transforms."


@pytest.fixture(scope="module")
def worker(
    kafka_bootstrap: str, embedded_broker_in_use: bool, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    process = WorkerProcess(
        bootstrap=kafka_bootstrap,
        data_dir=tmp_path_factory.mktemp("connect-worker"),
        env={"DATANEXUS_CONNECT_ENABLED": "1", "DATANEXUS_CONNECT_TOPIC_PREFIX": tag("cx")},
        embedded=embedded_broker_in_use,
    )
    process.start()
    yield process
    process.stop()


def test_root_plugins_and_validate(worker: WorkerProcess) -> None:
    status, root = worker.get("/connect/")
    assert status == 200 and "version" in root
    _, plugins = worker.get("/connect/connector-plugins")
    classes = {p["class"]: p["type"] for p in plugins}
    assert classes["org.apache.kafka.connect.file.FileStreamSourceConnector"] == "source"
    assert classes["io.confluent.connect.jdbc.JdbcSinkConnector"] == "sink"
    status, body = put_json(
        worker,
        "/connect/connector-plugins/FileStreamSinkConnector/config/validate",
        {
            "connector.class": "FileStreamSinkConnector",
            "name": "v",
            "topics": "a",
            "tasks.max": "-1",
        },
    )
    assert status == 200
    assert body["error_count"] == 2
    bad = {c["value"]["name"] for c in body["configs"] if c["value"]["errors"]}
    assert bad == {"tasks.max", "file"}
    status, body = put_json(worker, "/connect/connector-plugins/Nope/config/validate", {})
    assert status == 404 and body["error_code"] == 404


def test_crud_and_error_bodies(worker: WorkerProcess, tmp_path: Path) -> None:
    name = tag("crud")
    config = {
        "connector.class": "FileStreamSinkConnector",
        "file": str(tmp_path / "o.txt"),
        "topics": tag("t"),
    }
    status, body = worker.post_json(
        "/connect/connectors", {"name": name, "config": {**config, "file": ""}}
    )
    assert status == 400 and body["error_code"] == 400
    assert "file" in body["message"] and "1 error(s)" in body["message"]
    info = create(worker, name, config)
    assert info == {
        "name": name,
        "config": {**config, "name": name},
        "tasks": [{"connector": name, "task": 0}],
        "type": "sink",
    }
    status, body = worker.post_json("/connect/connectors", {"name": name, "config": config})
    assert status == 409 and body == {
        "error_code": 409,
        "message": f"Connector {name} already exists",
    }
    assert name in worker.get("/connect/connectors")[1]
    expanded = worker.get("/connect/connectors?expand=status&expand=info")[1]
    assert expanded[name]["info"]["type"] == "sink"
    assert "connector" in expanded[name]["status"]
    status, body = put_json(
        worker,
        f"/connect/connectors/{name}/config",
        {**config, "tasks.max": "1", "file": str(tmp_path / "p.txt")},
    )
    assert status == 200 and body["config"]["file"].endswith("p.txt")
    assert worker.get(f"/connect/connectors/{name}/config")[1]["file"].endswith("p.txt")
    _, tasks = worker.get(f"/connect/connectors/{name}/tasks")
    assert tasks[0]["id"] == {"connector": name, "task": 0}
    wait_for(lambda: task_states(worker, name) == ["RUNNING"], what="task running")
    status, body = worker.get(f"/connect/connectors/{name}/tasks/0/status")
    assert status == 200 and body["state"] == "RUNNING" and body["id"] == 0
    assert worker.get(f"/connect/connectors/{name}/tasks/7/status")[0] == 404
    assert worker.request("DELETE", f"/connect/connectors/{name}")[0] == 204
    status, body = worker.get(f"/connect/connectors/{name}")
    assert status == 404 and body == {"error_code": 404, "message": f"Connector {name} not found"}
    status, _ = put_json(
        worker,
        "/connect/connectors/created-by-put/config",
        {**config, "file": str(tmp_path / "q.txt")},
    )
    assert status == 201
    worker.request("DELETE", "/connect/connectors/created-by-put")


def test_file_to_topic_to_postgres_with_transforms_and_protobuf(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    topic, table = tag("orders"), tag("orders_pg")
    proto = (
        'syntax = "proto3";\nmessage Order {\n  int32 id = 1;\n  string customer = 2;\n'
        "  string card = 3;\n  string amount = 4;\n  string status = 5;\n}\n"
    )
    status, body = worker.post_json(
        f"/subjects/{topic}-value/versions", {"schemaType": "PROTOBUF", "schema": proto}
    )
    assert status == 200, body
    source = tmp_path / "orders.jsonl"
    rows = [
        {"id": 1, "customer": "ann", "card": "4111", "amount": "10.5", "status": "new"},
        {"id": 2, "customer": "bob", "card": "4222", "amount": "3", "status": "test"},
        {"id": 1, "customer": "ann", "card": "4111", "amount": "12.25", "status": "paid"},
        {"id": 3, "customer": "cy", "card": "4333", "amount": "7", "status": "new"},
    ]
    extra = [  # enough rows for the COPY + upsert path of large batches
        {"id": i, "customer": f"c{i}", "card": "1", "amount": str(i), "status": "new"}
        for i in range(10, 110)
    ]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows + extra))
    registry = {"value.converter": PROTOBUF, "value.converter.schema.registry.url": worker.url}
    create(
        worker,
        tag("src"),
        {
            "connector.class": "FileStreamSource",
            "file": str(source),
            "topic": topic,
            "line.format": "json",
            **registry,
            # key by id: both versions of order 1 land in one partition, in file order
            "transforms": "key,id",
            "transforms.key.type": T + "ValueToKey",
            "transforms.key.fields": "id",
            "transforms.id.type": T + "ExtractField$Key",
            "transforms.id.field": "id",
        },
    )
    pg_drop(table)
    sink = tag("pg")
    create(
        worker,
        sink,
        {
            "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
            "topics": topic,
            "connection.url": PG_URL,
            "table.name.format": table,
            "pk.mode": "record_value",
            "pk.fields": "id",
            **registry,
            "transforms": "dropTest,mask,cast,rename,origin",
            "transforms.dropTest.type": T + "Filter",
            "transforms.dropTest.predicate": "isTest",
            "predicates": "isTest",
            "predicates.isTest.type": T + "predicates.HasHeaderKey",
            "predicates.isTest.name": "never-set",
            "transforms.mask.type": T + "MaskField$Value",
            "transforms.mask.fields": "card",
            "transforms.mask.replacement": "****",
            "transforms.cast.type": T + "Cast$Value",
            "transforms.cast.spec": "amount:float64",
            "transforms.rename.type": T + "ReplaceField$Value",
            "transforms.rename.renames": "customer:customer_name",
            "transforms.rename.exclude": "status",
            "transforms.origin.type": T + "InsertField$Value",
            "transforms.origin.topic.field": "source_topic",
        },
    )
    wait_for(lambda: len(pg_rows(table)) == 103, what="103 rows")
    with psycopg.connect(PG_URL) as conn:
        got = conn.execute(
            f'SELECT id, customer_name, card, amount, source_topic FROM "{table}" ORDER BY id'
        ).fetchall()[:4]
    assert got == [
        (1, "ann", "****", 12.25, topic),
        (2, "bob", "****", 3.0, topic),
        (3, "cy", "****", 7.0, topic),
        (10, "c10", "****", 10.0, topic),
    ]
    raw = read_topic(worker.bootstrap, topic, expect=104, timeout_s=10)
    assert len(raw) == 104 and all((m.value() or b"?")[0] == 0 for m in raw)  # Confluent magic byte
    offsets = worker.get(f"/connect/connectors/{sink}/offsets")[1]["offsets"]
    assert sum(o["offset"]["kafka_offset"] for o in offsets) == 104
    pg_drop(table)


def test_pause_resume_stop_restart(worker: WorkerProcess, tmp_path: Path) -> None:
    name, topic = tag("life"), tag("life")
    source = tmp_path / "in.txt"
    source.write_text("a\nb\n")
    create(
        worker,
        name,
        {
            "connector.class": "FileStreamSource",
            "file": str(source),
            "topic": topic,
            "value.converter": STRING,
        },
    )
    wait_for(lambda: len(read_topic(worker.bootstrap, topic, idle_s=0.3)) == 2, what="2 lines")
    assert put_json(worker, f"/connect/connectors/{name}/pause")[0] == 202
    wait_for(lambda: task_states(worker, name) == ["PAUSED"], what="paused")
    assert connector_state(worker, name) == "PAUSED"
    with source.open("a") as f:
        f.write("c\n")
    assert len(read_topic(worker.bootstrap, topic, idle_s=1.0)) == 2  # paused: nothing new
    assert put_json(worker, f"/connect/connectors/{name}/resume")[0] == 202
    wait_for(lambda: task_states(worker, name) == ["RUNNING"], what="running")
    wait_for(lambda: len(read_topic(worker.bootstrap, topic, idle_s=0.3)) == 3, what="3 lines")
    # stop: no tasks; offsets may be changed only now
    status, body = worker.request("DELETE", f"/connect/connectors/{name}/offsets")
    assert status == 400 and "STOPPED" in body["message"]
    assert put_json(worker, f"/connect/connectors/{name}/stop")[0] == 204
    wait_for(lambda: connector_state(worker, name) == "STOPPED", what="stopped")
    assert task_states(worker, name) == []
    offsets = worker.get(f"/connect/connectors/{name}/offsets")[1]["offsets"]
    assert offsets == [{"partition": {"filename": str(source)}, "offset": {"position": 6}}]
    status, body = worker.request(
        "PATCH",
        f"/connect/connectors/{name}/offsets",
        json.dumps(
            {"offsets": [{"partition": {"filename": str(source)}, "offset": {"position": 4}}]}
        ).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 200 and "altered" in body["message"]
    assert put_json(worker, f"/connect/connectors/{name}/resume")[0] == 202
    # resumed from position 4: "c" is delivered a second time, nothing else
    values = wait_for(
        lambda: (
            (v := [m.value() or b"" for m in read_topic(worker.bootstrap, topic, idle_s=0.3)])
            and len(v) == 4
            and v
        ),
        what="replayed line",
    )
    assert values and sorted(values) == [b"a", b"b", b"c", b"c"]
    status, body = worker.post_json(f"/connect/connectors/{name}/restart?includeTasks=true", b"")
    assert status == 202 and body["tasks"][0]["state"] == "RESTARTING"
    wait_for(lambda: task_states(worker, name) == ["RUNNING"], what="restarted")
    assert worker.post_json(f"/connect/connectors/{name}/tasks/0/restart", b"")[0] == 204
    assert worker.get(f"/connect/connectors/{name}/topics")[1] == {name: {"topics": [topic]}}
    worker.request("DELETE", f"/connect/connectors/{name}")


def _produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value)
    producer.flush(10)


def test_errors_tolerance_all_goes_to_dlq_and_none_fails(
    worker: WorkerProcess, tmp_path: Path
) -> None:
    topic, dlq = tag("in"), tag("dlq")
    _produce(worker.bootstrap, topic, [b'{"n": 1}', b"not json", b'{"n": 2}'])
    out = tmp_path / "out.txt"
    tolerant = tag("tol")
    create(
        worker,
        tolerant,
        {
            "connector.class": "FileStreamSinkConnector",
            "file": str(out),
            "topics": topic,
            "value.converter": JSON,
            "value.converter.schemas.enable": "false",
            "errors.tolerance": "all",
            "errors.deadletterqueue.topic.name": dlq,
        },
    )
    wait_for(lambda: out.exists() and len(out.read_text().splitlines()) == 2, what="2 lines")
    dead = read_topic(worker.bootstrap, dlq, expect=1, timeout_s=15)
    assert [m.value() for m in dead] == [b"not json"]
    headers = headers_dict(dead[0])
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.topic"] == topic.encode()
    assert headers["__connect.errors.connector.name"] == tolerant.encode()
    assert b"Converting byte[]" in headers["__connect.errors.exception.message"]
    assert "__connect.errors.exception.stacktrace" in headers
    assert task_states(worker, tolerant) == ["RUNNING"]
    strict = tag("strict")
    create(
        worker,
        strict,
        {
            "connector.class": "FileStreamSinkConnector",
            "file": str(tmp_path / "s.txt"),
            "topics": topic,
            "value.converter": JSON,
            "value.converter.schemas.enable": "false",
        },
    )
    wait_for(lambda: task_states(worker, strict) == ["FAILED"], what="task failed")
    _, body = worker.get(f"/connect/connectors/{strict}/tasks/0/status")
    assert "Converting byte[] to Kafka Connect data failed" in body["trace"]
    status, body = worker.post_json(
        f"/connect/connectors/{strict}/restart?onlyFailed=true&includeTasks=true", b""
    )
    assert status == 202 and body["tasks"][0]["state"] == "RESTARTING"
    for name in (tolerant, strict):
        worker.request("DELETE", f"/connect/connectors/{name}")


class _Collector(BaseHTTPRequestHandler):
    """Answers 503 to the first ``fail_first`` POSTs, then records the JSON batches."""

    batches: list[list[object]] = []
    fail_first = 2

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if type(self).fail_first > 0:
            type(self).fail_first -= 1
            self.send_response(503)
        else:
            type(self).batches.append(json.loads(body))
            self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_source_to_http_sink_with_retries(worker: WorkerProcess) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        topic, hook, sink = tag("hook"), tag("hook"), tag("http")
        create(
            worker,
            hook,
            {
                "connector.class": "WebhookSourceConnector",
                "topic": topic,
                "key.field": "id",
                "value.converter": JSON,
                "value.converter.schemas.enable": "false",
            },
        )
        status, body = worker.post_json(
            f"/connect/webhooks/{hook}", [{"id": str(i), "n": i} for i in range(25)]
        )
        assert status == 200 and body == {"accepted": 25}
        assert worker.post_json("/connect/webhooks/nope", {"id": "1"})[0] == 404
        create(
            worker,
            sink,
            {
                "connector.class": "HttpSinkConnector",
                "topics": topic,
                "http.url": f"http://127.0.0.1:{server.server_port}/in",
                "batch.max.size": "10",
                "retry.backoff.ms": "50",
                "value.converter": JSON,
                "value.converter.schemas.enable": "false",
            },
        )
        wait_for(lambda: sum(len(b) for b in _Collector.batches) == 25, what="25 posted")
        assert max(len(b) for b in _Collector.batches) <= 10
        assert sorted(r["n"] for b in _Collector.batches for r in b) == list(range(25))  # type: ignore[index]
        assert _Collector.fail_first == 0
        put_json(worker, f"/connect/connectors/{hook}/pause")
        status, body = worker.post_json(f"/connect/webhooks/{hook}", {"id": "x"})
        assert status == 409 and body["error_code"] == 409
        for name in (hook, sink):
            worker.request("DELETE", f"/connect/connectors/{name}")
    finally:
        server.shutdown()


def test_redis_sink_hset_and_tombstones(worker: WorkerProcess, redis_url: str) -> None:
    topic, name, prefix = tag("kv"), tag("redis"), tag("cnh:") + ":"
    producer = Producer({"bootstrap.servers": worker.bootstrap})
    producer.produce(topic, b'{"a": 1, "b": "x"}', b"k1")
    producer.produce(topic, b'{"a": 2}', b"k2")
    producer.flush(10)
    create(
        worker,
        name,
        {
            "connector.class": "RedisSinkConnector",
            "topics": topic,
            "redis.url": redis_url,
            "redis.key.prefix": prefix,
            "redis.command": "HSET",
            "value.converter": JSON,
            "value.converter.schemas.enable": "false",
        },
    )
    client = redis.Redis.from_url(redis_url)
    try:
        wait_for(lambda: client.hgetall(prefix + "k2") == {b"a": b"2"}, what="hash k2")
        assert client.hgetall(prefix + "k1") == {b"a": b"1", b"b": b"x"}
        producer.produce(topic, None, b"k1")  # tombstone deletes the key
        producer.flush(10)
        wait_for(lambda: not client.exists(prefix + "k1"), what="k1 deleted")
    finally:
        client.delete(prefix + "k1", prefix + "k2")
        client.close()
        worker.request("DELETE", f"/connect/connectors/{name}")


def test_tokens_guard_the_connect_api(worker: WorkerProcess, tmp_path: Path) -> None:
    tokens = {}
    for role in ("viewer", "editor", "producer"):
        status, issued = worker.post_json("/v1/tokens", {"name": tag(role), "role": role})
        assert status == 201, issued
        tokens[role] = issued["token"]
    viewer, editor, producer = tokens["viewer"], tokens["editor"], tokens["producer"]
    name, hook = tag("authz"), tag("authz-hook")
    sink = {"connector.class": "FileStreamSinkConnector", "file": str(tmp_path / "a.txt")}
    body = {"name": name, "config": {**sink, "topics": tag("t")}}

    for token in (None, "dn_not-a-token"):
        status, error = worker.get("/connect/connectors", token=token)
        assert status == 401 and error["status"] == 401 and error["error"], error
        assert worker.post_json("/connect/connectors", body, token=token)[0] == 401
    assert worker.get("/connect/connectors", token=viewer) == (
        200,
        worker.get("/connect/connectors")[1],
    )
    assert worker.get("/connect/connector-plugins", token=viewer)[0] == 200
    validate = "/connect/connector-plugins/FileStreamSinkConnector/config/validate"
    raw = json.dumps({**sink, "connector.class": "FileStreamSinkConnector", "topics": "a"})
    headers = {"Content-Type": "application/json"}
    status, checked = worker.request("PUT", validate, raw.encode(), headers, token=viewer)
    assert status == 200 and "error_count" in checked, checked  # validating only reads
    status, error = worker.post_json("/connect/connectors", body, token=viewer)
    assert (status, error["status"], error["required_role"]) == (403, 403, "editor"), error
    assert worker.get(f"/connect/connectors/{name}", token=viewer)[0] == 404  # nothing created
    assert worker.get("/connect/connectors", token=producer)[0] == 403  # producers do not read

    assert worker.post_json("/connect/connectors", body, token=editor)[0] == 201
    assert worker.request("PUT", f"/connect/connectors/{name}/pause", token=viewer)[0] == 403
    assert worker.request("PUT", f"/connect/connectors/{name}/pause", token=editor)[0] == 202
    assert worker.request("DELETE", f"/connect/connectors/{name}", token=viewer)[0] == 403
    assert worker.request("DELETE", f"/connect/connectors/{name}", token=editor)[0] == 204

    webhook = {
        "connector.class": "WebhookSourceConnector",
        "topic": tag("hook"),
        "value.converter": JSON,
        "value.converter.schemas.enable": "false",
    }
    assert (
        worker.post_json("/connect/connectors", {"name": hook, "config": webhook}, token=editor)[0]
        == 201
    )
    path = f"/connect/webhooks/{hook}"
    assert worker.post_json(path, {"id": "1"}, token=None)[0] == 401
    for role in (viewer, editor):  # a webhook feeds data: the ingest role, like /v1/ingest
        status, error = worker.post_json(path, {"id": "1"}, token=role)
        assert (status, error["required_role"]) == (403, "producer"), error
    assert worker.post_json(path, [{"id": "1"}, {"id": "2"}], token=producer) == (
        200,
        {"accepted": 2},
    )
    assert worker.request("DELETE", f"/connect/connectors/{hook}", token=editor)[0] == 204


def test_a_store_start_that_times_out_can_start_again(
    kafka_bootstrap: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker retries a failed connect start (agents/connect/install.py): the failed one must
    leave no reader behind, and the next one must read the state topics from the start."""
    producer = FastProducer(kafka_bootstrap)
    store = ConnectStore(kafka_bootstrap, ConnectTopics(tag("cr")), lambda: producer)

    async def scenario() -> int:
        monkeypatch.setattr(connect_store, "START_TIMEOUT_S", 0.0)  # the marker never arrives
        with pytest.raises(TimeoutError):
            await store.start(2)
        assert store._reader is None and store._consumer is None and not store.ready.is_set()
        monkeypatch.setattr(connect_store, "START_TIMEOUT_S", 30.0)
        partitions = await store.start(2)
        await store.write("configs", [("connector-x", {"properties": {"name": "x"}})])
        await store.close()
        return partitions

    try:
        assert asyncio.run(scenario()) == 2
        assert store.state.configs == {"x": {"name": "x"}}
    finally:
        producer.close()
