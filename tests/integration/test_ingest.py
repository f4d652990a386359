"""Both ingest paths against the real broker: HTTP with its 4xx answers, Kafka with the DLQ."""

from __future__ import annotations

import json

import orjson
import pytest
from confluent_kafka import Producer

from agents.group_consumer import next_offsets
from agents.ingest.triage import ERROR_REASON_HEADER, ORIGIN_OFFSET_HEADER
from app.testing import committed_offsets, headers_dict, read_topic
from tests.integration.connect_helpers import wait_for

pytestmark = pytest.mark.integration


def test_http_ingest_accepts_valid_rejects_invalid_and_counts(
    start_worker, topic_env, kafka_bootstrap
):
    worker = start_worker(topic_env)
    records = [
        {"id": "r-1", "source": "web", "payload": {"page": "/"}},
        {"id": "r-2", "source": "ios", "event_time": "2026-12-04T10:00:00Z"},
        {"source": "web", "payload": {"page": "/no-id"}},
    ]
    status, body = worker.post_json("/v1/ingest", records)
    assert status == 202, body
    assert body["accepted"] == 2
    assert body["rejected"] == [
        {"index": 2, "reason": "missing_id", "error": "field 'id' is required"}
    ]

    accepted = read_topic(kafka_bootstrap, topic_env["DATANEXUS_TOPIC_ACCEPTED"], expect=2)
    values = sorted((json.loads(m.value()) for m in accepted), key=lambda v: v["id"])
    assert [v["id"] for v in values] == ["r-1", "r-2"]
    assert [m.key() for m in sorted(accepted, key=lambda m: m.key())] == [b"r-1", b"r-2"]
    assert values[1]["event_time"] == 1_796_378_400_000
    assert values[0]["ingested_at"] >= values[0]["event_time"] - 1000
    assert worker.metric("datanexus_ingest_records_total", path="http", result="accepted") == 2
    assert worker.metric("datanexus_ingest_rejected_total", path="http", reason="missing_id") == 1


def test_http_ingest_ndjson_and_single_record(start_worker, topic_env, kafka_bootstrap):
    worker = start_worker(topic_env)
    ndjson = b'{"id":"n-1"}\n{"id":"n-2","payload":{"a":1}}\n{broken\n'
    status, body = worker.request(
        "POST", "/v1/ingest", ndjson, {"Content-Type": "application/x-ndjson"}
    )
    assert status == 202, body
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [2]
    assert body["rejected"][0]["reason"] == "invalid_json"

    status, body = worker.post_json("/v1/ingest", {"id": "single"})
    assert (status, body["accepted"]) == (202, 1)
    ids = {
        m.key()
        for m in read_topic(kafka_bootstrap, topic_env["DATANEXUS_TOPIC_ACCEPTED"], expect=3)
    }
    assert ids == {b"n-1", b"n-2", b"single"}


def test_http_ingest_errors_are_json(start_worker, topic_env):
    worker = start_worker(
        {**topic_env, "DATANEXUS_INGEST_MAX_BATCH": "5", "DATANEXUS_INGEST_MAX_BODY_BYTES": "2000"}
    )
    status, body = worker.post_json("/v1/ingest", b"{this is not json")
    assert status == 400 and "not valid JSON" in body["error"]

    status, body = worker.post_json("/v1/ingest", b"")
    assert status == 400 and "empty" in body["error"]

    status, body = worker.post_json("/v1/ingest", [{"id": str(i)} for i in range(6)])
    assert status == 413 and "exceeds the limit of 5 records" in body["error"]

    status, body = worker.post_json("/v1/ingest", [{"id": "x" * 500}] * 4)
    assert status == 413 and "bytes" in body["error"]

    status, body = worker.post_json("/v1/ingest", [{"id": 1}, {"payload": []}])
    assert status == 422 and body["accepted"] == 0 and len(body["rejected"]) == 2

    status, body = worker.get("/v1/nope")
    assert status == 404 and body["status"] == 404


def test_kafka_ingest_forwards_valid_and_dead_letters_invalid(
    start_worker, topic_env, kafka_bootstrap
):
    worker = start_worker(topic_env)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    raw = topic_env["DATANEXUS_TOPIC_RAW"]
    good = [(f"k-{i}".encode(), orjson.dumps({"id": f"k-{i}", "source": "app"})) for i in range(50)]
    bad = [
        (b"b-1", b"{not json"),
        (None, orjson.dumps({"payload": {}})),
        (b"b-3", orjson.dumps({"id": "other", "payload": {}})),
        (b"b-4", orjson.dumps({"id": "b-4", "event_time": "soon"})),
    ]
    for key, value in good + bad:
        producer.produce(raw, value, key)
    assert producer.flush(10) == 0

    accepted = read_topic(kafka_bootstrap, topic_env["DATANEXUS_TOPIC_ACCEPTED"], expect=50)
    dead = read_topic(kafka_bootstrap, topic_env["DATANEXUS_TOPIC_DLQ"], expect=4)
    assert sorted(m.key() for m in accepted) == sorted(k for k, _ in good)
    reasons = sorted(headers_dict(m)[ERROR_REASON_HEADER].decode() for m in dead)
    assert reasons == ["id_mismatch", "invalid_event_time", "invalid_json", "missing_id"]
    for message in dead:
        body = json.loads(message.value())
        assert body["reason"] == headers_dict(message)[ERROR_REASON_HEADER].decode()
        assert body["origin"]["topic"] == raw
        assert str(body["origin"]["offset"]) == headers_dict(message)[ORIGIN_OFFSET_HEADER].decode()
        assert body["error"]
    assert any(json.loads(m.value())["value"] == "{not json" for m in dead)
    assert worker.metric("datanexus_ingest_records_total", path="kafka", result="accepted") == 50
    assert worker.metric("datanexus_ingest_rejected_total", path="kafka") == 4

    # every record's offset is acked and committed (EventBatcher's acks reach faust's commits)
    ends = {
        tp.partition: tp.offset
        for tp in next_offsets(read_topic(kafka_bootstrap, raw, expect=len(good) + len(bad)))
    }
    wait_for(
        lambda: committed_offsets(kafka_bootstrap, worker.app_id, raw) == ends,
        30,
        f"the worker's group to commit {ends} on {raw}",
    )


def test_health_and_openapi(start_worker, topic_env):
    worker = start_worker(topic_env)
    status, health = worker.get("/health")
    assert status == 200
    assert health["broker"]["ok"] is True
    assert health["redis"]["mode"] == "local"
    status, spec = worker.get("/openapi.json")
    assert status == 200 and "/v1/ingest" in spec["paths"]


def test_health_reports_shared_redis_and_degraded_when_redis_down(
    start_worker, topic_env, redis_url
):
    from app.dev_broker import free_port

    shared = start_worker({**topic_env, "DATANEXUS_REDIS_URL": redis_url})
    status, health = shared.get("/health")
    assert (status, health["status"], health["redis"]["mode"]) == (200, "ok", "shared")

    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    degraded = start_worker({**topic_env, "DATANEXUS_REDIS_URL": dead_redis})
    status, health = degraded.get("/health")
    assert status == 200 and health["status"] == "degraded"
    assert health["redis"]["ok"] is False
    # ingest keeps working while Redis is down
    status, body = degraded.post_json("/v1/ingest", [{"id": "still-works"}])
    assert (status, body["accepted"]) == (202, 1)
