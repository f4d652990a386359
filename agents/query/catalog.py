"""From window specs to the query catalog, and from window output records to stored aggregates.

A window spec ``name`` is the metric ``name``; its ``group_by`` paths are the dimensions and its
aggregate fields the fields (``"*"`` is the field of a bare ``count``). A window result record
(``WindowResult.to_dict()`` on ``datanexus.windows.<name>``) becomes one ``WindowAggregate``:

* group key: a JSON object ``{dimension: str(value)}`` (``None`` becomes ``""``), so values that
  contain ``|`` cannot be confused; the query engine's ``decode_group_key`` reads it back;
* aggregates: the record's flat ``{"amount.sum": 3, ...}`` (nested ``{"amount": {"sum": 3}}`` is
  flattened); non-numeric results (``first``/``last`` of strings, ...) are not queryable: dropped.

Record format: /work/notes/window-output-format.md (docstring of ``agents/windows/agent.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from tables.aggstore.types import WindowAggregate
from tables.query.errors import UnknownMetric
from tables.query.models import MetricCatalog, MetricSpec
from tables.windows.spec import WindowSpec
from tables.windows.types import WindowKind

#: Window spacing for kinds whose starts are not on a grid (session, count, global): any step.
UNALIGNED_WINDOW_MS = 1


def metric_spec_for(window: WindowSpec, freshness_ms: int) -> MetricSpec:
    """Steps must be multiples of the window spacing; a bucket settles after size+grace+lateness."""
    if window.kind is WindowKind.TUMBLING:
        spacing, span = window.size, window.size
    elif window.kind is WindowKind.SLIDING:
        spacing, span = window.step, window.size
    elif window.kind is WindowKind.SESSION:
        spacing, span = UNALIGNED_WINDOW_MS, window.gap
    else:  # count and global windows close on counts or never: their time span is unbounded
        spacing, span = UNALIGNED_WINDOW_MS, 0
    closed_after = span + window.grace + window.allowed_lateness + window.max_out_of_orderness
    never_settles = window.kind in (WindowKind.COUNT, WindowKind.GLOBAL)
    return MetricSpec(
        name=window.name,
        window_ms=spacing,
        dimensions=window.group_by,
        fields=tuple(path for path, _ in window.aggregate),
        freshness_ms=freshness_ms,
        closed_after_ms=2**62 if never_settles else closed_after,
    )


def catalog_from_specs(windows: Iterable[WindowSpec], freshness_ms: int) -> MetricCatalog:
    return MetricCatalog(metric_spec_for(w, freshness_ms) for w in windows)


def encode_group_key(dimensions: tuple[str, ...], values: Iterable[Any]) -> str:
    text = {d: "" if v is None else str(v) for d, v in zip(dimensions, values, strict=False)}
    return orjson.dumps(text).decode() if text else ""


def flatten_aggregates(aggregates: Mapping[str, Any]) -> dict[str, float]:
    """Accepts the flat form (``{"amount.sum": 3}``) and the nested one (``{"amount": {...}}``)."""
    flat: dict[str, float] = {}
    for name, value in aggregates.items():
        if isinstance(value, Mapping):
            for fn, inner in value.items():
                if type(inner) is int or type(inner) is float:
                    flat[f"{name}.{fn}"] = float(inner)
        elif type(value) is int or type(value) is float:
            flat[name] = float(value)
    return flat


class RecordError(ValueError):
    """A window output record that cannot be stored (logged and skipped by the agent)."""


def window_aggregate(record: Mapping[str, Any], catalog: MetricCatalog) -> WindowAggregate:
    """One window output record as a stored aggregate; raises ``RecordError`` when malformed."""
    try:
        name, start, end = record["name"], record["start"], record["end"]
        key, aggregates = record.get("key") or [], record["aggregates"]
        final = bool(record.get("final", True))
    except (KeyError, TypeError):
        raise RecordError(f"not a window result: {record!r:.200}") from None
    if not isinstance(name, str) or not isinstance(start, int) or not isinstance(end, int):
        raise RecordError(f"window result needs a string name and integer start/end: {name!r}")
    if start < 0:
        raise RecordError(f"window start must be >= 0, got {start}")
    if not isinstance(aggregates, Mapping) or not isinstance(key, list):
        raise RecordError("window result needs an 'aggregates' object and a 'key' list")
    try:
        dimensions = catalog.get(name).dimensions
    except UnknownMetric:
        raise RecordError(f"window result of unconfigured window spec {name!r}") from None
    return WindowAggregate(
        name, encode_group_key(dimensions, key), start, end, flatten_aggregates(aggregates), final
    )
