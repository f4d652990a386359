"""Query model: metric catalog, validated queries and their JSON shape.

Request body (``POST /v1/query``)::

    {"metric": "clicks_per_source", "from": "now-24h" | 1700000000000, "to": "now",
     "step": "5m" | 300000, "group_by": ["source"], "filters": {"country": ["de", "fr"]},
     "aggregate": "clicks.count"}

``aggregate`` is ``"<field>.<fn>"`` with fn one of ``AggregateFn``. ``from`` is aligned down and
``to`` up to a multiple of ``step`` (so "now-1h" keeps hitting the same cache buckets). A window
counts towards the bucket that contains its *start*. Response::

    {"metric": ..., "step": 300000, "from": ..., "to": ..., "aggregate": "clicks.count",
     "series": [{"key": {"source": "web"}, "points": [[ts, value], ...]}, ...]}

Only buckets that have data get a point; series are ordered by key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import orjson

from tables.query.errors import InvalidQuery, ResultTooLarge, UnknownMetric
from tables.query.timeparse import parse_duration_ms, parse_instant_ms

GroupKey = tuple[str, ...]
KeyDecoder = Callable[[str, tuple[str, ...]], Mapping[str, str]]


class AggregateFn(Enum):
    """How window aggregates of one field combine into a bucket (window aggregate read)."""

    SUM = "sum"  # sum of "<field>.sum"
    COUNT = "count"  # sum of "<field>.count"
    MIN = "min"  # min of "<field>.min"
    MAX = "max"  # max of "<field>.max"
    MEAN = "mean"  # sum("<field>.sum") / sum("<field>.count"): never a mean of means
    LAST = "last"  # "<field>.last" of the window with the latest end


def decode_group_key(key: str, dimensions: tuple[str, ...]) -> Mapping[str, str]:
    """Default group-key decoding: a JSON object, or values joined by ``|`` in dimension order."""
    if key.startswith("{"):
        decoded = orjson.loads(key)
        return {str(k): str(v) for k, v in decoded.items()}
    if len(dimensions) <= 1:
        return {dimensions[0]: key} if dimensions else {}
    return dict(zip(dimensions, key.split("|"), strict=False))


@dataclass(frozen=True)
class MetricSpec:
    """What the query engine knows about one windowed metric.

    ``window_ms``: spacing of window starts (tumbling size, sliding step); steps must be multiples.
    ``closed_after_ms``: how long after a bucket ends its windows may still change (window size +
    grace + allowed lateness); until then cached buckets are *open* and live ``freshness_ms``.
    """

    name: str
    window_ms: int
    dimensions: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    """Known aggregate fields; empty means any field is accepted."""
    freshness_ms: int = 5_000
    closed_after_ms: int | None = None
    decode_key: KeyDecoder = decode_group_key

    def __post_init__(self) -> None:
        if self.window_ms <= 0:
            raise ValueError(f"metric {self.name}: window_ms must be > 0")

    @property
    def settle_ms(self) -> int:
        return self.window_ms if self.closed_after_ms is None else self.closed_after_ms


class MetricCatalog:
    """Registry of queryable metrics; the window engine's specs are registered at start-up."""

    def __init__(self, specs: Iterable[MetricSpec] = ()) -> None:
        self._specs: dict[str, MetricSpec] = {}
        for spec in specs:
            self.register(spec)

    def register(self, spec: MetricSpec) -> None:
        self._specs[spec.name] = spec

    def get(self, name: str) -> MetricSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownMetric(f"unknown metric {name!r}") from None

    def names(self) -> list[str]:
        return sorted(self._specs)


@dataclass(frozen=True)
class QueryLimits:
    max_points_per_series: int = 20_000
    max_series: int = 5_000


@dataclass(frozen=True)
class Query:
    """A validated query with an aligned range; hashable, so it keys single-flight."""

    metric: str
    from_ms: int
    to_ms: int
    step_ms: int
    field: str
    fn: AggregateFn
    group_by: tuple[str, ...] = ()
    filters: tuple[tuple[str, frozenset[str]], ...] = ()

    @property
    def signature(self) -> tuple[object, ...]:
        """Everything but the range: results with equal signatures share cache buckets."""
        return (self.metric, self.step_ms, self.field, self.fn, self.group_by, self.filters)

    @property
    def aggregate(self) -> str:
        return f"{self.field}.{self.fn.value}"


@dataclass
class Series:
    key: GroupKey
    points: list[tuple[int, float]] = field(default_factory=list)


def result_to_json(query: Query, series: Iterable[Series]) -> dict[str, Any]:
    return {
        "metric": query.metric,
        "step": query.step_ms,
        "from": query.from_ms,
        "to": query.to_ms,
        "aggregate": query.aggregate,
        "series": [
            {
                "key": dict(zip(query.group_by, s.key, strict=True)),
                "points": [[ts, value] for ts, value in s.points],
            }
            for s in series
        ],
    }


_KNOWN_KEYS = {"metric", "from", "to", "step", "group_by", "filters", "aggregate"}


def parse_query(
    raw: Mapping[str, Any], catalog: MetricCatalog, now_ms: int, limits: QueryLimits
) -> Query:
    """Validate a request body into a ``Query``; raises a ``QueryError`` subclass."""
    if not isinstance(raw, Mapping):
        raise InvalidQuery("query must be a JSON object")
    unknown = set(raw) - _KNOWN_KEYS
    if unknown:
        raise InvalidQuery(f"unknown query fields: {sorted(unknown)}")
    for required in ("metric", "from", "to", "step", "aggregate"):
        if required not in raw:
            raise InvalidQuery(f"missing {required!r}")
    metric = raw["metric"]
    if not isinstance(metric, str):
        raise InvalidQuery("'metric' must be a string")
    spec = catalog.get(metric)
    from_ms = parse_instant_ms(raw["from"], now_ms, "from")
    to_ms = parse_instant_ms(raw["to"], now_ms, "to")
    step_ms = parse_duration_ms(raw["step"], "step")
    if from_ms < 0:
        raise InvalidQuery("'from' must be >= 0")
    if from_ms >= to_ms:
        raise InvalidQuery(f"bad range: from ({from_ms}) must be before to ({to_ms})")
    if step_ms <= 0:
        raise InvalidQuery(f"step must be > 0, got {step_ms}")
    if step_ms % spec.window_ms:
        raise InvalidQuery(
            f"step {step_ms} ms is not a multiple of the {metric} window ({spec.window_ms} ms)"
        )
    from_ms -= from_ms % step_ms
    to_ms += -to_ms % step_ms
    points = (to_ms - from_ms) // step_ms
    if points > limits.max_points_per_series:
        raise ResultTooLarge(
            f"{points} points per series exceeds the limit of {limits.max_points_per_series}; "
            "use a larger step or a shorter range"
        )
    field_name, fn = _parse_aggregate(raw["aggregate"], spec)
    group_by = _parse_group_by(raw.get("group_by", []), spec)
    filters = _parse_filters(raw.get("filters", {}), spec)
    return Query(metric, from_ms, to_ms, step_ms, field_name, fn, group_by, filters)


def _parse_aggregate(value: object, spec: MetricSpec) -> tuple[str, AggregateFn]:
    if not isinstance(value, str) or "." not in value:
        raise InvalidQuery(f"'aggregate' must look like '<field>.<fn>', got {value!r}")
    field_name, _, fn_name = value.rpartition(".")
    try:
        fn = AggregateFn(fn_name)
    except ValueError:
        options = ", ".join(f.value for f in AggregateFn)
        raise InvalidQuery(f"unknown aggregate function {fn_name!r} (one of: {options})") from None
    if spec.fields and field_name not in spec.fields:
        raise InvalidQuery(f"metric {spec.name} has no field {field_name!r}")
    return field_name, fn


def _check_dimension(name: object, spec: MetricSpec, what: str) -> str:
    if not isinstance(name, str):
        raise InvalidQuery(f"{what}: dimension names must be strings, got {name!r}")
    if name not in spec.dimensions:
        raise InvalidQuery(f"{what}: metric {spec.name} has no dimension {name!r}")
    return name


def _parse_group_by(value: object, spec: MetricSpec) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise InvalidQuery("'group_by' must be a list of dimension names")
    names = tuple(_check_dimension(v, spec, "group_by") for v in value)
    if len(set(names)) != len(names):
        raise InvalidQuery("'group_by' repeats a dimension")
    return names


def _parse_filters(value: object, spec: MetricSpec) -> tuple[tuple[str, frozenset[str]], ...]:
    if not isinstance(value, Mapping):
        raise InvalidQuery("'filters' must be an object of dimension -> value or list of values")
    parsed: list[tuple[str, frozenset[str]]] = []
    for name, wanted in value.items():
        dimension = _check_dimension(name, spec, "filters")
        values = [wanted] if isinstance(wanted, str) else wanted
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise InvalidQuery(f"filters.{dimension}: expected a string or a list of strings")
        parsed.append((dimension, frozenset(values)))
    return tuple(sorted(parsed, key=lambda item: item[0]))
