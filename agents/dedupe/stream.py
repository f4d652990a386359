"""The STREAM stage: the engine run per partition of a batch on the Faust table's RocksDB
partition; per batch, the changelog entries (one packed record per partition, see
partition_state.py), the output and the forwarded marker are each sent with one awaited send,
in that order.

Why per partition: the authoritative state of an id lives in the table partition that has the
raw topic's partition number (the raw topic is keyed by id, so one worker owns each id), and a
batch from `EventBatcher` mixes partitions. Faust's own `table[key] = value` would pick the
partition from the *current event* and send one changelog record per key; writing the partition's
RocksDB directly and shipping the changelog as one batch keeps the no-per-record-await design.

Crash safety (kill -9 at any point, at-least-once input): entries are durable before their
output is sent, and the marker moves past them only after the output was acknowledged. Entries
above the marker on a replay belong to a batch whose output may or may not have landed; the
output topic is read from where the marker saw it end to decide (see output_check.py), so the
replay neither loses those records nor forwards them twice.

Bloom filters (bloom mode's window filter, the late summary) are only checked while deciding;
the keys are added after the output was acknowledged (`commit_markers`, in the background:
tables/dedupe/inflight.py keeps them visible to the next lookups meanwhile), because a Bloom
addition cannot be undone: added before a crash or a failed send, the replay would drop the
batch's records as "seen". A crash between acknowledgement and the addition can at worst
forward a Bloom-mode record twice (at-least-once), never lose one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import rocksdict

from agents.dedupe.changelog import ChangelogProducer, ChangelogRecord, TrackedProducer
from agents.dedupe.output_check import forwarded_ids
from agents.dedupe.partition_state import (
    ENTRY,
    FAUST_OFFSET_KEY,
    FORWARDED_MARKER_KEY,
    INDEX_PREFIX,
    PartitionState,
    expand_packed,
    is_entry,
    marker_value,
    packed_key_of,
    packed_keys,
    read_marker,
    read_marker_output_ends,
    unpack_clock,
)
from tables.dedupe import (
    DedupeAction,
    DedupeEngine,
    DedupeResult,
    Record,
    Verdict,
)
from tables.dedupe.plan import NO_SOURCE
from tables.dedupe.prefetch import prefetch_bloom
from tables.dedupe.redis_mirror import PendingBloomAdd

REPLAY_REASON = "first seen (replay of a batch whose output was not acknowledged)"
FOUND_REASON = "forwarded before a restart (found in the output topic)"
log = logging.getLogger(__name__)


@dataclass
class PartitionWrites:
    partition: int
    batch_offset: int
    records: list[ChangelogRecord]


class StreamDedupe:
    """One per worker. Callers hold `lock` from `check_partition` until `commit_markers`
    returned, so batches of a partition are decided and forwarded strictly in offset order."""

    def __init__(
        self,
        engine: DedupeEngine,
        table: Any,
        changelog: ChangelogProducer,
        output: TrackedProducer,
        bootstrap: str,
        output_topic: str,
    ) -> None:
        self.engine = engine
        self.table = table
        self.changelog = changelog
        self.output = output
        """Sends the stage's accepted/dlq/re-keyed records (tracks the accepted topic's ends)."""
        self.bootstrap = bootstrap
        self.output_topic = output_topic
        self.lock = asyncio.Lock()
        self._bloom_adds: list[PendingBloomAdd] = []
        self._expanded_at: dict[int, bytes | None] = {}
        """Decided under the lock, added to the filters once the output is acknowledged. A
        failed attempt's adds stay: its retry (next under the lock) forwards the same records."""

    @property
    def changelog_topic(self) -> str:
        return cast(str, self.table.changelog_topic.get_topic_name())

    def _db(self, partition: int) -> Any:
        return self.table.data._db_for_partition(partition)

    async def prefetch(self, records: Sequence[dict[str, Any]], now_ms: int) -> None:
        """The Bloom lookups of the whole batch in one round trip (tables/dedupe/prefetch.py)."""
        await prefetch_bloom(self.engine, cast(Sequence[Record], records), now_ms)

    async def check_partition(
        self, partition: int, batch_offset: int, records: Sequence[dict[str, Any]], now_ms: int
    ) -> tuple[list[Verdict], PartitionWrites]:
        """Decide the records of one partition (`batch_offset`: highest source offset of the
        batch in it) and write the new first sightings into the local partition."""
        db = self._db(partition)
        self._expand_recovered(partition, db)
        state = PartitionState(db, batch_offset)
        self.engine.state = state
        verdicts = await self.engine.check_batch(
            cast(Sequence[Record], records), now_ms, self._bloom_adds
        )
        if state.replayed:
            verdicts = await self._resolve_replays(records, verdicts, state)
        packed = state.apply(rocksdict.WriteBatch(raw_mode=True))
        return verdicts, PartitionWrites(partition, batch_offset, list(packed))

    def _expand_recovered(self, partition: int, db: Any) -> None:
        """Packed changelog records reach the local partition only through Faust applying the
        changelog (recovery, standby), which also moves its persisted offset: expand when that
        offset changed since the last look (one key read per batch instead of a scan)."""
        applied = db.get(FAUST_OFFSET_KEY)
        if partition in self._expanded_at and self._expanded_at[partition] == applied:
            return
        if expand_packed(db):
            log.info("dedupe: expanded recovered changelog batches of partition %d", partition)
        self._expanded_at[partition] = applied

    async def _resolve_replays(
        self, records: Sequence[dict[str, Any]], verdicts: list[Verdict], state: PartitionState
    ) -> list[Verdict]:
        """Entries of a batch whose output was never acknowledged: forward the records again
        unless the output topic shows they made it (a lost acknowledgement, e.g. kill -9)."""
        registry = self.engine.registry
        replayed: list[int] = []
        for index, (record, verdict) in enumerate(zip(records, verdicts, strict=True)):
            source = record.get("source")
            mode = registry.for_source(source).mode.value
            if f"{source or NO_SOURCE}|{mode}|{verdict.key}" in state.replayed:
                replayed.append(index)
        wanted = {str(records[i]["id"]).encode() for i in replayed}
        start = read_marker_output_ends(state.db)
        loop = asyncio.get_running_loop()
        found = await loop.run_in_executor(
            None, forwarded_ids, self.bootstrap, self.output_topic, start, wanted
        )
        log.info(
            "replay: %d unacknowledged first sightings, %d found in the output",
            len(wanted),
            len(found),
        )
        out = list(verdicts)
        for i in replayed:
            key = verdicts[i].key
            if str(records[i]["id"]).encode() in found:
                out[i] = Verdict(DedupeResult.DUPLICATE, DedupeAction.DROP, FOUND_REASON, key)
            elif verdicts[i].result is DedupeResult.LATE:  # the late summary has the attempt
                out[i] = Verdict(DedupeResult.UNIQUE, DedupeAction.FORWARD, REPLAY_REASON, key)
        return out

    async def send_writes(self, writes: Sequence[PartitionWrites]) -> None:
        topic = self.changelog_topic
        await asyncio.gather(
            *(self.changelog.send_to_partition(topic, w.partition, w.records) for w in writes)
        )

    async def commit_markers(self, writes: Sequence[PartitionWrites]) -> None:
        """After the output was acknowledged: entries up to these offsets count as sightings,
        and the batch's keys go into the Bloom filters."""
        advanced = [w for w in writes if w.batch_offset > read_marker(self._db(w.partition))]
        ends = dict(self.output.acked_ends.get(self.output_topic, {}))
        topic = self.changelog_topic
        adds, self._bloom_adds = self._bloom_adds, []
        self.engine.add_in_background(adds, int(time.time() * 1000))
        await asyncio.gather(
            *(
                self.changelog.send_to_partition(
                    topic, w.partition, [(FORWARDED_MARKER_KEY, marker_value(w.batch_offset, ends))]
                )
                for w in advanced
            ),
        )
        for w in advanced:  # a replayed batch (after a restart) never moves the marker back
            self._db(w.partition).put(FORWARDED_MARKER_KEY, marker_value(w.batch_offset, ends))

    async def prune(self, now_ms: int, retention_ms: int, chunk: int = 10_000) -> int:
        """Forget entries first seen more than `retention_ms` ago, so the table holds about one
        late horizon of keys: locally per key, in the changelog by tombstoning each packed batch
        record whose newest entry expired. Returns the number of entries forgotten."""
        cutoff = now_ms - retention_ms
        removed = 0
        for partition, db in list(self.table.data._dbs.items()):
            expand_packed(db)
            expired: list[bytes] = []
            for number, (key, value) in enumerate(db.items()):
                if is_entry(key, value) and ENTRY.unpack(value)[0] < cutoff:
                    expired.append(bytes(key))
                if number % chunk == chunk - 1:
                    await asyncio.sleep(0)  # a long scan must not starve the event loop
            done = [
                key for key, value in packed_keys(db, INDEX_PREFIX) if unpack_clock(value) < cutoff
            ]
            for first in range(0, len(done), chunk):
                keys = done[first : first + chunk]
                await self.changelog.send_to_partition(
                    self.changelog_topic, partition, [(packed_key_of(key), None) for key in keys]
                )
                self._delete(db, keys)
            for first in range(0, len(expired), chunk):
                self._delete(db, expired[first : first + chunk])
            removed += len(expired)
        return removed

    @staticmethod
    def _delete(db: Any, keys: Sequence[bytes]) -> None:
        batch = rocksdict.WriteBatch(raw_mode=True)
        for key in keys:
            batch.delete(key)
        db.write(batch)
