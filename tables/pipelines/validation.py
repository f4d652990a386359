"""Validation of pipeline configs: the JSON Schema first, then checks a schema cannot express.

Every problem becomes a ``ConfigIssue`` whose pointer names the offending field itself (a missing
or unknown property is reported at its own path), which is what a 422 answer shows the user.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from jsonschema import Draft202012Validator, SchemaError, ValidationError

from tables.pipelines.engines import dedupe_step_issues, window_spec_issues
from tables.pipelines.errors import PipelineValidationError
from tables.pipelines.jsonpointer import parse_pointer, to_pointer
from tables.pipelines.schema import raw_schema
from tables.pipelines.types import ConfigIssue

WindowSpecValidator = Callable[[dict[str, Any]], Sequence[ConfigIssue]]
"""Checks a window step's inner spec; pointers are relative to the spec (``/size``)."""

MAX_EXPRESSION_DEPTH = 32

_VALIDATOR = Draft202012Validator(raw_schema())
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _schema_issues(error: ValidationError) -> Iterator[ConfigIssue]:
    path: list[str | int] = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        for name in error.validator_value:
            if name not in instance and repr(name) in error.message:
                yield ConfigIssue(to_pointer([*path, name]), "required field is missing")
                return
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        known = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
        extras = [name for name in instance if name not in known]
        if extras and error.validator_value is False:
            for name in extras:
                yield ConfigIssue(to_pointer([*path, name]), "unknown field")
            return
    if error.validator == "oneOf":
        yield ConfigIssue(
            to_pointer(path),
            "must be a duration such as '30s', '5m', '1h', or an integer of milliseconds",
        )
        return
    yield ConfigIssue(to_pointer(path), error.message)


def _expression_depth(expression: Any) -> int:
    if not isinstance(expression, dict):
        return 1
    children: list[Any] = []
    for key in ("and", "or"):
        if isinstance(expression.get(key), list):
            children.extend(expression[key])
    if "not" in expression:
        children.append(expression["not"])
    return 1 + max((_expression_depth(c) for c in children), default=0)


def _step_issues(
    index: int, step: dict[str, Any], window_validator: WindowSpecValidator
) -> Iterator[ConfigIssue]:
    base: list[str | int] = ["steps", index]
    step_type = step["type"]
    if step_type == "validate":
        try:
            Draft202012Validator.check_schema(step["schema"])
        except SchemaError as exc:
            pointer = to_pointer([*base, "schema", *exc.absolute_path])
            yield ConfigIssue(pointer, f"not a valid JSON Schema: {exc.message}")
    elif step_type == "dedupe":
        for issue in dedupe_step_issues(step):
            yield ConfigIssue(to_pointer(base) + issue.pointer, issue.message)
    elif step_type == "map":
        if not any(key in step for key in ("rename", "set", "drop")):
            yield ConfigIssue(to_pointer(base), "a map step needs one of rename, set, drop")
    elif step_type == "filter":
        if _expression_depth(step["where"]) > MAX_EXPRESSION_DEPTH:
            yield ConfigIssue(
                to_pointer([*base, "where"]),
                f"expression nested deeper than {MAX_EXPRESSION_DEPTH} levels",
            )
    elif step_type == "window":
        for issue in window_validator(step["window"]):
            yield ConfigIssue(to_pointer([*base, "window"]) + issue.pointer, issue.message)


def validate_pipeline_config(
    document: Any, *, window_validator: WindowSpecValidator | None = None
) -> list[ConfigIssue]:
    """All problems of a config, sorted by pointer; empty when the config is valid."""
    issues: list[ConfigIssue] = []
    for error in _VALIDATOR.iter_errors(document):
        issues.extend(_schema_issues(error))
    if not issues:
        for index, step in enumerate(document["steps"]):
            issues.extend(_step_issues(index, step, window_validator or window_spec_issues))
        sink = document["sink"]
        if sink["type"] == "topic" and sink["topic"] in document["sources"]:
            issues.append(
                ConfigIssue("/sink/topic", "the sink topic is also a source (it would loop)")
            )
    unique = dict.fromkeys(issues)
    return sorted(unique, key=lambda issue: _document_order(document, issue.pointer))


def _document_order(document: Any, pointer: str) -> list[tuple[int, str]]:
    """Sort key following the document: array index, or member position in the user's object
    (a missing member sorts after the present ones, by name)."""
    key: list[tuple[int, str]] = []
    current = document
    for token in parse_pointer(pointer):
        if isinstance(current, list) and token.isdigit():
            key.append((int(token), ""))
            current = current[int(token)] if int(token) < len(current) else None
        elif isinstance(current, dict):
            names = list(current)
            key.append((names.index(token), "") if token in current else (len(names), token))
            current = current.get(token)
        else:
            key.append((0, token))
            current = None
    return key


def check_pipeline_config(
    document: Any, *, window_validator: WindowSpecValidator | None = None
) -> dict[str, Any]:
    """The document itself when valid; raises ``PipelineValidationError`` (422) otherwise."""
    issues = validate_pipeline_config(document, window_validator=window_validator)
    if issues:
        raise PipelineValidationError(issues)
    assert isinstance(document, dict)
    return document
