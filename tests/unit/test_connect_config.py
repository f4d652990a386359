"""Connector config validation in Kafka Connect's validate-response shape, and converters."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from agents.connect.connector_config import invalid_config_message, validate_connector_config
from agents.connect.converters import JSON, JsonConverter, StringConverter, make_converter
from agents.connect.plugins import all_plugins
from agents.connect.types import ConnectorError

PG = "io.confluent.connect.jdbc.JdbcSinkConnector"


def errors_by_key(response: dict[str, Any]) -> dict[str, list[str]]:
    return {
        c["value"]["name"]: c["value"]["errors"]
        for c in response["configs"]
        if c["value"]["errors"]
    }


def test_valid_file_source_has_no_errors_and_full_shape() -> None:
    validation, plugin = validate_connector_config(
        {"name": "src", "connector.class": "FileStreamSource", "file": "/tmp/x", "topic": "t"}
    )
    body = validation.response()
    assert plugin is not None and body["name"].endswith("FileStreamSourceConnector")
    assert body["error_count"] == 0
    assert "Common" in body["groups"]
    entry = next(c for c in body["configs"] if c["definition"]["name"] == "tasks.max")
    assert entry["definition"]["type"] == "INT" and entry["definition"]["default_value"] == "1"
    assert entry["value"] == {
        "name": "tasks.max",
        "value": None,
        "recommended_values": [],
        "errors": [],
        "visible": True,
    }


def test_errors_name_each_bad_key() -> None:
    validation, _ = validate_connector_config(
        {
            "name": "sink",
            "connector.class": PG,
            "tasks.max": "zero",
            "topics": "a",
            "topics.regex": "a.*",
            "errors.tolerance": "some",
            "value.converter": "io.confluent.connect.protobuf.ProtobufConverter",
            "pk.mode": "weird",
        }
    )
    bad = errors_by_key(validation.response())
    assert set(bad) == {
        "tasks.max",
        "topics",
        "errors.tolerance",
        "value.converter",
        "connection.url",
        "pk.mode",
    }
    assert "connection.url" in bad["connection.url"][0]
    assert validation.response()["error_count"] == 6
    message = invalid_config_message(validation, "JdbcSinkConnector")
    assert message.startswith("Connector configuration is invalid and contains the following 6")


def test_unknown_class_and_sink_without_topics() -> None:
    validation, plugin = validate_connector_config({"name": "x", "connector.class": "Nope"})
    assert plugin is None
    assert "connector.class" in errors_by_key(validation.response())
    validation, _ = validate_connector_config(
        {"name": "x", "connector.class": "FileStreamSink", "file": "/tmp/o"}
    )
    assert errors_by_key(validation.response()) == {
        "topics": ["Must configure one of topics or topics.regex"]
    }


def test_transform_errors_appear_under_their_keys() -> None:
    validation, _ = validate_connector_config(
        {
            "name": "s",
            "connector.class": "FileStreamSink",
            "file": "/tmp/o",
            "topics": "t",
            "transforms": "c",
            "transforms.c.type": "org.apache.kafka.connect.transforms.Cast$Value",
        }
    )
    assert list(errors_by_key(validation.response())) == ["transforms.c.spec"]


def test_every_builtin_plugin_is_listed() -> None:
    classes = {p.class_name for p in all_plugins()}
    assert {
        "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "org.apache.kafka.connect.file.FileStreamSinkConnector",
        PG,
    } <= classes


def test_json_converter_envelope_round_trip_and_logical_types() -> None:
    conv = JsonConverter(schemas_enable=True)
    schema = {"type": "struct", "fields": [{"field": "at", "type": "int64", "optional": False}]}
    data = conv.from_connect("t", schema, {"at": datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC)})
    assert data is not None
    assert conv.to_connect("t", data) == (schema, {"at": 1000})
    with pytest.raises(ConnectorError, match=r"schemas\.enable=false"):
        conv.to_connect("t", b'{"id": 1}')
    plain = make_converter(
        {"value.converter": JSON, "value.converter.schemas.enable": "false"}, "value.converter"
    )
    assert plain.to_connect("t", b'{"id": 1}') == (None, {"id": 1})
    with pytest.raises(ConnectorError):
        plain.to_connect("t", b"{not json")
    assert StringConverter().to_connect("t", b"line")[1] == "line"


def test_tasks_of_a_connector_take_distinct_slots() -> None:
    from agents.connect.placement import connector_partition, task_partition

    for name in ("a", "orders-sink", "x" * 50):
        slots = [task_partition(name, i, 8) for i in range(8)]
        assert sorted(slots) == list(range(8))
        assert slots[0] == connector_partition(name, 8)


async def test_file_source_reads_complete_lines_and_resumes_at_offsets(tmp_path: Path) -> None:
    from agents.connect.connectors.file import READ_CHUNK, FileStreamSourceTask
    from agents.connect.plugins import TaskContext

    path = tmp_path / "in.txt"
    long_line = "x" * (READ_CHUNK + 10)
    path.write_text(f"a\n{long_line}\npartial")
    task = FileStreamSourceTask({"file": str(path), "topic": "t"}, TaskContext("c", 0))
    await task.start(lambda partition: None)
    records = list(await task.poll())
    records += await task.poll()
    assert [r.value for r in records] == ["a", long_line]
    assert records[-1].source_offset == {"position": len(long_line) + 3}
    assert await task.poll() == []  # "partial" has no newline yet
    with path.open("a") as f:
        f.write("-done\nb\n")
    resumed = FileStreamSourceTask({"file": str(path), "topic": "t"}, TaskContext("c", 0))
    await resumed.start(lambda partition: records[-1].source_offset)
    assert [r.value for r in await resumed.poll()] == ["partial-done", "b"]
    await task.stop()
    await resumed.stop()


@pytest.mark.parametrize(
    ("kind", "schema_type", "schema"),
    [
        (
            "io.confluent.connect.avro.AvroConverter",
            "AVRO",
            '{"type": "record", "name": "R", "fields": [{"name": "id", "type": "int"}, '
            '{"name": "name", "type": "string"}]}',
        ),
        (
            "io.confluent.connect.json.JsonSchemaConverter",
            "JSON",
            '{"type": "object", "properties": {"id": {"type": "integer"}, '
            '"name": {"type": "string"}}, "required": ["id"]}',
        ),
        (
            "io.confluent.connect.protobuf.ProtobufConverter",
            "PROTOBUF",
            'syntax = "proto3";\nmessage R {\n  int32 id = 1;\n  string name = 2;\n}\n',
        ),
    ],
)
def test_registry_converters_round_trip_in_wire_format(
    kind: str, schema_type: str, schema: str
) -> None:
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    from agents.connect.converters import RegistryConverter
    from schemas.serde.lookup import ConfluentClientLookup

    client = SchemaRegistryClient.new_client({"url": f"mock://connect-{schema_type.lower()}"})
    topic = f"conv-{schema_type.lower()}"
    schema_id = client.register_schema(f"{topic}-value", Schema(schema, schema_type))
    converter = RegistryConverter(kind, ConfluentClientLookup(client))
    data = converter.from_connect(topic, None, {"id": 7, "name": "x"})
    assert data is not None and data[0] == 0
    assert int.from_bytes(data[1:5], "big") == schema_id
    assert converter.to_connect(topic, data) == (None, {"id": 7, "name": "x"})
    with pytest.raises(ConnectorError):
        converter.from_connect(topic, None, {"id": "not a number", "name": 1})
    with pytest.raises(ConnectorError):
        converter.from_connect("no-such-topic", None, {"id": 1})


def test_dead_letter_headers_use_kafka_connect_names() -> None:
    from agents.connect.dlq import FailedRecord, Stage, error_headers

    try:
        raise ConnectorError("bad value")
    except ConnectorError as exc:
        failed = FailedRecord("in", 2, 41, b"k", b"v", Stage.VALUE_CONVERTER, exc)
    headers = dict(error_headers("sink-a", 3, failed))
    assert headers["__connect.errors.topic"] == b"in"
    assert headers["__connect.errors.partition"] == b"2"
    assert headers["__connect.errors.offset"] == b"41"
    assert headers["__connect.errors.connector.name"] == b"sink-a"
    assert headers["__connect.errors.task.id"] == b"3"
    assert headers["__connect.errors.stage"] == b"VALUE_CONVERTER"
    assert headers["__connect.errors.exception.class.name"] == b"ConnectorError"
    assert headers["__connect.errors.exception.message"] == b"bad value"
    assert b"raise ConnectorError" in headers["__connect.errors.exception.stacktrace"]
