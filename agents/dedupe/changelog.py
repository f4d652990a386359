"""Sending a batch of changelog records to one partition, awaited once for the whole batch.

The Faust table's changelog receives the stream stage's writes from here instead of one
`send_soon` per key through Faust's producer. On the embedded broker every record goes in its
own batch (end offsets are wrong after multi-record batches, which would mislead Faust's
changelog recovery; see app/broker_profile.py), which is why the stage packs a batch's entries
into one record per partition (agents/dedupe/partition_state.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from confluent_kafka import Message

from app.producer import FastProducer, OutRecord
from app.settings import Settings

ChangelogRecord = tuple[bytes, bytes | None]


class ChangelogProducer(FastProducer):
    @classmethod
    def for_settings(cls, settings: Settings) -> ChangelogProducer:
        quirks = {"batch.num.messages": 1, "linger.ms": 0} if settings.embedded_broker else {}
        return cls(settings.kafka_bootstrap, **quirks)

    async def send_to_partition(
        self, topic: str, partition: int, records: Sequence[ChangelogRecord]
    ) -> None:
        """Return once the broker acknowledged every record (raises DeliveryError otherwise)."""
        await self.send_batch(
            topic, [(key, value, None) for key, value in records], partition=partition
        )


class TrackedProducer(FastProducer):
    """The stream stage's output producer: remembers, per partition of each topic, the offset
    after the last record the broker acknowledged, so a forwarded marker can say where in the
    output topic a replay has to look for records of an unacknowledged batch."""

    def __init__(self, bootstrap: str, **config: Any) -> None:
        super().__init__(bootstrap, **config)
        self.acked_ends: dict[str, dict[int, int]] = {}

    async def send_batch(self, topic: str, records: Sequence[OutRecord], **kwargs: Any) -> None:
        ends = self.acked_ends.setdefault(topic, {})

        def remember(msg: Message) -> None:
            partition, offset = msg.partition(), msg.offset()
            if partition is not None and offset is not None and offset >= ends.get(partition, 0):
                ends[partition] = offset + 1

        await super().send_batch(topic, records, observe=remember, **kwargs)
