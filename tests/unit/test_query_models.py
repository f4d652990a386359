"""Query validation: each mistake maps to its error class and HTTP status."""

from __future__ import annotations

from typing import Any

import pytest

from tables.query import (
    AggregateFn,
    InvalidQuery,
    MetricCatalog,
    MetricSpec,
    QueryLimits,
    ResultTooLarge,
    UnknownMetric,
)
from tables.query.models import parse_query

MIN = 60_000
NOW = 1_700_000_000_000 + 30_000  # not aligned to a minute
CATALOG = MetricCatalog(
    [MetricSpec("clicks", MIN, dimensions=("source", "country"), fields=("clicks", "amount"))]
)


def parse(**overrides: Any) -> Any:
    body: dict[str, Any] = {
        "metric": "clicks",
        "from": "now-1h",
        "to": "now",
        "step": "5m",
        "aggregate": "clicks.count",
    }
    body.update(overrides)
    return parse_query(body, CATALOG, NOW, QueryLimits(max_points_per_series=1000))


def test_relative_range_is_aligned_to_step() -> None:
    query = parse(group_by=["source"], filters={"country": ["de", "fr"], "source": "web"})
    assert query.from_ms % (5 * MIN) == 0 and query.to_ms % (5 * MIN) == 0
    assert query.from_ms <= NOW - 3_600_000 < query.from_ms + 5 * MIN
    assert query.to_ms - 5 * MIN < NOW <= query.to_ms
    assert query.fn is AggregateFn.COUNT and query.field == "clicks"
    assert query.filters == (("country", frozenset({"de", "fr"})), ("source", frozenset({"web"})))


def test_same_request_same_signature_regardless_of_filter_order() -> None:
    a = parse(filters={"country": "de", "source": "web"})
    b = parse(filters={"source": ["web"], "country": ["de"]})
    assert a == b and a.signature == b.signature


@pytest.mark.parametrize(
    ("overrides", "error", "status", "fragment"),
    [
        ({"metric": "nope"}, UnknownMetric, 404, "unknown metric"),
        ({"from": NOW, "to": NOW}, InvalidQuery, 400, "bad range"),
        ({"from": NOW, "to": NOW - 1}, InvalidQuery, 400, "bad range"),
        ({"step": 0}, InvalidQuery, 400, "step must be > 0"),
        ({"step": 90_000}, InvalidQuery, 400, "not a multiple"),
        ({"step": "5 parsecs"}, InvalidQuery, 400, "duration"),
        ({"from": "yesterday"}, InvalidQuery, 400, "now-<duration>"),
        ({"aggregate": "clicks.median"}, InvalidQuery, 400, "unknown aggregate function"),
        ({"aggregate": "clicks"}, InvalidQuery, 400, "<field>.<fn>"),
        ({"aggregate": "bytes.sum"}, InvalidQuery, 400, "no field"),
        ({"group_by": ["city"]}, InvalidQuery, 400, "no dimension"),
        ({"group_by": ["source", "source"]}, InvalidQuery, 400, "repeats"),
        ({"filters": {"country": 3}}, InvalidQuery, 400, "list of strings"),
        ({"limit": 3}, InvalidQuery, 400, "unknown query fields"),
        ({"from": "now-30d", "step": "1m"}, ResultTooLarge, 413, "points per series"),
    ],
)
def test_errors(
    overrides: dict[str, Any], error: type[Exception], status: int, fragment: str
) -> None:
    with pytest.raises(error) as caught:
        parse(**overrides)
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert fragment in str(caught.value)
    assert caught.value.to_dict()["status"] == status  # type: ignore[attr-defined]


def test_missing_field_is_named() -> None:
    with pytest.raises(InvalidQuery, match="missing 'step'"):
        parse_query(
            {"metric": "clicks", "from": 0, "to": MIN, "aggregate": "x.sum"},
            CATALOG,
            0,
            QueryLimits(),
        )
