"""Run the registry alone in a Faust worker: ``python -m schemas.registry.standalone``.

The product serves the registry from the DataNexus app (``install_registry_views``); this entry
point serves the same views from a bare Faust app, for benchmarks and for tests that need
several registry instances on one broker.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from typing import Any

import faust
import mode.loop

from schemas.registry import create_registry_service
from schemas.registry.web import install_registry_views


def create_standalone_app(bootstrap: str, port: int, *, embedded_broker: bool) -> faust.App:
    # The app only hosts the web server: a short session timeout makes its (unused) consumer
    # group join quick on any broker; one-record batches only for the embedded broker.
    quirks: dict[str, Any] = {"broker_session_timeout": 6.0, "broker_heartbeat_interval": 1.0}
    if embedded_broker:
        quirks["producer_max_batch_size"] = 1
    app = faust.App(
        f"schema-registry-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="schema-registry-"),
        web_enabled=True,
        web_host="127.0.0.1",
        web_bind="127.0.0.1",
        web_port=port,
        autodiscover=False,
        **quirks,
    )
    install_registry_views(app, create_registry_service(bootstrap, embedded_broker=embedded_broker))
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--apache-kafka", action="store_true", help="no embedded-broker quirks")
    args = parser.parse_args()
    mode.loop.use("uvloop")  # as ``datanexus worker`` does
    app = create_standalone_app(args.bootstrap, args.port, embedded_broker=not args.apache_kafka)
    worker = faust.Worker(app, loglevel=logging.WARNING)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()


class RegistryProcess:
    """A standalone registry in a subprocess (benchmarks and multi-instance tests)."""

    def __init__(self, bootstrap: str, *, embedded_broker: bool = True, log_path: str = "") -> None:
        from app.dev_broker import free_port

        self.bootstrap = bootstrap
        self.embedded_broker = embedded_broker
        self.port = free_port()
        self.log_path = log_path or os.path.join(tempfile.mkdtemp(prefix="schema-registry-"), "log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0) -> RegistryProcess:
        from app.dev_broker import die_with_parent

        command = [sys.executable, "-m", "schemas.registry.standalone"]
        command += ["--bootstrap", self.bootstrap, "--port", str(self.port)]
        if not self.embedded_broker:
            command.append("--apache-kafka")
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"registry exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(self.url + "/subjects", timeout=2) as answer:
                    if answer.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"registry not ready in {timeout_s}s; see {self.log_path}")

    def stop(self, timeout_s: float = 20.0) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def __enter__(self) -> RegistryProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
