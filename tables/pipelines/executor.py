"""Compiles a pipeline config into a batch executor for the runner.

Pure steps (validate, filter, map, select) run inline over the whole batch without awaiting;
stateful steps (dedupe, window) are engines passed in as ``StageFactory``s, awaited once per batch.
Input records are never mutated: map/select copy only the containers they change.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from tables.pipelines.expressions import compile_expression
from tables.pipelines.fieldpaths import MISSING, delete_path, get_path, set_path, split_path
from tables.pipelines.jsonpointer import to_pointer
from tables.pipelines.types import BatchStage, DroppedRecord, Record, StageFactory, StageResult
from tables.pipelines.validation import WindowSpecValidator, check_pipeline_config

RecordStep = Callable[[Record], "Record | str"]
"""A pure step: the (possibly new) record, or a string giving the reason to drop it."""


class MissingEngineError(RuntimeError):
    """A dedupe/window step has no engine; the runner must pass a factory for it."""


def _validate_step(step: dict[str, Any]) -> RecordStep:
    validator = Draft202012Validator(step["schema"])

    def run(record: Record) -> Record | str:
        if validator.is_valid(record):
            return record
        error = best_match(validator.iter_errors(record))
        return f"invalid at '{to_pointer(error.absolute_path)}': {error.message}"

    return run


def _filter_step(step: dict[str, Any]) -> RecordStep:
    predicate = compile_expression(step["where"])
    return lambda record: record if predicate(record) else "filter condition not met"


def _constant(value: Any) -> Callable[[], Any]:
    if isinstance(value, dict | list):
        return lambda: copy.deepcopy(value)
    return lambda: value


def _map_step(step: dict[str, Any]) -> RecordStep:
    renames = [(split_path(old), split_path(new)) for old, new in step.get("rename", {}).items()]
    sets = [(split_path(path), _constant(value)) for path, value in step.get("set", {}).items()]
    drops = [split_path(path) for path in step.get("drop", [])]

    def run(record: Record) -> Record | str:
        for old, new in renames:
            value = get_path(record, old)
            if value is not MISSING:
                record = set_path(delete_path(record, old), new, value)
        for path, make in sets:
            record = set_path(record, path, make())
        for path in drops:
            record = delete_path(record, path)
        return record

    return run


def _select_step(step: dict[str, Any]) -> RecordStep:
    paths = [split_path(path) for path in step["fields"]]
    if all(len(path) == 1 for path in paths):
        names = [path[0] for path in paths]
        return lambda record: {name: record[name] for name in names if name in record}

    def run(record: Record) -> Record | str:
        selected: Record = {}
        for path in paths:
            value = get_path(record, path)
            if value is not MISSING:
                selected = set_path(selected, path, value)
        return selected

    return run


_PURE_STEPS: dict[str, Callable[[dict[str, Any]], RecordStep]] = {
    "validate": _validate_step,
    "filter": _filter_step,
    "map": _map_step,
    "select": _select_step,
}


@dataclass(frozen=True)
class _PureSegment:
    """Consecutive pure steps, fused so each record runs through them in one loop."""

    steps: list[tuple[int, str, RecordStep]]

    def run(self, records: list[Record], dropped: list[DroppedRecord]) -> list[Record]:
        outputs: list[Record] = []
        for original in records:
            record: Record | str = original
            current = original
            for index, step_type, step in self.steps:
                record = step(current)
                if isinstance(record, str):
                    dropped.append(DroppedRecord(current, index, step_type, record))
                    break
                current = record
            else:
                outputs.append(current)
        return outputs


@dataclass(frozen=True)
class _EngineSegment:
    step_index: int
    stage: BatchStage


class CompiledPipeline:
    """The executable form of one pipeline version; build a new one for each version switch."""

    def __init__(
        self,
        config: dict[str, Any],
        segments: list[_PureSegment | _EngineSegment],
        version: int | None,
    ) -> None:
        self.config = config
        self.version = version
        self.sources: list[str] = list(config["sources"])
        self.sink: dict[str, Any] = dict(config["sink"])
        self._segments = segments

    @property
    def has_engine_stages(self) -> bool:
        return any(isinstance(segment, _EngineSegment) for segment in self._segments)

    async def process_batch(self, records: list[Record]) -> StageResult:
        dropped: list[DroppedRecord] = []
        for segment in self._segments:
            if not records:
                break
            if isinstance(segment, _PureSegment):
                records = segment.run(records, dropped)
            else:
                result = await segment.stage.process(records)
                records = result.outputs
                dropped.extend(result.dropped)
        return StageResult(records, dropped)

    def process_batch_sync(self, records: list[Record]) -> StageResult:
        """For pipelines without engine steps (tests, the HTTP dry-run); no event loop needed."""
        dropped: list[DroppedRecord] = []
        for segment in self._segments:
            if isinstance(segment, _EngineSegment):
                raise MissingEngineError("this pipeline has engine steps: use process_batch")
            records = segment.run(records, dropped)
        return StageResult(records, dropped)


def compile_pipeline(
    config: dict[str, Any],
    *,
    version: int | None = None,
    dedupe: StageFactory | None = None,
    window: StageFactory | None = None,
    window_validator: WindowSpecValidator | None = None,
) -> CompiledPipeline:
    """Validates (422 on error) and compiles; a dedupe step with mode ``off`` needs no engine."""
    check_pipeline_config(config, window_validator=window_validator)
    segments: list[_PureSegment | _EngineSegment] = []
    pure: list[tuple[int, str, RecordStep]] = []
    for index, step in enumerate(config["steps"]):
        step_type = step["type"]
        if step_type in _PURE_STEPS:
            pure.append((index, step_type, _PURE_STEPS[step_type](step)))
            continue
        if step_type == "dedupe" and step["mode"] == "off":
            continue
        factory = dedupe if step_type == "dedupe" else window
        if factory is None:
            raise MissingEngineError(f"step {index} ({step_type}) needs a {step_type} engine")
        if pure:
            segments.append(_PureSegment(pure))
            pure = []
        segments.append(_EngineSegment(index, factory(step, index)))
    if pure:
        segments.append(_PureSegment(pure))
    return CompiledPipeline(config, segments, version)
