"""The connect runtime as every worker runs it: on by default, one connect cluster per app, its
REST API behind the tokens, and a start that retries instead of crashing the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from agents.connect.install import start_with_retries, topic_prefix
from app.main import create_app
from app.openapi import documented_operations
from app.settings import Settings
from app.web.auth import is_protected, required_role
from tables.tokens import Role


def test_on_by_default_and_off_by_env() -> None:
    assert Settings.from_env({}).connect_enabled is True
    assert Settings.from_env({"DATANEXUS_CONNECT_ENABLED": "0"}).connect_enabled is False


def test_each_app_has_its_own_connect_topics() -> None:
    assert topic_prefix(Settings()) == "datanexus.connect"
    assert topic_prefix(Settings(app_id="billing")) == "billing.connect"
    assert topic_prefix(Settings(app_id="x", connect_topic_prefix="shared")) == "shared"


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("GET", "/connect/", Role.VIEWER),
        ("GET", "/connect/connectors", Role.VIEWER),
        ("GET", "/connect/connectors/c/status", Role.VIEWER),
        ("POST", "/connect/connectors", Role.EDITOR),
        ("PUT", "/connect/connectors/c/config", Role.EDITOR),
        ("PUT", "/connect/connectors/c/pause", Role.EDITOR),
        ("POST", "/connect/connectors/c/tasks/0/restart", Role.EDITOR),
        ("PATCH", "/connect/connectors/c/offsets", Role.EDITOR),
        ("DELETE", "/connect/connectors/c", Role.EDITOR),
        ("GET", "/connect/connector-plugins", Role.VIEWER),
        ("PUT", "/connect/connector-plugins/FileStreamSink/config/validate", Role.VIEWER),
        ("POST", "/connect/webhooks/hook", Role.PRODUCER),
    ],
)
def test_connect_routes_are_protected(tmp_path: Path, method: str, path: str, role: Role) -> None:
    create_app(Settings(data_dir=tmp_path))
    assert is_protected(path) and required_role(method, path) is role
    assert not is_protected("/subjects") and not is_protected("/health")


def test_connect_routes_are_documented(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path))
    served = {
        (m.upper(), path)
        for path, view in app.web.views.items()
        if path.startswith("/connect")
        for m in view.get_methods()
        if m.upper() not in {"OPTIONS", "HEAD"}
    }
    assert ("POST", "/connect/connectors") in served
    assert served <= documented_operations()


class _FlakyHerder:
    """Fails its first starts the way a slow broker does (the store's start timing out)."""

    worker_id = "127.0.0.1:6066"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    async def start(self, task_partitions: int) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise TimeoutError("marker not read back")


async def test_a_failed_start_is_retried_not_raised() -> None:
    herder = _FlakyHerder(failures=2)
    await asyncio.wait_for(
        start_with_retries(herder, 8, first_s=0.01, max_s=0.02),  # type: ignore[arg-type]
        timeout=5,
    )
    assert herder.calls == 3
