"""Schema registry throughput from one run with 10 concurrent HTTP clients on loopback.

Starts an embedded broker (or uses ``--bootstrap``) and a DataNexus worker, which serves the
registry at its root paths (``--standalone``: a bare Faust app with the same views), then
measures in turn: ``GET /schemas/ids/{id}`` requests/s
and p99 latency, registrations/s (each client registers ``--registrations`` versions of its own
subject under BACKWARD, each adding a field, so every registration is also compatibility-checked),
and ``POST /compatibility/...`` checks/s (a different 11-field candidate per request against a
10-field latest version). ``--format all`` (the default) runs every phase once per schema format
(AVRO, PROTOBUF, JSON) against the same worker and ends with a per-format table of the figures
and their ratios to Karapace (ratios are taken against the top of Karapace's range). The check
phase also reads the server's CPU time (``check_server_cpu_ms``, and ``checks_per_server_cpu_s``
in the table): on a machine other processes load, wall-clock rates swing with that load, CPU time
per check much less.

Reference (Karapace on this kind of machine): 400-450 lookups/s (p99 ~120 ms), 35
registrations/s, 270-340 checks/s. Targets: 10x on lookups and registrations, 3x on checks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from app.dev_broker import EmbeddedBroker
from app.testing import WorkerProcess, unique_topics
from schemas.registry.standalone import RegistryProcess

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
KARAPACE = {"lookups_per_s": 450.0, "registrations_per_s": 35.0, "checks_per_s": 340.0}
KARAPACE_RANGE = {
    "lookups_per_s": "400-450",
    "registrations_per_s": "35",
    "checks_per_s": "270-340",
}
CHECK_BASE_FIELDS = 10
TARGET_FACTOR = {"lookups_per_s": 10.0, "registrations_per_s": 10.0, "checks_per_s": 3.0}


def avro_evolution(name: str, fields: int, extra: str = "") -> dict[str, Any]:
    """Version ``fields`` of record ``name``: each version adds one optional field."""
    names = [f"f{i}" for i in range(fields)] + ([extra] if extra else [])
    optional = [{"name": n, "type": ["null", "string"], "default": None} for n in names]
    record = {"type": "record", "name": name, "fields": [{"name": "id", "type": "long"}, *optional]}
    return {"schema": json.dumps(record)}


def protobuf_evolution(name: str, fields: int, extra: str = "") -> dict[str, Any]:
    names = [f"f{i}" for i in range(fields)] + ([extra] if extra else [])
    lines = "".join(f"  optional string {n} = {i + 2};\n" for i, n in enumerate(names))
    text = f'syntax = "proto3";\npackage bench;\nmessage {name} {{\n  int64 id = 1;\n{lines}}}\n'
    return {"schema": text, "schemaType": "PROTOBUF"}


def json_evolution(name: str, fields: int, extra: str = "") -> dict[str, Any]:
    """A closed content model: adding an optional property stays backward compatible."""
    names = [f"f{i}" for i in range(fields)] + ([extra] if extra else [])
    properties = {"id": {"type": "integer"}, **{n: {"type": "string"} for n in names}}
    schema = {
        "title": name,
        "type": "object",
        "properties": properties,
        "required": ["id"],
        "additionalProperties": False,
    }
    return {"schema": json.dumps(schema), "schemaType": "JSON"}


FORMATS = {"avro": avro_evolution, "protobuf": protobuf_evolution, "json": json_evolution}


async def run_clients(
    clients: int, work: float | int, request: Callable[[int, int], Awaitable[None]]
) -> tuple[int, float, list[float]]:
    """Run ``clients`` loops of ``request(client, n)``: for ``work`` seconds (float) or
    ``work`` requests per client (int); answer the count, elapsed time and latencies."""
    latencies: list[float] = []
    stop_at = time.perf_counter() + work if isinstance(work, float) else float("inf")
    per_client = work if isinstance(work, int) else 1 << 62

    async def loop(client: int) -> None:
        n = 0
        while time.perf_counter() < stop_at and n < per_client:
            started = time.perf_counter()
            await request(client, n)
            latencies.append(time.perf_counter() - started)
            n += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in range(clients)))
    return len(latencies), time.perf_counter() - started, latencies


async def expect_ok(response: aiohttp.ClientResponse) -> Any:
    body = await response.read()
    if response.status != 200:
        raise RuntimeError(f"{response.status}: {body[:300]!r}")
    return json.loads(body)


def process_cpu(pid: int) -> Callable[[], float]:
    """CPU seconds (user + system) the server process has used so far, from ``/proc``."""
    ticks = os.sysconf("SC_CLK_TCK")

    def read() -> float:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    return read


async def bench(
    url: str,
    clients: int,
    duration_s: float,
    schemas: int,
    registrations: int,
    fmt: str = "avro",
    server_cpu: Callable[[], float] | None = None,
) -> dict[str, float]:
    evolution = FORMATS[fmt]
    headers = {"Content-Type": CONTENT_TYPE}
    tag = f"{random.getrandbits(32):08x}"
    connector = aiohttp.TCPConnector(limit=clients * 2)
    async with aiohttp.ClientSession(url, connector=connector, headers=headers) as http:
        ids: list[int] = []
        for i in range(schemas):
            body = evolution(f"Seed{tag}{i}", i % 5)
            async with http.post(f"/subjects/seed-{tag}-{i}/versions", json=body) as answer:
                ids.append((await expect_ok(answer))["id"])

        async def lookup(client: int, n: int) -> None:
            async with http.get(f"/schemas/ids/{random.choice(ids)}") as answer:
                await expect_ok(answer)

        count, elapsed, latencies = await run_clients(clients, duration_s, lookup)
        results = {
            "lookups_per_s": count / elapsed,
            "lookup_p50_ms": statistics.median(latencies) * 1000,
            "lookup_p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000,
        }

        async def register(client: int, n: int) -> None:
            body = evolution(f"Evolving{tag}c{client}", n)
            async with http.post(f"/subjects/evolve-{tag}-{client}/versions", json=body) as answer:
                await expect_ok(answer)

        count, elapsed, latencies = await run_clients(clients, registrations, register)
        results["registrations_per_s"] = count / elapsed
        results["registration_p99_ms"] = statistics.quantiles(latencies, n=100)[98] * 1000

        base = CHECK_BASE_FIELDS
        for client in range(clients):
            body = evolution(f"Checked{tag}c{client}", base)
            async with http.post(f"/subjects/check-{tag}-{client}/versions", json=body) as answer:
                await expect_ok(answer)

        async def check(client: int, n: int) -> None:
            # a different candidate each time (one more field, named by n): nothing to memoise
            body = evolution(f"Checked{tag}c{client}", base, extra=f"x{n}")
            path = f"/compatibility/subjects/check-{tag}-{client}/versions/latest"
            async with http.post(path, json=body) as answer:
                verdict = await expect_ok(answer)
                if not verdict["is_compatible"]:
                    raise RuntimeError(f"expected a compatible evolution: {verdict}")

        cpu_before = server_cpu() if server_cpu else 0.0
        count, elapsed, latencies = await run_clients(clients, duration_s, check)
        results["checks_per_s"] = count / elapsed
        results["check_p99_ms"] = statistics.quantiles(latencies, n=100)[98] * 1000
        if server_cpu is not None:
            # wall-clock rates follow the load other processes put on the machine; the server's
            # CPU time per check does much less so (one core's worth: 1000 / this = checks/s)
            results["check_server_cpu_ms"] = (server_cpu() - cpu_before) / count * 1000
    return results


def report(results: dict[str, float]) -> None:
    print(f"{'metric':<24}{'value':>12}{'vs Karapace':>14}{'target':>10}")
    for name, value in results.items():
        if name in KARAPACE:
            ratio = value / KARAPACE[name]
            target = f"{TARGET_FACTOR[name]:.0f}x"
            print(f"{name:<24}{value:>12.1f}{ratio:>13.1f}x{target:>10}")
        else:
            print(f"{name:<24}{value:>12.1f}")
    print(json.dumps({k: round(v, 2) for k, v in results.items()}))


def summary(by_format: dict[str, dict[str, float]]) -> None:
    """One line per format and metric: the figure, Karapace's range, the ratio and the verdict."""
    print("\nper format (ratio against the top of Karapace's range):")
    header = f"{'format':<10}{'metric':<22}{'value':>10}{'Karapace':>10}{'ratio':>8}{'target':>8}"
    print(header + "  verdict")
    for fmt, results in by_format.items():
        if "check_server_cpu_ms" in results:
            per_core = 1000 / results["check_server_cpu_ms"]
            ratio = per_core / KARAPACE["checks_per_s"]
            print(
                f"{fmt:<10}{'checks_per_server_cpu_s':<22}{per_core:>10.1f}{'270-340':>10}"
                f"{ratio:>7.1f}x{TARGET_FACTOR['checks_per_s']:>7.0f}x  (one free core)"
            )
        for name in KARAPACE:
            ratio = results[name] / KARAPACE[name]
            target = TARGET_FACTOR[name]
            verdict = "ok" if ratio >= target else "BELOW TARGET"
            print(
                f"{fmt:<10}{name:<22}{results[name]:>10.1f}{KARAPACE_RANGE[name]:>10}"
                f"{ratio:>7.1f}x{target:>7.0f}x  {verdict}"
            )
    print(json.dumps({f: {k: round(v, 2) for k, v in r.items()} for f, r in by_format.items()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", help="use this broker instead of an embedded one")
    parser.add_argument("--url", help="benchmark a running registry instead of starting one")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--format", choices=[*sorted(FORMATS), "all"], default="all")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase")
    parser.add_argument("--schemas", type=int, default=50, help="schemas to look up")
    parser.add_argument(
        "--registrations", type=int, default=60, help="versions each client registers"
    )
    parser.add_argument(
        "--standalone", action="store_true", help="a bare registry app instead of a worker"
    )
    args = parser.parse_args()

    def run(url: str, pid: int | None = None) -> None:
        formats = list(FORMATS) if args.format == "all" else [args.format]
        by_format: dict[str, dict[str, float]] = {}
        for fmt in formats:
            work = (args.clients, args.duration, args.schemas, args.registrations, fmt)
            print(f"\nformat={fmt} clients={args.clients} url={url}")
            server_cpu = process_cpu(pid) if pid is not None else None
            by_format[fmt] = asyncio.run(bench(url, *work, server_cpu=server_cpu))
            report(by_format[fmt])
        summary(by_format)

    if args.url:
        run(args.url)
        return
    broker = None if args.bootstrap else EmbeddedBroker().start()
    bootstrap = args.bootstrap or (broker.bootstrap if broker else "")
    try:
        if args.standalone:
            with RegistryProcess(bootstrap, embedded_broker=broker is not None) as registry:
                run(registry.url, registry.process.pid if registry.process else None)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-registry-") as data_dir:
                worker = WorkerProcess(
                    bootstrap, Path(data_dir), unique_topics("bench"), embedded=broker is not None
                )
                worker.start()
                try:
                    run(worker.url, worker.process.pid if worker.process else None)
                finally:
                    worker.stop()
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
