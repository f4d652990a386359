"""Installs the pipeline tables, the command agent and the runner scheduler on the Faust app.

Storage: three RocksDB-backed Faust tables with changelogs (``pipelines`` heads,
``pipeline-versions``, ``pipeline-status``). Every key of one pipeline lives in the partition the
pipeline id hashes to in the command topic (``PipelineTable.partition_for_key``), and only the
worker that owns that partition (Faust assigns the command topic to the workers) reads or writes
it: the REST views forward a request for a pipeline owned elsewhere to the owner's web URL, and
the owner runs the command in the request's task. A command is synchronous (no await between its
reads and its writes), so it is atomic on the owner's event loop: two concurrent updates are
always serialised on one worker, and a stale ``If-Match`` answers 409. The command agent accepts
the same commands from Kafka (key = pipeline id), e.g. for tooling; it runs the same code.
Listing merges this worker's heads with those of the other owners.

(Faust's ``agent.ask`` was tried first: its per-worker reply topics cost a rebalance at start and
left unacknowledged replies that held up every shutdown for the full stop timeout.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
import weakref
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import faust
from faust.streams import _current_event
from faust.tables.table import Table
from faust.types import TP

from agents.pipelines.commands import WRITES, Op, Reply, execute
from agents.pipelines.runner import PipelineRunner, Target
from agents.pipelines.scheduler import PipelineScheduler, partition_of
from agents.pipelines.stage_host import PipelineStages
from app import broker_profile
from app.services import Services
from app.settings import Settings
from tables.pipelines import Pipeline, PipelineRuntimeStore, PipelineStore
from tables.pipelines.types import iter_keys

log = logging.getLogger(__name__)

RECONCILE_INTERVAL_S = 1.0
ASSIGNMENT_WAIT_S = 30.0


def pipeline_id_of(key: str) -> str:
    """Heads and statuses are keyed by the id, versions by ``<id>/<version>`` (ids have no /)."""
    return key.split("/", 1)[0]


class PipelineTable(Table):  # type: ignore[type-arg]
    """A table whose changelog partition follows the pipeline id, so writes need no event."""

    def partition_for_key(self, key: Any) -> int:
        return partition_of(pipeline_id_of(str(key)), self.partitions or 1)


class _PartitionEvent:
    """Stands in for a Faust event while the owner runs a command outside a stream: Faust's
    RocksDB store files each write under ``current_event().message.partition``."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = SimpleNamespace(topic=topic, partition=partition, tp=TP(topic, partition))


@contextlib.contextmanager
def writing_partition(topic: str, partition: int) -> Iterator[None]:
    event = _PartitionEvent(topic, partition)
    token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


class PipelineService:
    """Where a pipeline's commands run: here when this worker owns its partition, else the
    owner's web URL (the views forward the HTTP request there)."""

    def __init__(self, app: faust.App, commands_topic: str, partitions: int, run: Any) -> None:
        self._app = app
        self._topic = commands_topic
        self._partitions = partitions
        self._run = run
        self.assigned = asyncio.Event()
        """Set after the first rebalance: before it, no worker owns anything yet."""

    def owned_partitions(self) -> set[int]:
        return {
            tp.partition for tp in self._app.assignor.assigned_actives() if tp.topic == self._topic
        }

    async def wait_for_assignment(self) -> None:
        if not self.assigned.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.assigned.wait(), ASSIGNMENT_WAIT_S)

    async def wait_until_settled(self) -> None:
        """Waits out the first assignment and any rebalance in progress, so ownership is known
        (a worker learns of a rebalance only at its next heartbeat: a short window remains)."""
        await self.wait_for_assignment()
        deadline = time.monotonic() + ASSIGNMENT_WAIT_S
        while getattr(self._app, "rebalancing", False) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    def _owners(self) -> dict[int, str]:
        """Partition of the command topic -> web URL of the worker that holds it (active)."""
        try:
            distribution = self._app.router.external_topics_metadata()
        except (AttributeError, KeyError):
            return {}
        owners: dict[int, str] = {}
        for url, topics in distribution.items():
            for partition in topics.get(self._topic, []):
                owners[int(partition)] = str(url).rstrip("/")
        return owners

    def owner_url(self, pipeline_id: str) -> str | None:
        """None when this worker owns the pipeline; raises LookupError when nobody does yet."""
        partition = partition_of(pipeline_id, self._partitions)
        if partition in self.owned_partitions():
            return None
        url = self._owners().get(partition)
        if url is None:
            raise LookupError(f"no worker holds partition {partition} yet (rebalancing)")
        return url

    def peer_urls(self) -> list[str]:
        """The other workers holding partitions of the command topic."""
        own = str(self._app.conf.canonical_url).rstrip("/")
        return sorted({url for url in self._owners().values() if url != own})

    async def run(self, pipeline_id: str, command: dict[str, Any]) -> Reply:
        """Runs a command for a pipeline this worker owns (see ``owner_url``)."""
        partition = partition_of(pipeline_id, self._partitions)
        answer: Reply = await self._run({**command, "id": pipeline_id}, partition)
        return answer

    async def local_heads(self) -> list[dict[str, Any]]:
        command = {
            "op": Op.LIST_LOCAL.value,
            "partitions": sorted(self.owned_partitions()),
            "of": self._partitions,
        }
        answer: Reply = await self._run(command, None)
        heads: list[dict[str, Any]] = answer["body"]
        return heads


def install_pipelines(app: faust.App, settings: Settings, services: Services) -> PipelineService:
    partitions = settings.partitions
    commands_topic = app.topic(
        f"{settings.app_id}.pipeline-commands",
        partitions=partitions,
        key_type=str,
        key_serializer="raw",
        value_serializer="json",
    )

    def table(name: str) -> Any:
        schema: Any = faust.Schema(key_serializer="json", value_serializer="json")
        created = PipelineTable(
            app, name=name, partitions=partitions, schema=schema, beacon=app.tables.beacon
        )
        return app.tables.add(created)

    heads = table("pipelines")
    versions = table("pipeline-versions")
    statuses = table("pipeline-status")
    store = PipelineStore(heads, versions)
    runtime = PipelineRuntimeStore(statuses)

    stage_root = settings.data_dir / settings.app_id / "pipelines"

    def make_runner(pipeline_id: str) -> PipelineRunner:
        # dedupe/window steps: Redis when the worker has one, local RocksDB window state
        stages = PipelineStages(pipeline_id, stage_root / pipeline_id, services.redis)
        return PipelineRunner(
            pipeline_id,
            group_id=f"{settings.app_id}.pipeline.{pipeline_id}",
            bootstrap=settings.kafka_bootstrap,
            producer=services.producer,
            consumer_config=broker_profile.consumer_config(settings),
            batch_size=max(settings.agent_batch_size, 2000),
            stages=stages,
        )

    scheduler = PipelineScheduler(make_runner)

    def target_of(pipeline_id: str) -> Target | None:
        data = heads.get(pipeline_id)
        if data is None:
            return None
        head = Pipeline.from_stored(data)
        if head.deleted:
            return None
        return Target(head.current_version, head.config, runtime.is_paused(pipeline_id))

    async def run_command(command: dict[str, Any], partition: int | None = None) -> Reply:
        """``partition``: run outside a stream, as if an event of that partition was processed."""
        if partition is None:
            answer = execute(command, store, runtime, scheduler.stats)
        else:
            with writing_partition(topic_name, partition):
                answer = execute(command, store, runtime, scheduler.stats)
        pipeline_id = command.get("id") or ""
        if Op(command["op"]) in WRITES and answer["status"] < 300 and pipeline_id:
            target = target_of(pipeline_id)
            if target is None:
                await scheduler.remove(pipeline_id)
                if Op(command["op"]) is Op.DELETE:  # a new pipeline of that id starts empty
                    await asyncio.get_running_loop().run_in_executor(
                        None, shutil.rmtree, stage_root / pipeline_id, True
                    )
            else:
                scheduler.set_target(pipeline_id, target)
        return answer

    async def commands(stream: faust.StreamT[dict[str, Any]]) -> Any:
        async for command in stream:
            yield await run_command(command)

    topic_name = commands_topic.get_topic_name()
    app.agent(commands_topic, name="datanexus.pipelines.commands")(commands)
    service = PipelineService(app, topic_name, partitions, run_command)

    def wanted() -> Iterator[tuple[str, Target]]:
        owned = service.owned_partitions()
        for pipeline_id in iter_keys(heads):
            if partition_of(pipeline_id, partitions) not in owned:
                continue
            target = target_of(pipeline_id)
            if target is not None:
                yield pipeline_id, target

    @app.timer(RECONCILE_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def reconcile_pipelines() -> None:
        await scheduler.reconcile(wanted())

    @app.on_rebalance_complete.connect  # type: ignore[arg-type]
    async def on_assigned(_app: Any, **_kwargs: Any) -> None:
        service.assigned.set()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def stop_pipelines(_app: Any, **_kwargs: Any) -> None:
        await scheduler.stop_all()

    return service
