"""The registry served by real DataNexus workers, driven by confluent-kafka's client and serdes."""

from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from confluent_kafka.schema_registry import Schema, SchemaReference, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer as CAvroDeserializer
from confluent_kafka.schema_registry.avro import AvroSerializer as CAvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.schema_registry.json_schema import JSONDeserializer as CJsonDeserializer
from confluent_kafka.schema_registry.json_schema import JSONSerializer as CJsonSerializer
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer as CProtoDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer as CProtoSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from app.testing import WorkerProcess, unique_topics
from schemas.formats import ProtobufSchema, handler_for
from schemas.serde import (
    AvroDeserializer,
    AvroSerializer,
    ConfluentClientLookup,
    JsonSchemaDeserializer,
    JsonSchemaSerializer,
    ProtobufDeserializer,
    ProtobufSerializer,
)
from schemas.types import SchemaType
from tests.integration.conftest import WorkerFactory

pytestmark = pytest.mark.integration


def avro_record(name: str, *fields: tuple[str, object]) -> str:
    return json.dumps(
        {
            "type": "record",
            "name": name,
            "fields": [
                {"name": n, "type": t, **({"default": None} if isinstance(t, list) else {})}
                for n, t in fields
            ],
        }
    )


PING_PROTO = """syntax = "proto3";
package dn.test;
message Ping {
  string id = 1;
  int64 at = 2;
  repeated string tags = 3;
}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def registry_health_when_ready(worker: WorkerProcess, timeout_s: float = 30.0) -> Any:
    """The registry part of ``/health`` once ready; until then the whole status is degraded."""
    deadline = time.monotonic() + timeout_s
    while True:
        status, health = worker.get("/health")
        assert status == 200
        if health["registry"]["ready"]:
            return health["registry"]
        assert health["status"] == "degraded" and health["registry"]["degraded"] is True
        assert time.monotonic() < deadline, health
        time.sleep(0.1)


def error_code(call: object, *args: object, **kwargs: object) -> int:
    with pytest.raises(SchemaRegistryError) as caught:
        call(*args, **kwargs)  # type: ignore[operator]
    return int(caught.value.error_code)


def test_register_lookup_evolve_and_check_with_confluents_client(
    client: SchemaRegistryClient,
) -> None:
    subject = unique("users-value")
    v1 = Schema(avro_record("User", ("id", "long")), "AVRO")
    v2 = Schema(avro_record("User", ("id", "long"), ("email", ["null", "string"])), "AVRO")
    breaking = Schema(avro_record("User", ("id", "string")), "AVRO")
    first = client.register_schema(subject, v1)
    assert client.register_schema(unique("copy"), v1) == first
    assert client.lookup_schema(subject, v1).version == 1
    assert client.test_compatibility(subject, v2) is True
    assert client.test_compatibility(subject, breaking) is False
    assert client.test_compatibility_all_versions(subject, breaking) is False
    second = client.register_schema(subject, v2)
    assert second != first
    assert error_code(client.register_schema, subject, breaking) == 409
    latest = client.get_latest_version(subject)
    assert (latest.version, latest.schema_id) == (2, second)
    assert client.get_versions(subject) == [1, 2]
    assert json.loads(str(client.get_schema(first).schema_str)) == json.loads(str(v1.schema_str))
    assert subject in client.get_subjects()
    assert error_code(client.get_version, subject, 9) == 40402
    assert error_code(client.get_latest_version, unique("nope")) == 40401
    assert error_code(client.get_schema, 10**8) == 40403
    assert error_code(client.register_schema, subject, Schema('{"type": "nope"}', "AVRO")) == 42201
    assert client.get_compatibility() == "BACKWARD"
    client.set_compatibility(subject, "NONE")
    assert client.get_compatibility(subject) == "NONE"
    assert client.register_schema(subject, breaking) > second
    assert client.delete_version(subject, 3) == 3
    assert error_code(client.delete_subject, subject, permanent=True) == 40405
    assert client.delete_subject(subject) == [1, 2]
    assert client.delete_subject(subject, permanent=True) == [1, 2, 3]
    assert subject not in client.get_subjects()


def test_modes_and_verbose_compatibility_over_http(
    client: SchemaRegistryClient, registry: WorkerProcess
) -> None:
    import urllib.request

    subject = unique("modes")
    client.register_schema(subject, Schema(avro_record("M", ("a", "long")), "AVRO"))
    assert client.update_mode(subject, "READONLY") == "READONLY"
    assert client.get_mode(subject) == "READONLY"
    blocked = Schema(avro_record("M", ("a", "long"), ("b", ["null", "long"])), "AVRO")
    assert error_code(client.register_schema, subject, blocked) == 42205
    assert client.delete_mode(subject) == "READONLY"
    assert error_code(client.update_mode, subject, "SOMETIMES") == 42204
    body = json.dumps({"schema": avro_record("M", ("a", "string"))}).encode()
    request = urllib.request.Request(
        f"{registry.url}/compatibility/subjects/{subject}/versions/latest?verbose=true",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("application/vnd.schemaregistry.v1+json")
        verdict = json.loads(answer.read())
    assert verdict["is_compatible"] is False and verdict["messages"]


def test_protobuf_references_and_referencedby(client: SchemaRegistryClient) -> None:
    common = unique("common")
    common_proto = 'syntax = "proto3";\npackage dn.common;\nmessage Money { int64 cents = 1; }\n'
    common_id = client.register_schema(common, Schema(common_proto, "PROTOBUF"))
    order = Schema(
        'syntax = "proto3";\npackage dn.orders;\nimport "dn/common/money.proto";\n'
        "message Order { string id = 1; dn.common.Money total = 2; }\n",
        "PROTOBUF",
        [SchemaReference("dn/common/money.proto", common, 1)],
    )
    order_subject = unique("orders")
    order_id = client.register_schema(order_subject, order)
    assert client.get_referenced_by(common, 1) == [order_id]
    registered = client.get_schema(order_id)
    assert [r.name for r in registered.references or []] == ["dn/common/money.proto"]
    assert error_code(client.delete_version, common, 1) == 42206
    assert common_id != order_id


def test_confluent_serializers_and_ours_read_each_others_records(
    client: SchemaRegistryClient,
) -> None:
    topic = unique("pings")
    ctx = SerializationContext(topic, MessageField.VALUE)
    ping = handler_for(SchemaType.PROTOBUF).parse(PING_PROTO, [])
    assert isinstance(ping, ProtobufSchema)
    message = ping.message_class([0])(id="p-1", at=17, tags=["a", "b"])
    lookup = ConfluentClientLookup(client)

    theirs = CProtoSerializer(type(message), client, {"use.deprecated.format": False})(message, ctx)
    assert theirs is not None
    ours_read = ProtobufDeserializer(lookup).deserialize_dict(theirs)
    assert ours_read == {"id": "p-1", "at": "17", "tags": ["a", "b"]}

    ours = ProtobufSerializer(lookup).serialize(f"{topic}-value", message)
    read_back = CProtoDeserializer(type(message), {"use.deprecated.format": False})(ours, ctx)
    assert read_back == message

    ctx = SerializationContext(unique("readings"), MessageField.VALUE)
    avro_text = avro_record("Reading", ("sensor", "string"), ("value", "double"))
    avro_bytes = CAvroSerializer(client, avro_text)({"sensor": "t1", "value": 21.5}, ctx)
    assert AvroDeserializer(lookup).deserialize(avro_bytes) == {"sensor": "t1", "value": 21.5}
    assert CAvroDeserializer(client)(avro_bytes, ctx) == {"sensor": "t1", "value": 21.5}
    ours_avro = AvroSerializer(lookup, avro_text).serialize(
        f"{ctx.topic}-value", {"sensor": "t2", "value": 1.0}
    )
    assert CAvroDeserializer(client)(ours_avro, ctx) == {"sensor": "t2", "value": 1.0}

    topic = unique("counts")
    ctx = SerializationContext(topic, MessageField.VALUE)
    json_text = json.dumps({"type": "object", "properties": {"n": {"type": "integer"}}})
    json_bytes = JsonSchemaSerializer(lookup, json_text).serialize(f"{topic}-value", {"n": 3})
    assert CJsonDeserializer(None, schema_registry_client=client)(json_bytes, ctx) == {"n": 3}
    theirs_json = CJsonSerializer(json_text, client)({"n": 4}, ctx)
    assert JsonSchemaDeserializer(lookup).deserialize(theirs_json) == {"n": 4}


def test_instances_agree_on_ids_and_a_restarted_one_serves_everything(
    registry: WorkerProcess, start_worker: WorkerFactory
) -> None:
    other = start_worker(unique_topics("reg"))
    try:
        clients = [SchemaRegistryClient({"url": url}) for url in (registry.url, other.url)]
        tag = uuid.uuid4().hex[:6]
        shared = [avro_record(f"Shared{tag}{i}", ("x", "long")) for i in range(8)]
        own = [avro_record(f"Own{tag}{i}", ("y", "long")) for i in range(16)]
        jobs = []
        for i, text in enumerate(shared):  # same schema via both instances, other/same subject
            jobs += [(0, f"s-{tag}-{i}-a", text), (1, f"s-{tag}-{i}-b", text)]
            jobs += [(0, f"s-{tag}-{i}", text), (1, f"s-{tag}-{i}", text)]
        jobs += [(i % 2, f"own-{tag}-{i}", text) for i, text in enumerate(own)]

        def register(job: tuple[int, str, str]) -> tuple[str, str, int]:
            which, subject, text = job
            return subject, text, clients[which].register_schema(subject, Schema(text, "AVRO"))

        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(register, jobs))
    finally:
        other.stop()
    ids_by_text: dict[str, set[int]] = {}
    for _, text, schema_id in results:
        ids_by_text.setdefault(text, set()).add(schema_id)
    assert all(len(ids) == 1 for ids in ids_by_text.values()), ids_by_text
    distinct = {next(iter(ids)) for ids in ids_by_text.values()}
    assert len(distinct) == len(shared) + len(own)

    same_subject = [r for r in results if r[0].count("-") == 2 and r[0].startswith("s-")]
    assert len(same_subject) == 2 * len(shared)
    _, before = registry.get("/health")
    assert before["registry"]["ready"] is True and before["registry"]["degraded"] is False
    assert before["registry"]["schemas"] >= len(distinct)
    restarted = start_worker(unique_topics("reg"))  # a fresh instance reads `_schemas` anew
    fresh_health = registry_health_when_ready(restarted)
    assert fresh_health["schemas"] >= before["registry"]["schemas"]
    assert fresh_health["last_offset"] > before["registry"]["last_offset"]  # + its start NOOP
    fresh = SchemaRegistryClient({"url": restarted.url})
    for subject in {r[0] for r in same_subject}:
        assert fresh.get_versions(subject) == [1]  # a race in one subject made one version
    for subject, text, schema_id in results:
        assert json.loads(fresh.get_schema(schema_id).schema_str or "") == json.loads(text)
        assert fresh.lookup_schema(subject, Schema(text, "AVRO")).schema_id == schema_id
