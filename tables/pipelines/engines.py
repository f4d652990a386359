"""Adapters to the stage engines' own validators, so a pipeline config is checked with exactly
the rules its dedupe and window engines will apply (errors re-pointed into the pipeline doc)."""

from __future__ import annotations

from typing import Any

from tables.durations import parse_duration_ms
from tables.pipelines.types import ConfigIssue

# step field -> (engine field, factor); other dedupe step fields keep their names
_DEDUPE_DURATIONS = {"window": "window_ms", "late_horizon": "late_horizon_ms"}
_DEDUPE_ENGINE_TO_STEP = {engine: step for step, engine in _DEDUPE_DURATIONS.items()}


def dedupe_config_fields(step: dict[str, Any]) -> dict[str, Any]:
    """The dedupe step as ``tables.dedupe.config.parse_dedupe_config`` input (durations in ms)."""
    fields: dict[str, Any] = {}
    for name, value in step.items():
        if name in ("type", "name"):
            continue
        if name in _DEDUPE_DURATIONS:
            fields[_DEDUPE_DURATIONS[name]] = parse_duration_ms(value)
        else:
            fields[name] = value
    return fields


def dedupe_step_issues(step: dict[str, Any]) -> list[ConfigIssue]:
    """Pointers are relative to the step (``/window``)."""
    from tables.dedupe.config import DedupeConfigError, parse_dedupe_config

    try:
        parse_dedupe_config(dedupe_config_fields(step))
    except DedupeConfigError as exc:
        name = _DEDUPE_ENGINE_TO_STEP.get(exc.field_name, exc.field_name)
        return [ConfigIssue(f"/{name}", exc.detail)]
    return []


def window_spec_issues(spec: dict[str, Any]) -> list[ConfigIssue]:
    """Pointers are relative to the window spec (``/size``)."""
    from tables.windows.spec import WindowSpecError, parse_window_spec

    try:
        parse_window_spec(spec)
    except WindowSpecError as exc:
        pointer = "" if exc.field == "<spec>" else f"/{exc.field}"
        message = str(exc).split(": ", 1)[-1]
        return [ConfigIssue(pointer, message)]
    return []
