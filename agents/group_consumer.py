"""A plain Kafka consumer-group loop for stateless stages: consume a batch -> handle -> commit.

Faust's per-message path (hand-over, event, ack: about 30 us a record here) is what a worker is
bound by; a stage that keeps no Faust table needs none of it, and librdkafka hands a batch over
at about 1 us a record. Used by the aggregate store feed and the window repartition stage.

Kafka's group protocol spreads the partitions over the workers. Offsets are committed only after
``handle`` returned (at least once); a failing batch is retried with backoff, never skipped, and
the next batch is consumed only after it, so a partition's records are handled in order. The
consumer lives on one thread of its own (``prepare`` runs there too, off the event loop); a
rebalance runs inside ``consume``, so it never splits a batch being handled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

log = logging.getLogger(__name__)

T = TypeVar("T")
MAX_RETRY_DELAY_S = 5.0


def next_offsets(messages: Sequence[Message]) -> list[TopicPartition]:
    """The offsets to commit after ``messages``: one past the highest per partition."""
    highest: dict[tuple[str, int], int] = {}
    for message in messages:
        tp = (message.topic() or "", message.partition() or 0)
        offset = message.offset() or 0
        if offset > highest.get(tp, -1):
            highest[tp] = offset
    return [TopicPartition(t, p, o + 1) for (t, p), o in highest.items()]


class GroupConsumerLoop(Generic[T]):
    def __init__(
        self,
        name: str,
        topics: Sequence[str],
        *,
        bootstrap: str,
        group_id: str,
        consumer_config: Mapping[str, Any],
        prepare: Callable[[list[Message]], T],
        handle: Callable[[T], Awaitable[None]],
        batch_size: int = 5000,
        poll_timeout_s: float = 0.05,
    ) -> None:
        self.name = name
        self.topics = list(topics)
        self._config = {
            "bootstrap.servers": bootstrap,
            "group.id": group_id,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            **consumer_config,
        }
        self._prepare = prepare
        self._handle = handle
        self._batch_size = batch_size
        self._poll_timeout_s = poll_timeout_s
        self._assigned: frozenset[tuple[str, int]] = frozenset()

    def owned(self) -> dict[str, list[int]]:
        """Partitions this worker holds now (the group's current assignment)."""
        owned: dict[str, list[int]] = {}
        for topic, partition in sorted(self._assigned):
            owned.setdefault(topic, []).append(partition)
        return owned

    async def run(self) -> None:
        """Consume until cancelled."""
        if not self.topics:
            return
        executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
        loop = asyncio.get_running_loop()
        consumer = Consumer(self._config)
        try:
            await loop.run_in_executor(executor, self.subscribe, consumer)
            while True:
                batch = await loop.run_in_executor(executor, self.poll, consumer)
                if batch is None:
                    continue
                prepared, offsets = batch
                await self._handle_until_done(prepared)
                await loop.run_in_executor(executor, self._commit, consumer, offsets)
        finally:
            await asyncio.shield(loop.run_in_executor(executor, consumer.close))
            executor.shutdown(wait=False)

    # on the consumer's thread

    def subscribe(self, consumer: Consumer) -> None:
        def assigned(_: Consumer, partitions: list[TopicPartition]) -> None:
            self._assigned = self._assigned | {(tp.topic, tp.partition) for tp in partitions}

        def revoked(_: Consumer, partitions: list[TopicPartition]) -> None:
            self._assigned = self._assigned - {(tp.topic, tp.partition) for tp in partitions}

        consumer.subscribe(self.topics, on_assign=assigned, on_revoke=revoked, on_lost=revoked)

    def poll(self, consumer: Consumer) -> tuple[T, list[TopicPartition]] | None:
        """The next batch, prepared, and the offsets that commit it; None when nothing came."""
        messages: list[Message] = consumer.consume(self._batch_size, self._poll_timeout_s)
        if not messages:
            return None
        good = []
        for message in messages:
            if message.error() is None:
                good.append(message)
            else:
                log.warning("%s: %s", self.name, message.error())
        if not good:
            return None
        return self._prepare(good), next_offsets(good)

    def _commit(self, consumer: Consumer, offsets: list[TopicPartition]) -> None:
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # a rebalance took the partitions: their new owner re-reads
            log.warning("%s: commit failed (%s); the batch may be handled again", self.name, exc)

    # on the event loop

    async def _handle_until_done(self, prepared: T) -> None:
        delay = 0.1
        while True:
            try:
                await self._handle(prepared)
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: handling a batch failed; retrying in %.1fs", self.name, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_DELAY_S)
