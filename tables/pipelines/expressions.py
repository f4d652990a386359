"""The filter expression language, compiled to closures (no ``eval``).

``{"field": "payload.amount", "op": "gt", "value": 10}`` combined with ``{"and": [...]}``,
``{"or": [...]}`` and ``{"not": ...}``. A missing field matches only ``not_exists``; values of
different JSON types never order (``"10" > 9`` is false, not an error), so a filter never fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tables.pipelines.fieldpaths import MISSING, get_path, split_path
from tables.pipelines.jsonvalues import json_equal
from tables.pipelines.types import Record

Predicate = Callable[[Record], bool]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _orderable(left: Any, right: Any) -> bool:
    return (_is_number(left) and _is_number(right)) or (
        isinstance(left, str) and isinstance(right, str)
    )


def _contains(actual: Any, expected: Any) -> bool:
    if isinstance(actual, str):
        return isinstance(expected, str) and expected in actual
    if isinstance(actual, list):
        return any(json_equal(item, expected) for item in actual)
    return False


def _comparison(op: str, expected: Any) -> Callable[[Any], bool]:
    if op == "eq":
        return lambda actual: json_equal(actual, expected)
    if op == "ne":
        return lambda actual: not json_equal(actual, expected)
    if op == "gt":
        return lambda actual: _orderable(actual, expected) and actual > expected
    if op == "gte":
        return lambda actual: _orderable(actual, expected) and actual >= expected
    if op == "lt":
        return lambda actual: _orderable(actual, expected) and actual < expected
    if op == "lte":
        return lambda actual: _orderable(actual, expected) and actual <= expected
    if op == "in":
        return lambda actual: any(json_equal(actual, item) for item in expected)
    if op == "not_in":
        return lambda actual: not any(json_equal(actual, item) for item in expected)
    if op == "contains":
        return lambda actual: _contains(actual, expected)
    if op == "starts_with":
        return lambda actual: isinstance(actual, str) and actual.startswith(expected)
    if op == "ends_with":
        return lambda actual: isinstance(actual, str) and actual.endswith(expected)
    if op == "exists":
        return lambda actual: True
    raise ValueError(f"unknown operator {op!r}")


def compile_expression(expression: dict[str, Any]) -> Predicate:
    """A predicate for an expression that already passed ``validate_pipeline_config``."""
    if "and" in expression:
        parts = [compile_expression(e) for e in expression["and"]]
        return lambda record: all(part(record) for part in parts)
    if "or" in expression:
        parts = [compile_expression(e) for e in expression["or"]]
        return lambda record: any(part(record) for part in parts)
    if "not" in expression:
        inner = compile_expression(expression["not"])
        return lambda record: not inner(record)
    segments = split_path(expression["field"])
    op = expression["op"]
    if op == "not_exists":
        return lambda record: get_path(record, segments) is MISSING
    test = _comparison(op, expression.get("value"))

    def predicate(record: Record) -> bool:
        actual = get_path(record, segments)
        return actual is not MISSING and test(actual)

    return predicate
