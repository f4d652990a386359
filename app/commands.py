"""Our own commands on the ``datanexus`` CLI (beside Faust's worker, agents, ...)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request

import click
from faust.cli.faust import cli

from agents.tokens.cli import announce_bootstrap_token, token_group
from agents.tokens.service import new_token_string
from app.dev_broker import EmbeddedBroker, die_with_parent
from app.settings import Settings
from schemas.cli import schemas as schemas_group


@cli.command(help="Run the embedded dev broker (Tansu) in the foreground until Ctrl-C.")
@click.option("--port", type=int, default=None, help="Loopback port (default: a free one).")
def broker(port: int | None) -> None:
    _interrupt_on_sigterm()
    settings = Settings.from_env()
    port = port if port is not None else settings.broker_port
    with EmbeddedBroker(port=port) as running:
        click.echo(f"Kafka-compatible dev broker (memory only) at {running.bootstrap}")
        click.echo(f"  export DATANEXUS_KAFKA_BOOTSTRAP={running.bootstrap}")
        click.echo("  export DATANEXUS_EMBEDDED_BROKER=1")
        click.echo("Ctrl-C stops it.")
        _wait_for_interrupt()


@cli.command(help="Broker (embedded unless DATANEXUS_KAFKA_BOOTSTRAP is set) + topics + worker.")
def up() -> None:
    _interrupt_on_sigterm()
    settings = Settings.from_env()
    env = dict(os.environ)
    embedded: EmbeddedBroker | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        if not settings.kafka_bootstrap:
            log_path = settings.data_dir / "broker.log"
            embedded = EmbeddedBroker(port=settings.broker_port, log_path=log_path).start()
            env["DATANEXUS_KAFKA_BOOTSTRAP"] = embedded.bootstrap
            env["DATANEXUS_EMBEDDED_BROKER"] = "1"
            click.echo(f"embedded dev broker at {embedded.bootstrap} (memory only)")
        env.setdefault("DATANEXUS_BOOTSTRAP_ADMIN_TOKEN", new_token_string())
        worker = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "worker", "-l", settings.log_level],
            env=env,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        url = f"http://{settings.web_host}:{settings.web_port}"
        if _wait_healthy(url, worker):
            bootstrap = env["DATANEXUS_KAFKA_BOOTSTRAP"]
            click.echo(
                "\nDataNexus is up.\n"
                f"  HTTP ingest:  curl -X POST {url}/v1/ingest -H 'Content-Type: application/json' "
                """-d '[{"id":"1","source":"web","payload":{"page":"/"}}]'\n"""
                f"  Kafka ingest: produce JSON records (key = id) to {settings.topic_raw} at "
                f"{bootstrap}\n"
                f"  accepted:     {settings.topic_accepted}   dead letters: {settings.topic_dlq}\n"
                f"  sample data:  DATANEXUS_KAFKA_BOOTSTRAP={bootstrap} datanexus produce "
                "--rate 500 --count 5000\n"
                f"  health:       {url}/health   metrics: {url}/metrics   API: {url}/openapi.json\n"
                "Ctrl-C stops everything."
            )
            announce_bootstrap_token(url, env["DATANEXUS_BOOTSTRAP_ADMIN_TOKEN"])
        _wait_for_interrupt(worker)
    finally:
        if worker is not None:
            _stop_process(worker)
        if embedded is not None:
            embedded.stop()


@cli.command(help="Send a realistic sample clickstream (with duplicates and malformed records).")
@click.option(
    "--rate", type=float, default=1000.0, help="Records per second (0 = as fast as possible)."
)
@click.option("--count", type=int, default=10_000, help="Records to send.")
@click.option("--topic", default=None, help="Target topic (default: the raw ingest topic).")
@click.option("--duplicates", type=float, default=0.05, help="Share of re-sent records.")
@click.option("--malformed", type=float, default=0.01, help="Share of malformed records.")
def produce(
    rate: float, count: int, topic: str | None, duplicates: float, malformed: float
) -> None:
    from confluent_kafka import Producer

    from app.sample_data import clickstream

    settings = Settings.from_env()
    if not settings.kafka_bootstrap:
        raise click.UsageError("set DATANEXUS_KAFKA_BOOTSTRAP (datanexus up prints it)")
    target = topic or settings.topic_raw
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "linger.ms": 5,
            "acks": "all",
            "partitioner": "murmur2_random",
        }
    )
    failures: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            failures.append(str(err))

    started = time.monotonic()
    with click.progressbar(length=count, label=f"producing to {target}") as bar:
        for n, (key, value) in enumerate(clickstream(count, duplicates, malformed), start=1):
            while True:
                try:
                    producer.produce(target, value, key, on_delivery=on_delivery)
                    break
                except BufferError:
                    producer.poll(0.05)
            producer.poll(0)
            if n % 100 == 0 or n == count:
                bar.update(100 if n % 100 == 0 else n % 100)
            if rate > 0:
                ahead = n / rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    producer.flush(30)
    elapsed = time.monotonic() - started
    click.echo(
        f"sent {count} records in {elapsed:.1f}s ({count / elapsed:,.0f}/s), {len(failures)} failed"
    )
    if failures:
        raise SystemExit(1)


def _wait_healthy(url: str, worker: subprocess.Popen[bytes], timeout_s: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and worker.poll() is None:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=2) as answer,
        ):
            if answer.status == 200:
                return True
        time.sleep(0.25)
    return False


def _interrupt_on_sigterm() -> None:
    """SIGTERM (kill, timeout, a supervisor) stops us as cleanly as Ctrl-C does."""

    def _raise(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _raise)


def _wait_for_interrupt(process: subprocess.Popen[bytes] | None = None) -> None:
    try:
        while process is None or process.poll() is None:
            time.sleep(0.2)
    except KeyboardInterrupt:
        click.echo("\nstopping ...")


def _stop_process(process: subprocess.Popen[bytes], timeout_s: float = 30.0) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()


cli.add_command(token_group)
cli.add_command(schemas_group)
