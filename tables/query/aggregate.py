"""Combining window aggregates into step buckets, per group.

Both the cached and the uncached path compute every step bucket from exactly the windows that
start in it, in store order (start, key), so their results are identical bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tables.aggstore.types import WindowAggregate
from tables.query.models import AggregateFn, GroupKey, MetricSpec, Query

Points = list[tuple[int, float]]


@dataclass
class BucketValues:
    """Points per group for a contiguous range; ``all_final`` is False if any window was open."""

    points: dict[GroupKey, Points]
    all_final: bool


def _mean_parts(
    aggs: Mapping[str, float], sum_name: str, count_name: str, mean_name: str
) -> tuple[float, float] | None:
    count = aggs.get(count_name)
    if not count:
        return None
    total = aggs.get(sum_name)
    if total is None:
        mean = aggs.get(mean_name)
        if mean is None:
            return None
        total = mean * count
    return total, count


def compute_buckets(
    records: Iterable[WindowAggregate], query: Query, spec: MetricSpec
) -> BucketValues:
    step, fn, field_name = query.step_ms, query.fn, query.field
    group_by, filters = query.group_by, query.filters
    is_mean = fn is AggregateFn.MEAN
    is_additive = fn is AggregateFn.SUM or fn is AggregateFn.COUNT
    is_min, is_max = fn is AggregateFn.MIN, fn is AggregateFn.MAX
    value_name = f"{field_name}.{fn.value}"
    sum_name, count_name, mean_name = f"{field_name}.sum", f"{field_name}.count", value_name
    decoded: dict[str, GroupKey | None] = {}
    state: dict[GroupKey, dict[int, list[float]]] = {}
    all_final = True
    for record in records:
        if not record.final:
            all_final = False
        key = record.key
        if key in decoded:
            group = decoded[key]
        else:
            group = decoded[key] = _group_of(key, spec, group_by, filters)
        if group is None:
            continue
        bucket = record.start_ms - record.start_ms % step
        aggs = record.aggregates
        buckets = state.get(group)
        if buckets is None:
            buckets = state[group] = {}
        if is_mean:
            parts = _mean_parts(aggs, sum_name, count_name, mean_name)
            if parts is None:
                continue
            slot = buckets.get(bucket)
            if slot is None:
                buckets[bucket] = [parts[0], parts[1]]
            else:
                slot[0] += parts[0]
                slot[1] += parts[1]
            continue
        value = aggs.get(value_name)
        if value is None:
            continue
        slot = buckets.get(bucket)
        if slot is None:
            buckets[bucket] = [value, record.end_ms]
        elif is_additive:
            slot[0] += value
        elif is_min:
            if value < slot[0]:
                slot[0] = value
        elif is_max:
            if value > slot[0]:
                slot[0] = value
        elif record.end_ms >= slot[1]:  # LAST: the window that ends latest wins
            slot[0], slot[1] = value, record.end_ms
    points: dict[GroupKey, Points] = {}
    for group, buckets in state.items():
        if not buckets:
            continue
        if is_mean:
            points[group] = [(ts, s[0] / s[1]) for ts, s in sorted(buckets.items())]
        else:
            points[group] = [(ts, s[0]) for ts, s in sorted(buckets.items())]
    return BucketValues(points, all_final)


def _group_of(
    key: str,
    spec: MetricSpec,
    group_by: tuple[str, ...],
    filters: tuple[tuple[str, frozenset[str]], ...],
) -> GroupKey | None:
    """The group tuple of a window key, or None if the filters exclude it."""
    dims = spec.decode_key(key, spec.dimensions)
    for name, wanted in filters:
        if dims.get(name) not in wanted:
            return None
    return tuple(dims.get(name, "") for name in group_by)
