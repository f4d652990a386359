"""Run state of pipelines, kept apart from their configs: pause/resume and the runner's counters.

The API writes the desired state (pause/resume); the runner reports what it is actually doing
once per batch (never per record). Stored as plain JSON under the pipeline id, always by
assignment so a Faust table sends the change to its changelog.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from tables.pipelines.store import now_ms
from tables.pipelines.types import KeyValueStore


class DesiredState(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"


class RunState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SWITCHING = "switching"
    PAUSED = "paused"
    FAILED = "failed"
    STOPPED = "stopped"


@dataclass(frozen=True)
class PipelineStatus:
    pipeline_id: str
    desired: DesiredState = DesiredState.ACTIVE
    state: RunState = RunState.PENDING
    running_version: int | None = None
    records_in: int = 0
    records_out: int = 0
    records_dropped: int = 0
    lag: int | None = None
    error: str | None = None
    desired_changed_by: str | None = None
    desired_changed_ms: int | None = None
    reported_ms: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["desired"] = self.desired.value
        data["state"] = self.state.value
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PipelineStatus:
        values = dict(data)
        values["desired"] = DesiredState(values["desired"])
        values["state"] = RunState(values["state"])
        return cls(**values)


class PipelineRuntimeStore:
    def __init__(self, statuses: KeyValueStore, *, clock: Callable[[], int] = now_ms) -> None:
        self._statuses = statuses
        self._clock = clock

    def status(self, pipeline_id: str) -> PipelineStatus:
        data = self._statuses.get(pipeline_id)
        return PipelineStatus(pipeline_id) if data is None else PipelineStatus.from_json(data)

    def is_paused(self, pipeline_id: str) -> bool:
        return self.status(pipeline_id).desired is DesiredState.PAUSED

    def pause(self, pipeline_id: str, *, author: str) -> PipelineStatus:
        """Idempotent; the runner sees ``desired == paused`` and stops consuming after its batch."""
        return self._set_desired(pipeline_id, DesiredState.PAUSED, author)

    def resume(self, pipeline_id: str, *, author: str) -> PipelineStatus:
        return self._set_desired(pipeline_id, DesiredState.ACTIVE, author)

    def report(
        self,
        pipeline_id: str,
        *,
        state: RunState,
        running_version: int | None,
        records_in: int = 0,
        records_out: int = 0,
        records_dropped: int = 0,
        lag: int | None = None,
        error: str | None = None,
    ) -> PipelineStatus:
        """Called by the runner per batch; record counts are increments, lag is absolute."""
        current = self.status(pipeline_id)
        updated = replace(
            current,
            state=state,
            running_version=running_version,
            records_in=current.records_in + records_in,
            records_out=current.records_out + records_out,
            records_dropped=current.records_dropped + records_dropped,
            lag=lag if lag is not None else current.lag,
            error=error,
            reported_ms=self._clock(),
        )
        self._statuses[pipeline_id] = updated.to_json()
        return updated

    def forget(self, pipeline_id: str) -> None:
        if pipeline_id in self._statuses:
            del self._statuses[pipeline_id]

    def _set_desired(self, pipeline_id: str, desired: DesiredState, author: str) -> PipelineStatus:
        current = self.status(pipeline_id)
        if current.desired is desired:
            return current
        updated = replace(
            current, desired=desired, desired_changed_by=author, desired_changed_ms=self._clock()
        )
        self._statuses[pipeline_id] = updated.to_json()
        return updated
