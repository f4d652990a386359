"""The engine steps of a pipeline: dedupe (``tables.dedupe``) and window (``tables.windows``).

Both implement ``BatchStage`` for ``compile_pipeline`` and keep the effects of the batch in flight
revocable: the runner calls :meth:`commit` once the batch's outputs were acknowledged by the sink,
or :meth:`abort` when the batch failed and will be retried.

Dedupe: one ``DedupeEngine`` per pipeline step (Redis keys ``dn:pipeline:<id>:<index>:...``, local
in-process state without Redis). Records are matched on their ``id`` (exact, bloom) or their whole
content (fuzzy, minus ``ignore_fields``); ``event_time`` (ms) is the clock of ``clock:
event_time``. Records without an ``id`` pass an exact/bloom step unchanged (nothing to match).
Duplicates, and late duplicates under the ``drop``/``dlq`` late policies, are dropped with a
reason; ``flag`` forwards late duplicates unchanged. ``abort`` releases the first sightings the
batch recorded, so its retry is not taken for duplicates (Bloom additions cannot be undone).
Exact/fuzzy steps journal the keys and clocks of the batch in flight before they reach Redis
(:class:`~agents.pipelines.stage_store.InFlightJournal`, cleared with the batch's commit): after
a crash before the commit, the restarted step releases those sightings before the replay, so
the replayed records are not mistaken for duplicates of their own lost attempt.

Window: a ``WindowStateManager`` over the step's prefix of the pipeline's local RocksDB state
(:mod:`agents.pipelines.stage_store`). All source partitions feed one logical partition, so a
group's windows see every record of the pipeline; the event time is the record's ``event_time``
field (ms), which count and global windows only use for the reported start/end. The results the
spec emits (``on_update`` changes, ``on_close`` closed windows) replace the batch's records: one
JSON record per result, the window agent's output value (``agents.windows.records``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from agents.pipelines.stage_store import InFlightJournal
from agents.windows.records import result_record
from tables.dedupe import (
    DedupeAction,
    DedupeConfigRegistry,
    DedupeEngine,
    DedupeMode,
    DedupeResult,
    DedupeStage,
    Verdict,
    WindowClock,
    fuzzy_key,
    parse_dedupe_config,
)
from tables.dedupe import Record as DedupeRecord
from tables.pipelines.engines import dedupe_config_fields
from tables.pipelines.types import DroppedRecord, Record, StageResult
from tables.types import KeyValueStore
from tables.windows.manager import WindowStateManager
from tables.windows.results import WindowResult
from tables.windows.spec import parse_window_spec
from tables.windows.types import Clock, Event, LatePolicy

WINDOW_PARTITION = 0
"""The one logical partition of a pipeline window step's state (see the module docstring)."""
EVENT_TIME_FIELD = "event_time"


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _event_time(record: Record) -> int | None:
    value = record.get(EVENT_TIME_FIELD)
    if type(value) is float:
        return int(value)
    return value if type(value) is int else None


class DedupeStepStage:
    """A dedupe step on the shared dedupe engine."""

    def __init__(
        self,
        step: dict[str, Any],
        step_index: int,
        *,
        key_prefix: str,
        redis: Redis | None,
        journal: InFlightJournal | None = None,
    ) -> None:
        self.step_index = step_index
        self.config = parse_dedupe_config(dedupe_config_fields(step))
        self.engine = DedupeEngine(
            DedupeConfigRegistry(default=self.config),
            redis,
            stage=DedupeStage.EDGE,
            key_prefix=key_prefix,
        )
        self._needs_id = self.config.mode in (DedupeMode.EXACT, DedupeMode.BLOOM)
        self._event_clock = self.config.clock is WindowClock.EVENT_TIME
        self._in_flight: list[tuple[list[DedupeRecord], list[Verdict], int]] = []
        journaled = self.config.mode in (DedupeMode.EXACT, DedupeMode.FUZZY)
        self._journal = journal if journaled else None
        self._recover = self._journal is not None
        self._last_now = 0

    def _batch_clock(self) -> int:
        """Strictly increasing per batch: a release after a crash deletes a key only where its
        stored first-seen clock equals the lost batch's, so two batches in one millisecond would
        let the lost one release a key an earlier, committed batch saw first."""
        self._last_now = max(_now_ms(), self._last_now + 1)
        return self._last_now

    async def _release_lost_attempt(self) -> None:
        """Undo the sightings of a batch that was checked but never committed (a crash)."""
        self._recover = False
        assert self._journal is not None
        stored = self._journal.load()
        if not stored:
            return
        records: list[DedupeRecord] = []
        verdicts: list[Verdict] = []
        for key, clock in stored["keys"]:
            records.append(
                {"id": "", "source": None, "event_time": clock, "payload": {}, "ingested_at": 0}
            )
            verdicts.append(Verdict(DedupeResult.UNIQUE, DedupeAction.FORWARD, "replay", key))
        await self.engine.release(records, verdicts, int(stored["now"]))
        self._journal.clear_now()

    def _journal_keys(self, checked: list[DedupeRecord], now: int) -> None:
        assert self._journal is not None
        exact = self.config.mode is DedupeMode.EXACT
        ignore = self.config.ignore_fields
        keys = [
            [r["id"] if exact else fuzzy_key(r["payload"], ignore), r["event_time"]]
            for r in checked
        ]
        self._journal.write({"now": now, "keys": keys})
        self._journal.clear_with_commit()

    async def process(self, records: list[Record]) -> StageResult:
        if self._recover:
            await self._release_lost_attempt()
        now = self._batch_clock()
        checked: list[DedupeRecord] = []
        positions: list[int] = []
        for index, record in enumerate(records):
            key = record.get("id")
            if key is None and self._needs_id:
                continue
            clock = _event_time(record) if self._event_clock else None
            checked.append(
                {
                    "id": "" if key is None else str(key),
                    "source": None,
                    "event_time": now if clock is None else clock,
                    "payload": record,
                    "ingested_at": now,
                }
            )
            positions.append(index)
        if not checked:
            return StageResult(list(records), [])
        if self._journal is not None:
            self._journal_keys(checked, now)
        verdicts = await self.engine.check_batch(checked, now)
        self._in_flight.append((checked, verdicts, now))
        rejected: dict[int, Verdict] = {
            positions[i]: verdict for i, verdict in enumerate(verdicts) if not verdict.forward
        }
        outputs: list[Record] = []
        dropped: list[DroppedRecord] = []
        for index, record in enumerate(records):
            verdict = rejected.get(index)
            if verdict is None:
                outputs.append(record)
                continue
            late = verdict.result is DedupeResult.LATE
            what = f"late duplicate ({verdict.action.value})" if late else "duplicate"
            reason = f"{what}: {verdict.reason}"
            dropped.append(DroppedRecord(record, self.step_index, "dedupe", reason))
        return StageResult(outputs, dropped)

    async def commit(self) -> None:
        self._in_flight.clear()

    async def abort(self) -> None:
        """Forget the sightings of the failed batch (newest first), so its retry passes."""
        in_flight, self._in_flight = self._in_flight, []
        for checked, verdicts, now in reversed(in_flight):
            await self.engine.release(checked, verdicts, now)
        if self._journal is not None:
            self._journal.clear_now()

    def close(self) -> None:
        self._in_flight.clear()


class WindowStepStage:
    """A window step on ``WindowStateManager``; ``store`` holds this step's state only."""

    def __init__(self, step: dict[str, Any], step_index: int, store: KeyValueStore) -> None:
        self.step_index = step_index
        self.spec = parse_window_spec(step["window"])
        self.manager = WindowStateManager(self.spec, store)
        self._kind = self.spec.kind.value
        self._needs_time = self.manager.window_type.clock is Clock.EVENT_TIME

    async def process(self, records: list[Record]) -> StageResult:
        events: list[Event] = []
        dropped: list[DroppedRecord] = []
        for record in records:
            ts = _event_time(record)
            if ts is None:
                if self._needs_time:
                    reason = f"no '{EVENT_TIME_FIELD}' (epoch ms) for the event-time window"
                    dropped.append(DroppedRecord(record, self.step_index, "window", reason))
                    continue
                ts = 0
            events.append(Event(ts, record))
        result = self.manager.process_batch(WINDOW_PARTITION, events)
        outputs = self.result_records([*result.updated, *result.closed])
        reason = "late: its window was already closed"
        if self.spec.late is LatePolicy.SIDE_OUTPUT:
            reason += " (pipelines have no side output)"
        for late in result.late:
            value = cast(Record, dict(late.event.value))
            dropped.append(DroppedRecord(value, self.step_index, "window", reason))
        for _ in range(result.dropped):
            dropped.append(DroppedRecord({}, self.step_index, "window", reason))
        return StageResult(outputs, dropped)

    def result_records(self, results: Sequence[WindowResult]) -> list[Record]:
        """The window agent's output values (``agents.windows.records.result_record``)."""
        records: list[Record] = []
        for result in results:
            value = result_record(result, self.spec.group_by, self._kind)[1]
            assert value is not None
            records.append(orjson.loads(value))
        return records

    async def commit(self) -> None:
        """The state lives in the pipeline db, committed by its owner (``PipelineStages``)."""

    async def abort(self) -> None:
        """Likewise discarded by the owner of the db."""

    def close(self) -> None:
        """The db is closed by its owner."""
