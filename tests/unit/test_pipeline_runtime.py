from __future__ import annotations

from typing import Any

from tables.pipelines import DesiredState, PipelineRuntimeStore, RunState


def new_runtime() -> tuple[PipelineRuntimeStore, dict[str, Any]]:
    statuses: dict[str, Any] = {}
    ticks = iter(range(100, 10_000))
    return PipelineRuntimeStore(statuses, clock=lambda: next(ticks)), statuses


def test_unknown_pipeline_reports_pending_and_active() -> None:
    runtime, statuses = new_runtime()
    status = runtime.status("p")
    assert (status.desired, status.state, status.running_version) == (
        DesiredState.ACTIVE,
        RunState.PENDING,
        None,
    )
    assert statuses == {}


def test_pause_and_resume_are_recorded_and_idempotent() -> None:
    runtime, _ = new_runtime()
    paused = runtime.pause("p", author="alice")
    assert runtime.is_paused("p")
    assert (paused.desired_changed_by, paused.desired_changed_ms) == ("alice", 100)
    assert runtime.pause("p", author="bob").desired_changed_by == "alice"
    resumed = runtime.resume("p", author="bob")
    assert not runtime.is_paused("p")
    assert resumed.desired_changed_by == "bob"


def test_reports_accumulate_counts_and_survive_a_reload() -> None:
    runtime, statuses = new_runtime()
    runtime.report(
        "p", state=RunState.RUNNING, running_version=3, records_in=10, records_out=7, lag=5
    )
    runtime.report(
        "p",
        state=RunState.RUNNING,
        running_version=3,
        records_in=5,
        records_out=5,
        records_dropped=1,
    )
    reloaded = PipelineRuntimeStore(statuses).status("p")
    assert (reloaded.records_in, reloaded.records_out, reloaded.records_dropped) == (15, 12, 1)
    assert reloaded.lag == 5
    assert reloaded.to_json()["state"] == "running"
    assert reloaded.to_json()["running_version"] == 3
    runtime.pause("p", author="a")
    failed = runtime.report("p", state=RunState.FAILED, running_version=3, error="boom")
    assert failed.desired is DesiredState.PAUSED and failed.error == "boom"
    runtime.forget("p")
    assert statuses == {}
