"""Pruning the stream stage's state on a real RocksDB partition and a real changelog topic:
expired entries go locally, and each packed batch record whose entries all expired is
tombstoned in the changelog (so a compacted changelog stays bounded)."""

from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import rocksdict

from agents.dedupe.changelog import ChangelogProducer, TrackedProducer
from agents.dedupe.partition_state import INDEX_PREFIX, PartitionState, packed_keys
from agents.dedupe.stream import StreamDedupe
from app.testing import read_topic
from app.topics import ensure_topics
from tables.dedupe import DedupeConfigRegistry, DedupeEngine

pytestmark = pytest.mark.integration


def faust_like_table(topic: str, dbs: dict[int, Any]) -> Any:
    """The two things StreamDedupe reads from a Faust table: its RocksDB partitions and the
    changelog topic's name (a worker is not needed to exercise pruning)."""
    return SimpleNamespace(
        changelog_topic=SimpleNamespace(get_topic_name=lambda: topic),
        data=SimpleNamespace(_dbs=dbs, _db_for_partition=dbs.__getitem__),
    )


async def test_prune_forgets_expired_entries_and_tombstones_their_batches(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topic = f"prune-changelog-{uuid.uuid4().hex[:8]}"
    ensure_topics(kafka_bootstrap, [topic], 1)
    db = rocksdict.Rdict(str(tmp_path / "p0"), options=rocksdict.Options(raw_mode=True))
    changelog = ChangelogProducer(kafka_bootstrap, **{"batch.num.messages": 1, "linger.ms": 0})
    output = TrackedProducer(kafka_bootstrap)
    try:
        engine = DedupeEngine(DedupeConfigRegistry(), None)
        stream = StreamDedupe(
            engine, faust_like_table(topic, {0: db}), changelog, output, kafka_bootstrap, "out"
        )
        old, new = PartitionState(db, 10), PartitionState(db, 20)
        old["s|exact|a"], old["s|exact|b"] = 1_000, 1_000
        new["s|exact|c"] = 9_000
        packed_old = old.apply(rocksdict.WriteBatch(raw_mode=True))
        packed_new = new.apply(rocksdict.WriteBatch(raw_mode=True))
        await changelog.send_to_partition(topic, 0, packed_old + packed_new)

        assert await stream.prune(now_ms=10_000, retention_ms=5_000) == 2
        assert db.get(b"s|exact|a") is None and db.get(b"s|exact|b") is None
        assert db.get(b"s|exact|c") is not None
        assert len(packed_keys(db, INDEX_PREFIX)) == 1  # only the live batch is still indexed
        records = read_topic(kafka_bootstrap, topic, expect=3)
        tombstones = [m.key() for m in records if m.value() is None]
        assert tombstones == [packed_old[0][0]]
        assert await stream.prune(now_ms=10_000, retention_ms=5_000) == 0  # idempotent
    finally:
        changelog.close()
        output.close()
        db.close()
