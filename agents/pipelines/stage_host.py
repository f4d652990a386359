"""The engine steps of one pipeline runner, kept across version switches, with crash-safe state.

``PipelineStages.compile`` is the runner's compiler: it passes dedupe and window factories to
``compile_pipeline``. A step's engine is keyed by (type, step index, config without its ``name``):
a new version whose step is unchanged gets the same engine and so the same state (an unrelated
edit loses no window); a changed or removed step's state is dropped once the new version compiled.

Delivery (the runner is at-least-once: a crash between the sink ack and the offset commit
replays the batch). Per batch the runner calls :meth:`begin` with the highest source offset per
topic-partition, processes, sends and awaits the sink's acks, then :meth:`commit` (before it
commits the consumer offsets), or :meth:`abort` when the batch failed and will be retried.
Window state is held in memory during the batch and written at :meth:`commit` in ONE RocksDB
write batch together with the batch's highest source offset per topic-partition
(``<data_dir>/<app_id>/pipelines/<id>``, :mod:`agents.pipelines.stage_store`). So:

* crash before the state write: the state is the one before the batch; the replay recomputes it
  and re-emits the batch's window results (same ``revision``: consumers upsert);
* crash after the state write, before the offset commit: the runner asks :meth:`is_replayed` for
  each replayed record, which is true at or below the stored offset, and skips it: the window
  counts nothing twice, and the results it emitted were acknowledged already.

Dedupe state lives in Redis (or in process memory) and is written when the batch is checked; a
failed batch releases it (:meth:`abort`). Exact/fuzzy steps journal the batch's keys in the same
db before the check and clear the journal in the :meth:`commit` write, so after a crash before
the commit the restarted step releases the lost attempt's sightings and the replay passes (sent
again if the sink had it: at-least-once); after the commit, the replay is dropped as
duplicates (the sink has it). Bloom additions cannot be released: a crash between a bloom check
and the commit can lose that batch's new records. Window state is local to the worker that runs
the pipeline: when the pipeline moves to another worker, its windows restart empty there; the
db stays on disk when a pipeline is deleted.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson
from redis.asyncio import Redis

from agents.pipelines.stage_store import InFlightJournal, PipelineStateDb, PrefixStore
from agents.pipelines.stages import DedupeStepStage, WindowStepStage
from tables.pipelines import CompiledPipeline, compile_pipeline
from tables.pipelines.types import BatchStage

log = logging.getLogger(__name__)

Stage = DedupeStepStage | WindowStepStage
StageKey = tuple[str, int, str]


def step_fingerprint(step: Mapping[str, Any]) -> str:
    """Canonical hash of a step's config; its display ``name`` does not change the engine."""
    config = {k: v for k, v in step.items() if k != "name"}
    return hashlib.sha256(orjson.dumps(config, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def window_prefix(step_index: int, fingerprint: str) -> str:
    return f"s/{step_index}/{fingerprint}/"


class PipelineStages:
    """Engine steps and their state for one pipeline on this worker; see the module docstring."""

    def __init__(self, pipeline_id: str, state_dir: Path, redis: Redis | None) -> None:
        self.pipeline_id = pipeline_id
        self.state_dir = state_dir
        self.redis = redis
        self._stages: dict[StageKey, Stage] = {}
        self._db: PipelineStateDb | None = None

    # ------------------------------------------------------------------ compiling
    def compile(self, config: dict[str, Any], version: int) -> CompiledPipeline:
        wanted: dict[StageKey, Stage] = {}

        def dedupe(step: dict[str, Any], index: int, /) -> BatchStage:
            key: StageKey = ("dedupe", index, step_fingerprint(step))
            stage = self._stages.get(key) or wanted.get(key)
            if stage is None:
                prefix = f"dn:pipeline:{self.pipeline_id}:{index}"
                journal = InFlightJournal(self.db(), f"d/{index}/in-flight")
                stage = DedupeStepStage(
                    step, index, key_prefix=prefix, redis=self.redis, journal=journal
                )
            wanted[key] = stage
            return stage

        def window(step: dict[str, Any], index: int, /) -> BatchStage:
            key: StageKey = ("window", index, step_fingerprint(step))
            stage = self._stages.get(key) or wanted.get(key)
            if stage is None:
                store = PrefixStore(self.db(), window_prefix(index, key[2]))
                stage = WindowStepStage(step, index, store)
            wanted[key] = stage
            return stage

        compiled = compile_pipeline(config, version=version, dedupe=dedupe, window=window)
        for key, stage in self._stages.items():
            if key not in wanted:
                self._retire(key, stage)
        self._stages = wanted
        return compiled

    def db(self) -> PipelineStateDb:
        if self._db is None:
            self._db = PipelineStateDb(self.state_dir)
        return self._db

    def _retire(self, key: StageKey, stage: Stage) -> None:
        stage.close()
        if key[0] == "window":
            log.info("pipeline %s: dropping the state of window step %s", self.pipeline_id, key)
            self.db().drop_prefix(window_prefix(key[1], key[2]).encode())

    def stage_at(self, step_index: int) -> Stage | None:
        """The engine of a step of the current version (ops, tests)."""
        return next((s for k, s in self._stages.items() if k[1] == step_index), None)

    @property
    def has_window(self) -> bool:
        return any(key[0] == "window" for key in self._stages)

    # ------------------------------------------------------------------ the batch protocol
    def is_replayed(self, topic: str, partition: int, offset: int) -> bool:
        """True for a record whose effects the window state holds already (a replay)."""
        if not self.has_window or self._db is None:
            return False
        return self._db.is_applied(topic, partition, offset)

    def begin(self, offsets: Mapping[tuple[str, int], int]) -> None:
        if self.has_window:
            self.db().mark_applied(offsets)

    async def commit(self) -> None:
        """After the sink acknowledged the batch's outputs, before the consumer commit."""
        if self._db is not None:
            self._db.commit()
        for stage in self._stages.values():
            await stage.commit()

    async def abort(self) -> None:
        """The batch failed before its outputs were acknowledged; it will be retried."""
        if self._db is not None:
            self._db.discard()
        for stage in self._stages.values():
            await stage.abort()

    def close(self) -> None:
        for stage in self._stages.values():
            stage.close()
        self._stages = {}
        if self._db is not None:
            self._db.discard()
            self._db.close()
            self._db = None
