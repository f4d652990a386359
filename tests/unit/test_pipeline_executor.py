from __future__ import annotations

import copy
import time
from typing import Any

import pytest

from tables.pipelines import (
    DroppedRecord,
    MissingEngineError,
    PipelineValidationError,
    StageResult,
    compile_pipeline,
)
from tables.pipelines.types import Record
from tests.unit.pipeline_configs import make_config

WINDOW = {"type": "tumbling", "name": "w", "size": "1m", "aggregate": {"*": ["count"]}}


def run(steps: list[dict[str, Any]], records: list[Record]) -> StageResult:
    return compile_pipeline(make_config(steps=steps)).process_batch_sync(records)


def where(expression: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"type": "filter", "where": expression}]


def kept_ids(steps: list[dict[str, Any]], records: list[Record]) -> list[Any]:
    return [r["id"] for r in run(steps, records).outputs]


RECORDS: list[Record] = [
    {"id": 1, "payload": {"amount": 5, "currency": "EUR"}, "tags": ["a", "b"]},
    {"id": 2, "payload": {"amount": 50, "currency": "USD"}, "tags": []},
    {"id": 3, "payload": {"amount": "500", "currency": "EUR"}},
    {"id": 4, "payload": {"amount": True}},
    {"id": 5},
]


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ({"field": "payload.amount", "op": "gt", "value": 10}, [2]),
        ({"field": "payload.amount", "op": "lte", "value": 5}, [1]),
        ({"field": "payload.amount", "op": "gte", "value": "100"}, [3]),
        ({"field": "payload.amount", "op": "eq", "value": 1}, []),
        ({"field": "payload.amount", "op": "eq", "value": True}, [4]),
        ({"field": "payload.currency", "op": "ne", "value": "EUR"}, [2]),
        ({"field": "payload.currency", "op": "in", "value": ["USD", "GBP"]}, [2]),
        ({"field": "payload.currency", "op": "not_in", "value": ["USD"]}, [1, 3]),
        ({"field": "tags", "op": "contains", "value": "b"}, [1]),
        ({"field": "payload.currency", "op": "contains", "value": "U"}, [1, 2, 3]),
        ({"field": "payload.currency", "op": "starts_with", "value": "US"}, [2]),
        ({"field": "payload.currency", "op": "ends_with", "value": "UR"}, [1, 3]),
        ({"field": "tags.1", "op": "eq", "value": "b"}, [1]),
        ({"field": "payload", "op": "exists"}, [1, 2, 3, 4]),
        ({"field": "payload.currency", "op": "not_exists"}, [4, 5]),
        (
            {
                "and": [
                    {"field": "payload.currency", "op": "eq", "value": "EUR"},
                    {"not": {"field": "payload.amount", "op": "lt", "value": 10}},
                ]
            },
            [3],
        ),
        (
            {
                "or": [
                    {"field": "id", "op": "eq", "value": 5},
                    {"field": "payload.amount", "op": "gt", "value": 10},
                ]
            },
            [2, 5],
        ),
    ],
)
def test_filter_expressions(expression: dict[str, Any], expected: list[int]) -> None:
    assert kept_ids(where(expression), RECORDS) == expected


def test_filter_drops_carry_step_and_reason() -> None:
    steps = [
        {"type": "select", "fields": ["id", "payload"]},
        *where({"field": "id", "op": "eq", "value": 2}),
    ]
    result = run(steps, RECORDS[:2])
    assert result.outputs == [{"id": 2, "payload": RECORDS[1]["payload"]}]
    assert result.dropped == [
        DroppedRecord(
            {"id": 1, "payload": RECORDS[0]["payload"]}, 1, "filter", "filter condition not met"
        )
    ]


def test_validate_step_drops_invalid_records_with_pointer() -> None:
    schema = {
        "type": "object",
        "required": ["id"],
        "properties": {"payload": {"type": "object", "properties": {"amount": {"type": "number"}}}},
    }
    result = run([{"type": "validate", "schema": schema}], RECORDS)
    assert [r["id"] for r in result.outputs] == [1, 2, 5]
    assert [(d.record["id"], d.step_type) for d in result.dropped] == [
        (3, "validate"),
        (4, "validate"),
    ]
    assert "/payload/amount" in result.dropped[0].reason


def test_map_renames_sets_and_drops_without_touching_input() -> None:
    records = copy.deepcopy(RECORDS[:2])
    before = copy.deepcopy(records)
    steps = [
        {
            "type": "map",
            "rename": {"payload.amount": "amount", "missing": "never"},
            "set": {"meta.source": "web", "meta.flags": ["x"], "id": 0},
            "drop": ["tags", "payload.currency"],
        }
    ]
    outputs = run(steps, records).outputs
    assert records == before
    assert outputs == [
        {"id": 0, "payload": {}, "amount": 5, "meta": {"source": "web", "flags": ["x"]}},
        {"id": 0, "payload": {}, "amount": 50, "meta": {"source": "web", "flags": ["x"]}},
    ]
    outputs[0]["meta"]["flags"].append("y")
    assert outputs[1]["meta"]["flags"] == ["x"], "constants must not be shared between records"


def test_map_set_through_list_index_and_scalar_parent() -> None:
    steps = [{"type": "map", "set": {"tags.0": "z", "id.inner": 1, "tags.9": "ignored"}}]
    assert run(steps, [RECORDS[0]]).outputs == [
        {"id": {"inner": 1}, "payload": RECORDS[0]["payload"], "tags": ["z", "b"]}
    ]


def test_select_keeps_only_listed_fields_top_level_and_nested() -> None:
    assert run([{"type": "select", "fields": ["id", "nope"]}], RECORDS[:1]).outputs == [{"id": 1}]
    nested = run([{"type": "select", "fields": ["payload.currency", "id"]}], RECORDS[:3]).outputs
    assert nested == [
        {"payload": {"currency": "EUR"}, "id": 1},
        {"payload": {"currency": "USD"}, "id": 2},
        {"payload": {"currency": "EUR"}, "id": 3},
    ]


def test_compile_rejects_invalid_config_with_422_error() -> None:
    with pytest.raises(PipelineValidationError):
        compile_pipeline(make_config(steps=[{"type": "filter"}]))


def test_engine_steps_need_an_engine_except_dedupe_off() -> None:
    assert (
        compile_pipeline(make_config(steps=[{"type": "dedupe", "mode": "off"}]))
        .process_batch_sync(RECORDS)
        .outputs
        == RECORDS
    )
    with pytest.raises(MissingEngineError):
        compile_pipeline(make_config(steps=[{"type": "dedupe", "mode": "exact"}]))
    with pytest.raises(MissingEngineError):
        compile_pipeline(make_config(steps=[{"type": "window", "window": WINDOW}]))


class SeenIdsStage:
    """A minimal dedupe engine: drops ids it has already seen, one call per batch."""

    def __init__(self, step: dict[str, Any], step_index: int) -> None:
        self.step_index = step_index
        self.key_field = step.get("key_field", "id")
        self.seen: set[Any] = set()
        self.batches: list[int] = []

    async def process(self, records: list[Record]) -> StageResult:
        self.batches.append(len(records))
        outputs, dropped = [], []
        for record in records:
            key = record.get(self.key_field)
            if key in self.seen:
                dropped.append(DroppedRecord(record, self.step_index, "dedupe", "duplicate"))
            else:
                self.seen.add(key)
                outputs.append(record)
        return StageResult(outputs, dropped)


async def test_engine_stage_gets_the_filtered_batch_once_and_its_drops_are_reported() -> None:
    engines: list[SeenIdsStage] = []

    def dedupe_factory(step: dict[str, Any], index: int) -> SeenIdsStage:
        engines.append(SeenIdsStage(step, index))
        return engines[-1]

    steps = [
        {"type": "filter", "where": {"field": "id", "op": "lt", "value": 100}},
        {"type": "dedupe", "mode": "exact"},
        {"type": "select", "fields": ["id"]},
    ]
    pipeline = compile_pipeline(make_config(steps=steps), version=7, dedupe=dedupe_factory)
    assert pipeline.version == 7 and pipeline.has_engine_stages
    batch: list[Record] = [{"id": 1, "x": 1}, {"id": 1, "x": 2}, {"id": 200}, {"id": 2}]
    outputs, dropped = await pipeline.process_batch(batch)
    assert outputs == [{"id": 1}, {"id": 2}]
    assert [(d.step_index, d.reason) for d in dropped] == [
        (0, "filter condition not met"),
        (1, "duplicate"),
    ]
    assert engines[0].batches == [3]
    with pytest.raises(MissingEngineError):
        pipeline.process_batch_sync(batch)


def test_pure_steps_are_fast() -> None:
    records: list[Record] = [
        {"id": i, "payload": {"amount": i % 100, "currency": "EUR"}, "ts": i} for i in range(20_000)
    ]
    steps = [
        {"type": "filter", "where": {"field": "payload.amount", "op": "gt", "value": 10}},
        {"type": "map", "rename": {"payload.amount": "amount"}, "set": {"v": 1}, "drop": ["ts"]},
        {"type": "select", "fields": ["id", "amount", "v"]},
    ]
    pipeline = compile_pipeline(make_config(steps=steps))
    started = time.perf_counter()
    outputs, dropped = pipeline.process_batch_sync(records)
    elapsed = time.perf_counter() - started
    assert len(outputs) + len(dropped) == len(records)
    assert outputs[0] == {"id": 11, "amount": 11, "v": 1}
    assert len(records) / elapsed > 50_000, f"{len(records) / elapsed:.0f} records/s"
