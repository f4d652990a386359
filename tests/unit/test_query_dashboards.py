"""Saved dashboards: storage round trip, validation, and one concurrent refresh of all widgets."""

from __future__ import annotations

from typing import Any

import pytest

from tables.aggstore import InMemoryAggregateStore, WindowAggregate
from tables.query import (
    Dashboard,
    DashboardRepository,
    EngineConfig,
    InMemoryKeyValueStore,
    InvalidQuery,
    MetricCatalog,
    MetricSpec,
    QueryEngine,
    UnknownMetric,
    refresh,
)

MIN = 60_000
HOUR = 60 * MIN
NOW = 48 * HOUR


def widget(ident: str, metric: str, since: str, **extra: Any) -> dict[str, Any]:
    query = {"metric": metric, "from": f"now-{since}", "to": "now", "step": "5m"}
    return {"id": ident, "query": {**query, "aggregate": "v.sum", **extra}}


@pytest.fixture
def engine() -> QueryEngine:
    store = InMemoryAggregateStore()
    store.put_many(
        WindowAggregate(metric, key, t, t + MIN, {"v.sum": 1.0, "v.count": 1})
        for metric in ("a", "b")
        for key in ("x", "y")
        for t in range(NOW - 24 * HOUR, NOW, MIN)
    )
    catalog = MetricCatalog([MetricSpec("a", MIN, ("k",)), MetricSpec("b", MIN, ("k",))])
    return QueryEngine(store, catalog, EngineConfig(), clock=lambda: NOW)


def test_round_trip_through_the_kv_store() -> None:
    repo = DashboardRepository(InMemoryKeyValueStore())
    board = Dashboard.from_dict({"title": "ops", "widgets": [widget("w1", "a", "1h")]}, "ops")
    repo.put(board)
    assert repo.get("ops") == board
    assert repo.ids() == ["ops"]
    repo.delete("ops")
    assert repo.get("ops") is None


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ({"widgets": "nope"}, "must be a list"),
        ({"widgets": [{"id": "w"}]}, "'query' object"),
        ({"widgets": [widget("w", "a", "1h"), widget("w", "b", "1h")]}, "unique"),
        ({"title": 5, "widgets": []}, "title"),
    ],
)
def test_malformed_dashboards_are_rejected(raw: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InvalidQuery, match=fragment):
        Dashboard.from_dict(raw, "d")


def test_validate_names_the_bad_widget(engine: QueryEngine) -> None:
    widgets = [widget("ok", "a", "1h"), widget("w2", "zz", "1h")]
    board = Dashboard.from_dict({"widgets": widgets}, "d")
    with pytest.raises(UnknownMetric, match="widget 'w2'"):
        board.validate(engine)


async def test_refresh_runs_widgets_together_and_shares_reads(engine: QueryEngine) -> None:
    spans = ["15m", "1h", "6h", "24h"]
    widgets = [
        widget(f"w{i}", metric, span, **({"group_by": ["k"]} if i % 2 else {}))
        for i, (metric, span) in enumerate((m, s) for m in ("a", "b") for s in spans * 3)
    ]
    widgets.append(widget("broken", "a", "1h", step="90s"))
    board = Dashboard.from_dict({"title": "t", "widgets": widgets}, "d")
    data = await refresh(board, engine)
    assert [w["id"] for w in data["widgets"]] == [w["id"] for w in widgets]
    assert data["widgets"][-1]["error"]["status"] == 400
    day = data["widgets"][3]["result"]  # metric a, 24h, grouped by k
    assert [s["key"] for s in day["series"]] == [{"k": "x"}, {"k": "y"}]
    assert len(day["series"][0]["points"]) == 24 * 12
    assert day["series"][0]["points"][0][1] == 5.0  # 5 one-minute windows of 1.0
    hour = data["widgets"][4]["result"]  # metric a, 15m, not grouped
    assert [p[1] for p in hour["series"][0]["points"]] == [10.0, 10.0, 10.0]
    assert engine.metrics.counts["backend_fetches"] == 2  # one merged read per metric
    again = await refresh(board, engine)
    assert again == data
    assert engine.metrics.counts["backend_fetches"] == 2  # all from cache
