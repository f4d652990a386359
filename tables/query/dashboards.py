"""Saved dashboards (widgets = queries, with absolute or ``now-…`` relative ranges) and refresh.

Stored as JSON under ``dashboard:<id>`` in any ``KeyValueStore``. ``refresh`` runs every widget
through the engine at once, so identical and overlapping widgets share fetches and cache blocks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from tables.query.engine import QueryEngine
from tables.query.errors import InvalidQuery, QueryError
from tables.query.types import KeyValueStore

MAX_WIDGETS = 100


@dataclass(frozen=True)
class Widget:
    id: str
    query: Mapping[str, Any]
    title: str = ""


@dataclass(frozen=True)
class Dashboard:
    id: str
    title: str
    widgets: tuple[Widget, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "widgets": [
                {"id": w.id, "title": w.title, "query": dict(w.query)} for w in self.widgets
            ],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], dashboard_id: str | None = None) -> Dashboard:
        """Parse a ``PUT /v1/dashboards/{id}`` body; the path id wins over a body id."""
        if not isinstance(raw, Mapping):
            raise InvalidQuery("dashboard must be a JSON object")
        ident = dashboard_id if dashboard_id is not None else raw.get("id")
        if not isinstance(ident, str) or not ident:
            raise InvalidQuery("dashboard needs a non-empty string id")
        title = raw.get("title", "")
        widgets_raw = raw.get("widgets")
        if not isinstance(title, str):
            raise InvalidQuery("dashboard title must be a string")
        if not isinstance(widgets_raw, list):
            raise InvalidQuery("dashboard 'widgets' must be a list")
        if len(widgets_raw) > MAX_WIDGETS:
            raise InvalidQuery(f"a dashboard holds at most {MAX_WIDGETS} widgets")
        widgets: list[Widget] = []
        for index, item in enumerate(widgets_raw):
            if not isinstance(item, Mapping) or not isinstance(item.get("query"), Mapping):
                raise InvalidQuery(f"widgets[{index}] must be an object with a 'query' object")
            widget_id = item.get("id", str(index))
            widget_title = item.get("title", "")
            if not isinstance(widget_id, str) or not isinstance(widget_title, str):
                raise InvalidQuery(f"widgets[{index}]: id and title must be strings")
            widgets.append(Widget(widget_id, dict(item["query"]), widget_title))
        if len({w.id for w in widgets}) != len(widgets):
            raise InvalidQuery("widget ids must be unique within a dashboard")
        return cls(ident, title, tuple(widgets))

    def validate(self, engine: QueryEngine) -> None:
        """Reject a dashboard whose widget queries would fail (unknown metric, bad range...)."""
        for widget in self.widgets:
            try:
                engine.parse(widget.query)
            except QueryError as exc:
                raise type(exc)(f"widget {widget.id!r}: {exc}") from None


class InMemoryKeyValueStore:
    def __init__(self) -> None:
        self._data: dict[str, bytes] = {}

    def get(self, key: str) -> bytes | None:
        return self._data.get(key)

    def set(self, key: str, value: bytes) -> None:
        self._data[key] = value

    def delete(self, key: str) -> None:
        self._data.pop(key, None)

    def list_keys(self) -> list[str]:
        return sorted(self._data)


class DashboardRepository:
    PREFIX = "dashboard:"

    def __init__(self, kv: KeyValueStore) -> None:
        self._kv = kv

    def put(self, dashboard: Dashboard) -> None:
        self._kv.set(self.PREFIX + dashboard.id, orjson.dumps(dashboard.to_dict()))

    def get(self, dashboard_id: str) -> Dashboard | None:
        raw = self._kv.get(self.PREFIX + dashboard_id)
        return None if raw is None else Dashboard.from_dict(orjson.loads(raw))

    def delete(self, dashboard_id: str) -> None:
        self._kv.delete(self.PREFIX + dashboard_id)

    def ids(self) -> list[str]:
        return [k[len(self.PREFIX) :] for k in self._kv.list_keys() if k.startswith(self.PREFIX)]


async def refresh(dashboard: Dashboard, engine: QueryEngine) -> dict[str, Any]:
    """Body of ``GET /v1/dashboards/{id}/data``: every widget's result or error, in order."""

    async def one(widget: Widget) -> dict[str, Any]:
        try:
            return {"id": widget.id, "result": await engine.query(widget.query)}
        except QueryError as exc:
            return {"id": widget.id, "error": exc.to_dict()}

    results = await asyncio.gather(*(one(w) for w in dashboard.widgets))
    return {"id": dashboard.id, "title": dashboard.title, "widgets": list(results)}
