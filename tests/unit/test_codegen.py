"""Codegen: protoc Python output imports and round-trips; TypeScript passes ``tsc``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from schemas.codegen import generate_python, module_name, to_typescript, write_codegen
from schemas.formats import ProtobufSchema, handler_for
from schemas.types import ParsedSchema, ResolvedReference, SchemaType

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "schemas" / "samples"
STORE = (
    'syntax = "proto3";\npackage shop;\nimport "common.proto";\n'
    "message Store { datanexus.common.GeoPoint location = 1; repeated string tags = 2; }\n"
)


def _proto(text: str, refs: list[ResolvedReference] | None = None) -> ProtobufSchema:
    schema = handler_for(SchemaType.PROTOBUF).parse(text, refs or [])
    assert isinstance(schema, ProtobufSchema)
    return schema


def _schemas() -> dict[str, ParsedSchema]:
    common = ResolvedReference("common.proto", (SAMPLES / "common.proto").read_text())
    return {
        "clicks-value": _proto((SAMPLES / "clickstream.proto").read_text()),
        "stores-value": _proto(STORE, [common]),
        "clicks-json-value": handler_for(SchemaType.JSON).parse(
            (SAMPLES / "clickstream.schema.json").read_text(), []
        ),
        "clicks-avro-value": handler_for(SchemaType.AVRO).parse(
            (SAMPLES / "clickstream.avsc").read_text(), []
        ),
    }


def test_generated_python_imports_and_round_trips(tmp_path: Path) -> None:
    schemas = {k: v for k, v in _schemas().items() if isinstance(v, ProtobufSchema)}
    written = generate_python(schemas, tmp_path)
    names = {p.name for p in written}
    assert {
        "clicks_value_pb2.py",
        "clicks_value_pb2.pyi",
        "common_pb2.py",
        "stores_value_pb2.py",
    } <= names
    script = textwrap.dedent(
        """
        import clicks_value_pb2 as c, stores_value_pb2 as s
        e = c.ClickEvent(event_id="e1", attributes={"k": "v"}, action=c.ClickEvent.CLICK)
        e.occurred_at.seconds = 5
        back = c.ClickEvent.FromString(e.SerializeToString())
        assert back == e and back.attributes["k"] == "v" and back.occurred_at.seconds == 5
        st = s.Store(tags=["a"]); st.location.lat = 1.5
        assert s.Store.FromString(st.SerializeToString()).location.lat == 1.5
        print("ok")
        """
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    stub = (tmp_path / "clicks_value_pb2.pyi").read_text()
    assert "class ClickEvent(_message.Message)" in stub


def test_protobuf_typescript_follows_the_json_mapping() -> None:
    ts = to_typescript("clicks", _schemas()["clicks-value"])
    assert "export interface ClickEvent {" in ts
    assert "occurredAt?: string;" in ts  # Timestamp is an RFC 3339 string in JSON
    assert "attributes?: { [key: string]: string };" in ts
    assert "experiments?: Array<string>;" in ts
    assert 'export type ClickEvent_Action = "ACTION_UNSPECIFIED" | "VIEW"' in ts
    assert "interface ClickEvent_Device" in ts and "TagsEntry" not in ts


def _tsc() -> str | None:
    local = ROOT / ".node" / "node_modules" / ".bin" / "tsc"
    return str(local) if local.exists() else shutil.which("tsc")


USAGE = """
import type { ClickEvent } from "./clicks_value";
import type { Store } from "./stores_value";
import type { GeoPoint } from "./stores_value";
import type { ClicksJsonValue } from "./clicks_json_value";
import type { ClicksAvroValue } from "./clicks_avro_value";
export const e: ClickEvent = { eventId: "e", action: "CLICK", dwellMs: 4, attributes: { a: "b" } };
export const s: Store = { location: { lat: 1, lon: 2 } as GeoPoint, tags: ["x"] };
export const j: ClicksJsonValue = {
  event_id: "e", user_id: "u", occurred_at: "t", action: "click", url: "/", referrer: null,
};
export const a: ClicksAvroValue = {
  event_id: "e", user_id: "u", occurred_at: 1, action: "VIEW", url: "/", referrer: null, value: 1,
};
"""


@pytest.mark.skipif(
    _tsc() is None,
    reason="tsc not installed: run `npm install --prefix /work/main/.node typescript`",
)
def test_generated_typescript_passes_tsc(tmp_path: Path) -> None:
    tsc = _tsc()
    assert tsc is not None
    write_codegen(_schemas(), tmp_path)
    ts_dir = tmp_path / "typescript"
    # GeoPoint comes from an imported file and is emitted into the importing module
    (ts_dir / "usage.ts").write_text(USAGE)
    args = [tsc, "--noEmit", "--strict", "--target", "es2020", "--module", "esnext"]
    args += ["--moduleResolution", "bundler"]
    files = sorted(str(p) for p in ts_dir.glob("*.ts"))
    ok = subprocess.run([*args, *files], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (ts_dir / "usage.ts").write_text(USAGE.replace('action: "CLICK"', 'action: "JUMP"'))
    bad = subprocess.run([*args, *files], capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "JUMP" in bad.stdout


def test_module_names_are_identifiers() -> None:
    assert module_name("orders.v1-value") == "orders_v1_value"
    assert module_name("9lives") == "s_9lives"
