"""Commits a window batch's table writes: changelog first (librdkafka, one await), then RocksDB.

Why not ``table[key] = value``: every Faust table write is one changelog send through Faust's
aiokafka producer, and on the embedded broker (one-record batches, see app/broker_profile.py)
each one is a produce request encoded in Python on the event loop: about a tenth of the window
agent's CPU. Here a batch's writes go to the changelog partitions through a librdkafka producer
(its own threads), one await for all of them, and only once the broker acknowledged every record
are they written to the partition's RocksDB in one atomic write batch, with Faust's persisted
changelog offset, so a restart replays only what came after.

Order is what crash safety relies on (agents/windows/journal_store.py): per partition the
records keep the journal -> header -> keys -> marker order in the changelog, and the local state
never holds a write the changelog lacks. A crash between the two leaves the changelog ahead of
RocksDB; Faust's recovery replays it from the persisted offset on restart.

Keys and values are encoded with the table's own serializers, so the bytes are exactly those
Faust would have written (and reads back, from RocksDB and in changelog recovery).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import rocksdict
from confluent_kafka import Message
from faust.types import TP

from app.producer import FastProducer

TableWrites = Sequence[tuple[str, bytes | None]]
"""Ordered (key, value) writes of one partition; ``None`` deletes."""


class TableChangelogWriter:
    def __init__(self, table: Any, producer: FastProducer) -> None:
        self._table = table
        self._producer = producer

    @property
    def topic(self) -> str:
        return str(self._table.changelog_topic.get_topic_name())

    async def write(self, plans: Sequence[tuple[int, TableWrites]]) -> int:
        """Ships and applies every partition's writes; returns the records written."""
        store = self._table.data
        encoded: list[tuple[int, list[tuple[bytes, bytes | None]]]] = []
        for partition, writes in plans:
            db = store._db_for_partition(partition)
            records: list[tuple[bytes, bytes | None]] = []
            for key, value in writes:
                raw_key = store._encode_key(key)
                if value is None:
                    if db.get(raw_key) is None:
                        continue  # nothing to delete: no tombstone either
                    records.append((raw_key, None))
                else:
                    records.append((raw_key, store._encode_value(value)))
            if records:
                encoded.append((partition, records))
        if not encoded:
            return 0
        topic = self.topic
        ends: dict[int, int] = {}

        async def ship(partition: int, records: list[tuple[bytes, bytes | None]]) -> None:
            def remember(msg: Message) -> None:
                offset = msg.offset()
                if offset is not None and offset > ends.get(partition, -1):
                    ends[partition] = offset

            await self._producer.send_batch(
                topic, [(k, v, None) for k, v in records], partition=partition, observe=remember
            )

        await asyncio.gather(*(ship(p, records) for p, records in encoded))
        for partition, records in encoded:
            batch = rocksdict.WriteBatch(raw_mode=True)
            for raw_key, raw_value in records:
                if raw_value is None:
                    batch.delete(raw_key)
                else:
                    batch.put(raw_key, raw_value)
            store._db_for_partition(partition).write(batch)
            if partition in ends:
                store.set_persisted_offset(TP(topic, partition), ends[partition])
        return sum(len(records) for _, records in encoded)
