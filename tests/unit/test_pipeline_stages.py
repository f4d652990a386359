"""The pipeline engine steps (dedupe, window) and their crash-safe local state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.pipelines.stage_host import PipelineStages, step_fingerprint
from agents.pipelines.stages import DedupeStepStage, WindowStepStage
from tables.pipelines.types import Record
from tests.unit.pipeline_configs import COUNT_WINDOW, TUMBLING, make_config


def events(user: str, amounts: list[int], t0: int = 1_000) -> list[Record]:
    return [
        {"id": f"{user}{i}", "user": user, "amount": a, "event_time": t0 + i}
        for i, a in enumerate(amounts)
    ]


def window_config(spec: dict[str, Any], pid: str = "p1", name: str = "w") -> dict[str, Any]:
    steps = [{"type": "window", "name": name, "window": spec}]
    return make_config(id=pid, sources=["in"], steps=steps)


async def test_count_window_emits_each_closed_window_in_the_window_agent_shape() -> None:
    stage = WindowStepStage({"type": "window", "window": COUNT_WINDOW}, 0, {})
    first = await stage.process(events("a", [1, 2]) + events("b", [5]))
    assert first.outputs == [] and first.dropped == []
    second = await stage.process(events("a", [3, 4, 5, 6], t0=2_000) + events("b", [5, 5]))
    results = sorted(second.outputs, key=lambda r: (r["group_key"], r["start"]))
    assert [(r["group"], r["aggregates"]) for r in results] == [
        ({"user": "a"}, {"*.count": 3, "amount.sum": 6}),
        ({"user": "a"}, {"*.count": 3, "amount.sum": 15}),
        ({"user": "b"}, {"*.count": 3, "amount.sum": 15}),
    ]
    first_a = results[0]
    assert first_a["key"] == ["a"] and first_a["group_key"] == '["a"]'
    assert (first_a["start"], first_a["end"]) == (1_000, 2_000)  # earliest/latest event time
    assert first_a["final"] is True and first_a["kind"] == "count" and first_a["revision"] == 0


async def test_tumbling_window_closes_when_event_time_passes_its_end() -> None:
    stage = WindowStepStage({"type": "window", "window": TUMBLING}, 2, {})
    batch = [{"event_time": t} for t in (1_000, 2_000, 9_999, 12_000)]
    assert (await stage.process(batch)).outputs[0]["aggregates"] == {"*.count": 3}
    no_time = await stage.process([{"x": 1}])
    assert no_time.outputs == [] and no_time.dropped[0].step_index == 2
    late = await stage.process([{"event_time": 500}, {"event_time": 25_000}])
    assert [r["start"] for r in late.outputs] == [10_000]
    assert [d.reason for d in late.dropped] == ["late: its window was already closed"]


async def test_dedupe_drops_repeats_and_releases_a_failed_batch() -> None:
    step = {"type": "dedupe", "mode": "exact", "window": "1m"}
    stage = DedupeStepStage(step, 1, key_prefix="dn:test", redis=None)
    batch = [{"id": "a"}, {"id": "b"}, {"id": "a"}, {"no_id": 1}]
    result = await stage.process(batch)
    assert result.outputs == [{"id": "a"}, {"id": "b"}, {"no_id": 1}]
    assert [(d.record, d.step_index) for d in result.dropped] == [({"id": "a"}, 1)]
    await stage.commit()
    again = await stage.process([{"id": "b"}, {"id": "c"}])
    assert again.outputs == [{"id": "c"}] and again.dropped[0].reason.startswith("duplicate")
    await stage.abort()  # the sink failed: the retry must not see "c" as a duplicate
    retry = await stage.process([{"id": "b"}, {"id": "c"}])
    assert retry.outputs == [{"id": "c"}]


async def test_fuzzy_dedupe_ignores_the_listed_fields() -> None:
    step = {"type": "dedupe", "mode": "fuzzy", "ignore_fields": ["seen_at"]}
    stage = DedupeStepStage(step, 0, key_prefix="dn:test", redis=None)
    result = await stage.process([{"v": 1, "seen_at": 1}, {"v": 1, "seen_at": 2}, {"v": 2}])
    assert result.outputs == [{"v": 1, "seen_at": 1}, {"v": 2}]


async def run_batch(
    stages: PipelineStages, config: dict[str, Any], batch: list[tuple[int, Record]], version: int
) -> list[Record] | None:
    """What the runner does with a batch of (offset, record) from partition 0 of ``in``;
    None when the batch 'crashed' before the sink ack (aborted)."""
    compiled = stages.compile(config, version)
    fresh = [record for offset, record in batch if not stages.is_replayed("in", 0, offset)]
    stages.begin({("in", 0): max(offset for offset, _ in batch)})
    result = await compiled.process_batch(fresh)
    await stages.commit()
    return result.outputs


async def test_window_state_survives_a_restart_and_replays_are_skipped(tmp_path: Path) -> None:
    config = window_config(COUNT_WINDOW)
    stages = PipelineStages("p1", tmp_path / "p1", None)
    assert await run_batch(stages, config, list(enumerate(events("a", [1, 2]))), 1) == []
    stages.close()

    # restart: a new host on the same dir; the batch at offsets 0-1 is replayed with one more
    stages = PipelineStages("p1", tmp_path / "p1", None)
    replay = list(enumerate(events("a", [1, 2, 3])))
    outputs = await run_batch(stages, config, replay, 1)
    assert outputs is not None and [r["aggregates"]["amount.sum"] for r in outputs] == [6]

    # a failed batch leaves neither state nor applied offsets behind
    compiled = stages.compile(config, 1)
    stages.begin({("in", 0): 5})
    await compiled.process_batch(events("a", [10, 10]))
    await stages.abort()
    assert not stages.is_replayed("in", 3, 0) and not stages.is_replayed("in", 0, 3)
    assert stages.is_replayed("in", 0, 2)
    stages.close()


async def test_version_switch_keeps_unchanged_steps_and_drops_changed_ones(
    tmp_path: Path,
) -> None:
    stages = PipelineStages("p1", tmp_path / "p1", None)
    v1 = window_config(COUNT_WINDOW)
    await run_batch(stages, v1, list(enumerate(events("a", [1, 2]))), 1)
    # v2 renames the step and adds a filter after it: same engine, same state
    v2 = window_config(COUNT_WINDOW, name="renamed")
    v2["steps"].append({"type": "filter", "where": {"field": "key", "op": "exists"}})
    outputs = await run_batch(stages, v2, [(2, events("a", [3])[0])], 2)
    assert outputs is not None and outputs[0]["aggregates"]["*.count"] == 3
    # v3 changes the window: its state starts empty and the old step's keys are gone
    v3 = window_config({**COUNT_WINDOW, "size": 2})
    assert await run_batch(stages, v3, [(3, events("a", [4])[0])], 3) == []
    fingerprints = {key.split(b"/")[2] for key in stages.db().keys_with_prefix(b"s/0/")}
    assert fingerprints == {step_fingerprint(v3["steps"][0]).encode()}
    stages.close()


async def test_a_crash_before_the_commit_releases_the_lost_attempts_sightings(
    tmp_path: Path,
) -> None:
    config = make_config(id="p1", sources=["in"], steps=[{"type": "dedupe", "mode": "exact"}])
    stages = PipelineStages("p1", tmp_path / "p1", None)
    compiled = stages.compile(config, 1)
    assert (await compiled.process_batch([{"id": "a"}])).outputs == [{"id": "a"}]
    await stages.commit()
    attempt = await compiled.process_batch([{"id": "b"}, {"id": "a"}])
    assert attempt.outputs == [{"id": "b"}]
    first = stages.stage_at(0)
    assert isinstance(first, DedupeStepStage)
    shared = first.engine.state  # plays the part of Redis, which outlives the worker
    stages.close()  # the worker dies before the sink acknowledged "b"

    stages = PipelineStages("p1", tmp_path / "p1", None)
    compiled = stages.compile(config, 1)
    second = stages.stage_at(0)
    assert isinstance(second, DedupeStepStage)
    second.engine.state = shared
    replay = await compiled.process_batch([{"id": "b"}, {"id": "a"}])
    assert replay.outputs == [{"id": "b"}]  # not a duplicate of its own lost attempt
    await stages.commit()
    again = await compiled.process_batch([{"id": "b"}])
    assert again.outputs == []  # committed now: a later repeat is a duplicate
    stages.close()
