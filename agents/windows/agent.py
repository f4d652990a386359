"""Window pipelines as Faust agents: source -> (repartition by group key) -> windows -> outputs.

The repartition stage keeps no state and runs on a plain consumer group (``<app_id>.windows.
<name>.repartition``, agents/group_consumer.py); the window stage is a Faust agent, for its table.

Output contract (``datanexus.windows.<name>``; copy in /work/notes/window-output-format.md).
One record per emitted window result (an ``on_update`` change or a closed window):

* key (UTF-8): ``<name>/<group_key>``, e.g. ``clicks/["web"]``; ``group_key`` is the canonical
  JSON list of the group-by values (``[]`` without group_by);
* header ``datanexus-final``: ``1`` or ``0``;
* value (JSON)::

    {"name": str,                 # window spec name = metric name
     "key": [any, ...],           # group-by values in group_by order (WindowResult.key)
     "group_key": str,            # canonical JSON of "key"
     "group": {path: value},      # group_by field path -> value
     "start": int, "end": int,    # window bounds, epoch ms, end exclusive
                                  #   (count windows: earliest / latest event time)
     "aggregates": {"<field>.<agg>": value},   # flat: "amount.sum", "*.count", "amount.mean"
     "fields": {"<field>": {"<agg>": value}},  # nested (WindowResult.to_dict()["aggregates"])
     "final": bool,               # true once closed (also on late re-emissions of a closed window)
     "revision": int,             # per (name, group_key, start): keep the highest
     "kind": str}                 # tumbling | sliding | session | count | global

  A spec asking for ``<field>.mean`` also gets ``<field>.sum`` and ``<field>.count`` (added when
  not requested) so means over several windows can be rebuilt as sum(sum) / sum(count);
  ``<field>.count`` counts the window's events (the values averaged when the field is numeric in
  every event). ``*.count`` is the window's event count.

Late side output ``datanexus.windows.<name>.late`` (late policy ``side_output``): same key,
header ``datanexus-late-reason`` (``window_closed``), value ``{"name", "key", "timestamp",
"value", "reason", "watermark"}`` (``LateRecord.to_dict()``; ``value`` is the record's field view,
for envelopes the payload fields with the envelope fields over them).

Delivery: results are produced (and acknowledged) before the batch's state is committed, and the
batch's input is acked after that, so a crash re-emits results (same revision: consumers upsert)
and never loses them; replays are not counted twice (manager offset guard, journaled state,
:mod:`agents.windows.guard` for repartitioned copies).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust
from confluent_kafka import Message

from agents.batching import EventBatcher
from agents.dedupe.changelog import ChangelogProducer
from agents.group_consumer import GroupConsumerLoop
from agents.windows.changelog_writer import TableChangelogWriter
from agents.windows.config import WindowPipeline, pipelines_from_settings
from agents.windows.guard import ReplayGuard
from agents.windows.journal_store import JournaledStore
from agents.windows.metrics import (
    WINDOW_LATE,
    WINDOW_RECORDS,
    WINDOW_RESULTS,
    WINDOW_SKIPPED,
    WINDOW_WATERMARK,
)
from agents.windows.records import (
    SourceDecoder,
    decode_repartitioned,
    late_record,
    repartition_record,
    result_record,
)
from agents.windows.runtime import WindowRuntime
from agents.windows.views import install_window_views
from app import broker_profile
from app.producer import FastProducer, OutRecord
from app.services import Services
from app.settings import Settings
from app.topics import ensure_topics
from tables.windows.manager import WindowStateManager
from tables.windows.results import BatchResult
from tables.windows.types import Event

log = logging.getLogger(__name__)

MAX_SEND_DELAY_S = 5.0
REPARTITION_BATCH = 5000


def install_windows(app: faust.App, settings: Settings, services: Services) -> list[WindowRuntime]:
    """Agents for every pipeline in ``settings.windows`` and ``GET /v1/windows``."""
    runtimes = [
        _install_pipeline(app, settings, services, pipeline)
        for pipeline in pipelines_from_settings(settings)
    ]
    install_window_views(app, runtimes, settings.partitions)
    return runtimes


async def _send_until_acked(
    producer: FastProducer, batches: list[tuple[str, list[OutRecord]]]
) -> None:
    """Results must reach the broker before the state commits: retry, never give up."""
    delay = 0.1
    while True:
        try:
            await producer.send_many(batches)
            return
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("sending window results failed; retrying in %.1fs", delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_SEND_DELAY_S)


async def _ensure_output_topics(settings: Settings, pipeline: WindowPipeline) -> None:
    topics = [pipeline.output_topic, pipeline.late_topic]
    if pipeline.repartition:
        topics.append(pipeline.repartition_topic)
    await asyncio.get_running_loop().run_in_executor(
        None,
        lambda: ensure_topics(
            settings.kafka_bootstrap, topics, settings.partitions, settings.replication_factor
        ),
    )


def _install_pipeline(
    app: faust.App, settings: Settings, services: Services, pipeline: WindowPipeline
) -> WindowRuntime:
    name = pipeline.name
    table = app.Table(
        f"windows-{name}",
        partitions=settings.partitions,
        key_type=str,
        value_type=bytes,
    )
    store = JournaledStore(table, name)
    manager = WindowStateManager(pipeline.spec, store)
    runtime = WindowRuntime(pipeline, manager, store)
    batch_size, within = settings.windows_batch_size, settings.windows_batch_within_s
    decoder = SourceDecoder(pipeline)
    if pipeline.repartition:
        window_input = app.topic(
            pipeline.repartition_topic,
            key_serializer="raw",
            value_serializer="raw",
            partitions=settings.partitions,
            internal=True,
        )
        _install_repartition_stage(app, settings, services, pipeline, decoder)
    else:
        window_input = app.topic(pipeline.topic, key_serializer="raw", value_serializer="raw")

    async def windows(stream: faust.StreamT[bytes]) -> None:
        await _ensure_output_topics(settings, pipeline)
        producer = services.producer
        writer = TableChangelogWriter(table, ChangelogProducer.for_settings(settings))

        async def handle(events: Sequence[Any]) -> None:
            by_partition: dict[int, list[Any]] = {}
            for event in events:
                by_partition.setdefault(event.message.partition, []).append(event)
            last_event = {p: evs[-1] for p, evs in by_partition.items()}

            def set_partition(partition: int) -> None:
                # Faust table reads go to the current event's partition's RocksDB
                stream._set_current_event(last_event[partition])  # type: ignore[attr-defined]

            for partition in by_partition:  # finish a batch a crash cut short (journal)
                set_partition(partition)
                if fix := store.recovery_plan(partition):
                    await writer.write([(partition, fix)])
            try:
                results = {
                    p: _process_partition(runtime, decoder, p, evs, set_partition)
                    for p, evs in by_partition.items()
                }
            except Exception:
                store.discard()
                raise
            group_by, kind = pipeline.spec.group_by, pipeline.spec.kind.value
            outputs = [
                result_record(r, group_by, kind)
                for res in results.values()
                for r in (*res.updated, *res.closed)
            ]
            late = [late_record(r) for res in results.values() for r in res.late]
            await _send_until_acked(
                producer, [(pipeline.output_topic, outputs), (pipeline.late_topic, late)]
            )
            try:
                await writer.write(store.take_plans(list(by_partition)))
            except Exception:
                store.discard()  # the batch is retried from the state the table holds
                raise
            _count(name, list(results.values()), len(events))
            for partition, res in results.items():
                runtime.watermarks[partition] = res.watermark
                WINDOW_WATERMARK.labels(name, str(partition)).set(res.watermark)

        await EventBatcher(stream, handle, batch_size, within, max_in_flight=1).run()

    app.agent(window_input, name=f"datanexus.windows.{name}")(windows)
    return runtime


def _process_partition(
    runtime: WindowRuntime,
    decoder: SourceDecoder,
    partition: int,
    events: list[Any],
    set_partition: Any,
) -> BatchResult:
    pipeline, store = runtime.pipeline, runtime.store
    set_partition(partition)
    store.use(partition)
    batch: list[Event] = []
    undecodable = duplicates = 0
    if pipeline.repartition:
        guard = ReplayGuard(store, pipeline.name, partition)
        for event in events:
            message = event.message
            copy = decode_repartitioned(message.value)
            record = None if copy is None else decoder.from_decoded(copy.record, copy.timestamp)
            if copy is None or record is None:
                undecodable += 1
            elif not guard.admit(message.offset, copy.source_partition, copy.source_offset):
                duplicates += 1
            else:
                batch.append(Event(copy.timestamp, record.fields, message.offset))
    else:
        guard = None
        batch, undecodable = decoder.events([event.message for event in events])
    result = runtime.manager.process_batch(partition, batch)
    if guard is not None:
        guard.save()
    if undecodable:
        WINDOW_SKIPPED.labels(pipeline.name, "undecodable").inc(undecodable)
    if duplicates:
        WINDOW_SKIPPED.labels(pipeline.name, "duplicate").inc(duplicates)
    return result


def _count(name: str, results: list[BatchResult], records: int) -> None:
    WINDOW_RECORDS.labels(name, "window").inc(records)
    updated = sum(len(r.updated) for r in results)
    closed = sum(len(r.closed) for r in results)
    late = sum(len(r.late) for r in results)
    dropped = sum(r.dropped for r in results)
    late_updates = sum(r.late_updates for r in results)
    replayed = sum(r.replayed for r in results)
    for metric, label, value in (
        (WINDOW_RESULTS, "updated", updated),
        (WINDOW_RESULTS, "closed", closed),
        (WINDOW_LATE, "side_output", late),
        (WINDOW_LATE, "dropped", dropped),
        (WINDOW_LATE, "updated", late_updates),
        (WINDOW_SKIPPED, "replayed", replayed),
    ):
        if value:
            metric.labels(name, label).inc(value)


def _install_repartition_stage(
    app: faust.App,
    settings: Settings,
    services: Services,
    pipeline: WindowPipeline,
    decoder: SourceDecoder,
) -> None:
    """Source -> ``datanexus.windows.<name>.by-key``, keyed by group key, on a plain consumer
    group (agents/group_consumer.py): the stage keeps no state, so Faust's per-message path
    would only cost (WR/F 0.46-0.52 when it ran as a Faust agent). One batch at a time: a
    retried batch must not land behind a later one (guard order)."""
    name, target = pipeline.name, pipeline.repartition_topic

    def prepare(messages: list[Message]) -> tuple[list[OutRecord], int]:
        out: list[OutRecord] = []
        for message in messages:
            raw = message.value()
            record = decoder.decode(raw, max(message.timestamp()[1], 0))
            if record is not None and raw is not None:
                out.append(
                    repartition_record(
                        raw,
                        record.timestamp,
                        record.group_key,
                        message.partition() or 0,
                        message.offset() or 0,
                    )
                )
        return out, len(messages)

    async def handle(batch: tuple[list[OutRecord], int]) -> None:
        out, count = batch
        await services.producer.send_batch(target, out)
        WINDOW_RECORDS.labels(name, "repartition").inc(count)
        if count > len(out):
            WINDOW_SKIPPED.labels(name, "undecodable").inc(count - len(out))

    stage = GroupConsumerLoop(
        f"repartition-{name}",
        [pipeline.topic],
        bootstrap=settings.kafka_bootstrap,
        group_id=f"{settings.app_id}.windows.{name}.repartition",
        consumer_config=broker_profile.consumer_config(settings),
        prepare=prepare,
        handle=handle,
        batch_size=REPARTITION_BATCH,
        poll_timeout_s=settings.windows_batch_within_s,
    )

    async def repartition() -> None:
        await _ensure_output_topics(settings, pipeline)
        await stage.run()

    app.task(repartition)
