"""Every served /v1 route is in /openapi.json, and the app builds without any service."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.main import create_app
from app.openapi import build_spec, documented_operations
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_v1_route_is_documented(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    served: set[tuple[str, str]] = set()
    for path, view in app.web.views.items():
        if path.startswith("/v1"):
            served |= {
                (m.upper(), path)
                for m in view.get_methods()
                if m.upper() not in {"OPTIONS", "HEAD"}
            }
    assert served, "no /v1 routes registered"
    missing = served - documented_operations()
    assert not missing, f"routes missing from /openapi.json: {sorted(missing)}"
    spec = build_spec("test")
    assert spec["openapi"].startswith("3.")
    for path in {p for _, p in served}:
        assert path in spec["paths"]


def test_compose_file_wires_kafka_redis_and_worker() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.kafka.yml").read_text())
    services = compose["services"]
    assert {"kafka", "redis", "datanexus"} <= set(services)
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    worker = services["datanexus"]
    env = worker["environment"]
    assert env["DATANEXUS_KAFKA_BOOTSTRAP"] == "kafka:9092"
    assert env["DATANEXUS_REDIS_URL"].startswith("redis://redis:6379")
    assert env.get("DATANEXUS_EMBEDDED_BROKER", "0") in ("0", 0, False)
    assert "6066:6066" in worker["ports"]
    assert worker["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (ROOT / "deploy" / "Dockerfile").is_file()
    assert set(worker["depends_on"]) >= {"kafka", "redis"}
