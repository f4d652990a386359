"""Shared builders for pipeline unit tests (plain functions, not fixtures, so tests read flat)."""

from __future__ import annotations

from typing import Any


def make_config(**overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "name": "orders",
        "description": "big orders to the audit topic",
        "sources": ["orders.raw"],
        "steps": [
            {"type": "filter", "where": {"field": "payload.amount", "op": "gt", "value": 10}},
            {"type": "map", "rename": {"payload.amount": "amount"}, "set": {"tier": "big"}},
        ],
        "sink": {"type": "topic", "topic": "orders.big"},
    }
    config.update(overrides)
    return config


# window steps as pipelines (and their tests) declare them
COUNT_WINDOW = {
    "name": "per_user",
    "type": "count",
    "size": 3,
    "group_by": ["user"],
    "aggregate": {"*": ["count"], "amount": ["sum"]},
    "emit": "on_close",
}
TUMBLING = {
    "name": "per_10s",
    "type": "tumbling",
    "size": "10s",
    "aggregate": {"*": ["count"]},
    "emit": "on_close",
}
