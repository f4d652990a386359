"""Combining window aggregates into step buckets, per group.

Both the cached and the uncached path compute every step bucket from exactly the windows that
start in it, in store order (start, key), so their results are identical bit for bit.

A fold can leave *checkpoints*: copies of its state just before the first window of a given
start. Resuming from a checkpoint and folding the windows from that start on gives the same
state (same additions, same order) as folding everything again, so a cached block whose tail
was invalidated only re-reads the tail.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tables.aggstore.types import WindowAggregate
from tables.query.models import AggregateFn, GroupKey, MetricSpec, Query

Points = list[tuple[int, float]]
FoldState = dict[GroupKey, dict[int, list[float]]]
GroupMemo = dict[str, GroupKey | None]
"""Group (or None: filtered out) of each window key, for one (metric, group_by, filters)."""

MAX_CHECKPOINTS = 4


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Fold state over the windows starting before ``at_ms`` (read-only: copied to resume)."""

    at_ms: int
    state: FoldState
    all_final: bool


@dataclass
class BucketValues:
    """Points per group for a contiguous range; ``all_final`` is False if any window was open."""

    points: dict[GroupKey, Points]
    all_final: bool
    checkpoints: tuple[Checkpoint, ...] = ()


def _copy_state(state: FoldState) -> FoldState:
    return {group: {b: slot[:] for b, slot in buckets.items()} for group, buckets in state.items()}


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
    records: Iterable[WindowAggregate],
    query: Query,
    spec: MetricSpec,
    *,
    resume: Checkpoint | None = None,
    checkpoints_from: int | None = None,
    memo: GroupMemo | None = None,
) -> BucketValues:
    """Fold ``records`` (store order) into step buckets.

    ``resume``: continue from a checkpoint (``records`` must then start at its ``at_ms``).
    ``checkpoints_from``: leave a checkpoint before each of the first ``MAX_CHECKPOINTS``
    distinct window starts ``>= checkpoints_from``. ``memo``: group of each key, shared between
    calls with the same metric, group_by and filters.
    """
    step, fn, field_name = query.step_ms, query.fn, query.field
    group_by, filters = query.group_by, query.filters
    is_mean = fn is AggregateFn.MEAN
    is_additive = fn is AggregateFn.SUM or fn is AggregateFn.COUNT
    is_min, is_max = fn is AggregateFn.MIN, fn is AggregateFn.MAX
    value_name = f"{field_name}.{fn.value}"
    sum_name, count_name, mean_name = f"{field_name}.sum", f"{field_name}.count", value_name
    decoded: GroupMemo = {} if memo is None else memo
    state: FoldState = {} if resume is None else _copy_state(resume.state)
    all_final = True if resume is None else resume.all_final
    checkpoints: list[Checkpoint] = []
    next_checkpoint = -1 if checkpoints_from is None else checkpoints_from
    last_start = -1
    for record in records:
        if record.start_ms != last_start:
            last_start = record.start_ms
            if 0 <= next_checkpoint <= last_start:
                checkpoints.append(Checkpoint(last_start, _copy_state(state), all_final))
                next_checkpoint = last_start + 1 if len(checkpoints) < MAX_CHECKPOINTS else -1
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
    return BucketValues(points, all_final, tuple(checkpoints))


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
