"""Query engine over the aggregate store: batching, bucketed cache, invalidation, dashboards."""

from tables.query.dashboards import (
    Dashboard,
    DashboardRepository,
    InMemoryKeyValueStore,
    Widget,
    refresh,
)
from tables.query.engine import EngineConfig, QueryEngine, wall_clock_ms
from tables.query.errors import InvalidQuery, QueryError, ResultTooLarge, UnknownMetric
from tables.query.invalidation import RedisInvalidationBus
from tables.query.metrics import QueryMetrics
from tables.query.models import (
    AggregateFn,
    MetricCatalog,
    MetricSpec,
    Query,
    QueryLimits,
    decode_group_key,
)

__all__ = [
    "AggregateFn",
    "Dashboard",
    "DashboardRepository",
    "EngineConfig",
    "InMemoryKeyValueStore",
    "InvalidQuery",
    "MetricCatalog",
    "MetricSpec",
    "Query",
    "QueryEngine",
    "QueryError",
    "QueryLimits",
    "QueryMetrics",
    "RedisInvalidationBus",
    "ResultTooLarge",
    "UnknownMetric",
    "Widget",
    "decode_group_key",
    "refresh",
    "wall_clock_ms",
]
