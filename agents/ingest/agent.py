"""The Kafka-native ingest agent: ``datanexus.ingest.raw`` -> accepted / dlq, in batches.

Per-event work is kept to the minimum Faust itself needs: events are collected by
:class:`EventBatcher`, triaged in one pure pass, and the whole batch is sent through the fast
producer with one await. Events are acknowledged (and so committed) only after the broker has
acknowledged every output record; a failed send is retried, never abandoned.

With de-duplication (``dedupe``), each partition's accepted records go through the stream stage
(see agents/dedupe/stream.py). Batches are then handled one at a time under the stage's lock
(retries included), so the state of a partition is decided and forwarded in offset order.

Keyless records: the raw topic is keyed by record id so that one worker owns each id. A valid
record without a key sits in a partition its id does not choose, so it is not de-duplicated here:
it is re-produced to the raw topic keyed by its id (murmur2, the Java client's partitioner) and
de-duplicated when that copy arrives in the id's partition. Producers of keyed records must all
use one partitioner for the same reason (murmur2, librdkafka ``partitioner=murmur2_random``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import faust

from agents.batching import MAX_RETRY_DELAY_S, EventBatcher
from agents.dedupe.outputs import DedupeOutputs, apply_verdicts
from agents.dedupe.stream import PartitionWrites
from agents.ingest.triage import RawMessage, triage
from app.metrics import INGEST_BATCH_SECONDS, count_batch, tally_sources
from app.producer import OutRecord
from app.services import Services
from app.settings import Settings

if TYPE_CHECKING:
    from agents.dedupe.runtime import DedupeRuntime

log = logging.getLogger(__name__)

AGENT_NAME = "datanexus.ingest.validate"
BLOOM_DRAIN_TIMEOUT_S = 5.0


def install_ingest_agent(
    app: faust.App, settings: Settings, services: Services, dedupe: DedupeRuntime | None = None
) -> Any:
    raw_topic = app.topic(
        settings.topic_raw,
        key_serializer="raw",
        value_serializer="raw",
        partitions=settings.partitions,
    )
    raw_name, accepted_topic, dlq_topic = (
        settings.topic_raw,
        settings.topic_accepted,
        settings.topic_dlq,
    )
    batch_size, within = settings.agent_batch_size, settings.agent_batch_within_s

    async def validate(stream: faust.StreamT[bytes]) -> None:
        producer = services.producer

        async def handle(events: Sequence[Any]) -> None:
            started = time.perf_counter()
            messages = [
                RawMessage(m.key, m.value, m.headers, m.topic, m.partition, m.offset)
                for m in (e.message for e in events)
            ]
            result = triage(messages, int(time.time() * 1000))
            await producer.send_many([(accepted_topic, result.accepted), (dlq_topic, result.dead)])
            count_batch("kafka", tally_sources(result.sources), result.rejected)
            INGEST_BATCH_SECONDS.labels("kafka").observe(time.perf_counter() - started)

        async def handle_deduplicated(events: Sequence[Any]) -> None:
            assert dedupe is not None
            async with dedupe.stream.lock:
                delay = 0.1
                while True:
                    try:
                        await dedupe_batch(events)
                        return
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("batch of %d failed; retrying in %.1fs", len(events), delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, MAX_RETRY_DELAY_S)

        async def dedupe_batch(events: Sequence[Any]) -> None:
            assert dedupe is not None
            started = time.perf_counter()
            now_ms = int(time.time() * 1000)
            by_partition: dict[int, list[RawMessage]] = defaultdict(list)
            keyless: list[RawMessage] = []
            for m in (e.message for e in events):
                raw = RawMessage(m.key, m.value, m.headers, m.topic, m.partition, m.offset)
                (keyless if m.key is None else by_partition[m.partition]).append(raw)
            out = DedupeOutputs()
            rejected: Counter[str] = Counter()
            sources: list[str | None] = []
            writes: list[PartitionWrites] = []
            checked_groups = []
            for partition, group in by_partition.items():
                checked = triage(group, now_ms)
                out.dead.extend(checked.dead)
                rejected.update(checked.rejected)
                if checked.records:
                    checked_groups.append((partition, group, checked))
            await dedupe.stream.prefetch(
                [record for _, _, checked in checked_groups for record in checked.records], now_ms
            )
            try:
                for partition, group, checked in checked_groups:
                    sources.extend(checked.sources)
                    batch_offset = max(message.offset for message in group)
                    verdicts, written = await dedupe.stream.check_partition(
                        partition, batch_offset, checked.records, now_ms
                    )
                    apply_verdicts(checked.records, checked.accepted, verdicts, out)
                    if written.records:  # no new entry: the marker need not move
                        writes.append(written)
            finally:
                dedupe.stream.engine.bloom_answers = {}
            rerouted: list[OutRecord] = []
            if keyless:
                checked = triage(keyless, now_ms)
                out.dead.extend(checked.dead)
                rejected.update(checked.rejected)
                rerouted = checked.accepted  # keyed by id now; counted when they come back
            # state first, then output, then the marker: a crash between any two leaves entries
            # above the marker, which a replay resolves (see agents/dedupe/stream.py)
            await dedupe.stream.send_writes(writes)
            await dedupe.stream.output.send_many(
                [(accepted_topic, out.forward), (dlq_topic, out.dead), (raw_name, rerouted)]
            )
            await dedupe.stream.commit_markers(writes)
            count_batch("kafka", tally_sources(sources), rejected)
            INGEST_BATCH_SECONDS.labels("kafka").observe(time.perf_counter() - started)

        async def route(events: Sequence[Any]) -> None:
            # configs are per source and change at run time: decide per batch
            if dedupe is None or not dedupe.active:
                await handle(events)
            else:
                await handle_deduplicated(events)

        handler = handle if dedupe is None else route
        try:
            await EventBatcher(stream, handler, batch_size, within).run()
        finally:
            if dedupe is not None:  # a graceful stop lets the last batches' Bloom additions land
                await _drain_bloom_adds(dedupe)

    return app.agent(raw_topic, name=AGENT_NAME)(validate)


async def _drain_bloom_adds(dedupe: DedupeRuntime) -> None:
    """Their input offsets may be committed already: a stop before they land would let a
    duplicate of those records through later. Bounded: a stop must not hang on Redis."""
    in_flight = dedupe.stream.engine.in_flight
    if not len(in_flight):
        return
    try:
        await asyncio.wait_for(asyncio.shield(in_flight.drain()), BLOOM_DRAIN_TIMEOUT_S)
    except (TimeoutError, asyncio.CancelledError):
        log.warning("stopping with %d Bloom additions not landed", len(in_flight))
