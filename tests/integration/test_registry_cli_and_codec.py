"""``datanexus schemas migrate|codegen`` and the Faust codec, against a real DataNexus worker."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer as CProtoDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer as CProtoSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import json_format

from app.dev_broker import die_with_parent
from app.testing import WorkerProcess, read_topic
from schemas.formats import ProtobufSchema, handler_for
from schemas.serde import ConfluentClientLookup, RecordDeserializer
from schemas.types import SchemaType

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "schemas" / "samples"
CLICK_PROTO = (SAMPLES / "clickstream.proto").read_text()
ORDER_JSON = {
    "title": "Order",
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "placed_at": {"type": "string", "format": "date-time"},
        "status": {"type": "string", "enum": ["open", "paid", "shipped"]},
        "lines": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                "required": ["sku"],
            },
        },
        "total": {"type": "number", "minimum": 0},
    },
    "required": ["order_id", "status"],
}


def datanexus(*args: str, timeout_s: float = 120.0) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATANEXUS_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        cwd=ROOT,
    )


def test_migrate_registers_protobuf_for_json_subjects_and_reports(
    client: SchemaRegistryClient, registry: WorkerProcess, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    clicks, orders = f"clicks-{tag}-value", f"orders-{tag}-value"
    click_json = (SAMPLES / "clickstream.schema.json").read_text()
    client.register_schema(clicks, Schema(click_json, "JSON"))
    client.register_schema(orders, Schema(json.dumps(ORDER_JSON), "JSON"))
    report = tmp_path / "report.md"
    args = ["schemas", "migrate", "--url", registry.url, "--target", "{subject}-proto"]
    done = datanexus(*args, "--report", str(report), clicks, orders)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 migrated, 0 failed" in done.stdout
    assert "migrating" in done.stderr  # the progress bar
    text = report.read_text()
    assert f"## {clicks} -> {clicks}-proto (id " in text
    assert "'minimum' is not enforced" in text and "date-time" in text

    registered = client.get_latest_version(f"{orders}-proto")
    assert registered.schema.schema_type == "PROTOBUF"
    order = handler_for(SchemaType.PROTOBUF).parse(registered.schema.schema_str or "", [])
    assert isinstance(order, ProtobufSchema)
    message = json_format.ParseDict(
        {"order_id": "o-1", "status": "STATUS_PAID", "lines": [{"sku": "a", "qty": 2}]},
        order.message_class([0])(),
    )
    assert message.lines[0].qty == 2

    missing = datanexus(*args, "--report", str(tmp_path / "missing.md"), f"nope-{tag}")
    assert missing.returncode == 1 and "1 failed" in missing.stdout


def _tsc() -> str | None:
    local = ROOT / ".node" / "node_modules" / ".bin" / "tsc"
    return str(local) if local.exists() else shutil.which("tsc")


def test_codegen_writes_importable_python_and_typescript(
    client: SchemaRegistryClient, registry: WorkerProcess, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:6]
    clicks, orders = f"gen-clicks-{tag}-value", f"gen-orders-{tag}-value"
    client.register_schema(clicks, Schema(CLICK_PROTO, "PROTOBUF"))
    client.register_schema(orders, Schema(json.dumps(ORDER_JSON), "JSON"))
    out = tmp_path / "generated"
    done = datanexus("schemas", "codegen", "--url", registry.url, "--out", str(out), clicks, orders)
    assert done.returncode == 0, done.stdout + done.stderr
    module_name = f"gen_clicks_{tag}_value_pb2"
    assert (out / "python" / f"{module_name}.pyi").exists()

    sys.path.insert(0, str(out / "python"))
    try:
        generated = importlib.import_module(module_name)
    finally:
        sys.path.remove(str(out / "python"))
    event = generated.ClickEvent(event_id="e-1", action=generated.ClickEvent.CLICK, dwell_ms=9)
    event.device.os = "linux"
    again = generated.ClickEvent.FromString(event.SerializeToString())
    assert (again.event_id, again.action, again.device.os) == ("e-1", 2, "linux")

    ts_dir = out / "typescript"
    ts_files = sorted(str(p) for p in ts_dir.glob("*.ts"))
    assert len(ts_files) == 2
    tsc = _tsc()
    if tsc is None:
        pytest.skip("tsc not installed: run `npm install --prefix .node typescript`")
    usage = ts_dir / "usage.ts"
    usage.write_text(
        f'import type {{ ClickEvent }} from "./gen_clicks_{tag}_value";\n'
        'export const e: ClickEvent = { eventId: "e", action: "CLICK", dwellMs: 4 };\n'
    )
    args = [tsc, "--noEmit", "--strict", "--target", "es2020", "--module", "esnext"]
    checked = subprocess.run(
        [*args, "--moduleResolution", "bundler", *ts_files, str(usage)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_faust_agent_reads_and_writes_registered_types_through_the_codec(
    client: SchemaRegistryClient,
    registry: WorkerProcess,
    kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    tag = uuid.uuid4().hex[:6]
    source, sink = f"codec-clicks-{tag}", f"codec-views-{tag}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    for future in admin.create_topics([NewTopic(t, 1, 1) for t in (source, sink)]).values():
        future.result(15)
    schema = handler_for(SchemaType.PROTOBUF).parse(CLICK_PROTO, [])
    assert isinstance(schema, ProtobufSchema)
    click_class, view_class = schema.message_class([0]), schema.message_class([1])
    source_subject = f"{source}-value"
    client.register_schema(source_subject, Schema(CLICK_PROTO, "PROTOBUF"))
    # the codec names subjects after the message type (RecordNameStrategy) and never registers:
    # an unregistered type would fall back to JSON (tested in unit/test_serde_coexistence.py)
    view_id = client.register_schema(
        "datanexus.clickstream.PageView", Schema(CLICK_PROTO, "PROTOBUF")
    )

    log = (tmp_path / "codec-agent.log").open("wb")
    agent = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.codec_agent_app", "worker", "-l", "info"],
        env={
            **os.environ,
            "CODEC_APP_ID": f"codec-agent-{tag}",
            "CODEC_BOOTSTRAP": kafka_bootstrap,
            "CODEC_REGISTRY_URL": registry.url,
            "CODEC_SOURCE": source,
            "CODEC_SINK": sink,
            "CODEC_SINK_SCHEMA_SUBJECT": source_subject,
        },
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    log.close()
    try:
        ctx = SerializationContext(source, MessageField.VALUE)
        theirs = CProtoSerializer(click_class, client, {"use.deprecated.format": False})
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "batch.num.messages": 1})
        for n in range(5):
            click = click_class(event_id=f"e-{n}", url=f"/p/{n}", dwell_ms=100 + n)
            producer.produce(source, theirs(click, ctx), key=f"e-{n}".encode())
        producer.flush(15)
        out = read_topic(kafka_bootstrap, sink, expect=5, timeout_s=90, idle_s=0.5)
        assert agent.poll() is None, (tmp_path / "codec-agent.log").read_text()[-3000:]
    finally:
        os.killpg(agent.pid, 15)
        agent.wait(30)
    assert len(out) == 5, (tmp_path / "codec-agent.log").read_text()[-3000:]
    sink_ctx = SerializationContext(sink, MessageField.VALUE)
    their_reader = CProtoDeserializer(view_class, {"use.deprecated.format": False})
    views = sorted((m.key(), their_reader(m.value(), sink_ctx)) for m in out)
    assert [(k, v.url, v.count) for k, v in views] == [
        (f"e-{n}".encode(), f"/p/{n}", 100 + n) for n in range(5)
    ]
    assert all(int.from_bytes((m.value() or b"")[1:5], "big") == view_id for m in out)
    ours = RecordDeserializer(ConfluentClientLookup(client), as_dict=True)
    assert ours.deserialize(out[0].value() or b"")["url"].startswith("/p/")
