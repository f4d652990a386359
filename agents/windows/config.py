"""Window pipelines declared in settings: a window spec plus where its records come from.

``DATANEXUS_WINDOWS`` (or ``windows`` in the config file) is a JSON list (or ``@<path>`` to a
JSON/YAML file holding it). Each item is a window spec (``tables.windows.spec``) with optional
source options, which are removed before the spec is validated::

    {"name": "clicks_by_source", "type": "tumbling", "size": "1m", "group_by": ["source"],
     "aggregate": {"*": ["count"], "amount": ["sum"]},
     "topic": "datanexus.ingest.accepted",   # default: the accepted ingest topic
     "format": "envelope",                   # envelope (default) | json
     "event_time": "event_time",             # field path, or "kafka" (the record timestamp)
     "repartition": true}                    # false: the topic is already keyed by the group

``envelope`` records are the ingest envelope ``{id, source, event_time, payload, ingested_at}``:
field paths see the payload fields with the envelope fields over them (``source``, ``id``, ...;
``payload.x`` reaches a payload field shadowed by an envelope field). ``json`` records are a JSON
object used as is. ``repartition`` routes records through ``datanexus.windows.<name>.by-key``
keyed by the group key, so one group's records meet in one partition; set it to false only when
the source topic's partitioning already keeps each group in one partition (without group_by:
only for a one-partition topic, else every partition emits its own result for the one group).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import yaml

from app.settings import Settings, SettingsError
from tables.windows.aggregations import AggregationKind
from tables.windows.spec import ALL_FIELDS, WindowSpec, WindowSpecError, parse_window_spec

KAFKA_TIMESTAMP = "kafka"
_SOURCE_OPTIONS = ("topic", "format", "event_time", "repartition")


class SourceFormat(StrEnum):
    ENVELOPE = "envelope"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class WindowPipeline:
    """One window spec and its source; the spec may carry extra sum/count for mean rebuilds."""

    spec: WindowSpec
    topic: str
    format: SourceFormat = SourceFormat.ENVELOPE
    event_time: str = "event_time"
    repartition: bool = True

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def output_topic(self) -> str:
        return self.spec.output_topic

    @property
    def late_topic(self) -> str:
        return f"{self.spec.output_topic}.late"

    @property
    def repartition_topic(self) -> str:
        return f"{self.spec.output_topic}.by-key"

    @property
    def input_topic(self) -> str:
        """The topic the windowing agent reads."""
        return self.repartition_topic if self.repartition else self.topic


def with_mean_parts(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with ``sum`` and ``count`` added next to every ``mean`` (output contract)."""
    spec = dict(raw)
    aggregate = spec.get("aggregate")
    if not isinstance(aggregate, Mapping):
        return spec
    out: dict[str, Any] = {}
    for path, kinds in aggregate.items():
        listed = [kinds] if isinstance(kinds, str) else kinds
        if path != ALL_FIELDS and isinstance(listed, list) and AggregationKind.MEAN in listed:
            listed = list(listed)
            for extra in (AggregationKind.SUM, AggregationKind.COUNT):
                if extra.value not in listed:
                    listed.append(extra.value)
        out[path] = listed
    spec["aggregate"] = out
    return spec


def parse_pipeline(raw: Any, default_topic: str) -> WindowPipeline:
    if not isinstance(raw, Mapping):
        raise WindowSpecError("<spec>", "must be a mapping")
    spec_part = {k: v for k, v in raw.items() if k not in _SOURCE_OPTIONS}
    spec = parse_window_spec(with_mean_parts(spec_part))
    topic = raw.get("topic", default_topic)
    if not isinstance(topic, str) or not topic:
        raise WindowSpecError("topic", f"must be a topic name, got {topic!r}")
    try:
        fmt = SourceFormat(raw.get("format", SourceFormat.ENVELOPE.value))
    except ValueError:
        raise WindowSpecError(
            "format", f"expected envelope or json, got {raw['format']!r}"
        ) from None
    default_time = "event_time" if fmt is SourceFormat.ENVELOPE else KAFKA_TIMESTAMP
    event_time = raw.get("event_time", default_time)
    if not isinstance(event_time, str) or not event_time:
        raise WindowSpecError("event_time", f"must be a field path or 'kafka', got {event_time!r}")
    repartition = raw.get("repartition", True)
    if not isinstance(repartition, bool):
        raise WindowSpecError("repartition", f"must be true or false, got {repartition!r}")
    return WindowPipeline(spec, topic, fmt, event_time, repartition)


def parse_pipelines(value: Any, default_topic: str) -> list[WindowPipeline]:
    raw = _load(value)
    if not isinstance(raw, list):
        raise SettingsError("DATANEXUS_WINDOWS must be a list of window specs")
    pipelines: list[WindowPipeline] = []
    for index, item in enumerate(raw):
        try:
            pipelines.append(parse_pipeline(item, default_topic))
        except WindowSpecError as exc:
            raise SettingsError(f"DATANEXUS_WINDOWS[{index}]: {exc}") from None
    names = [p.name for p in pipelines]
    if len(set(names)) != len(names):
        raise SettingsError("DATANEXUS_WINDOWS: window spec names must be unique")
    return pipelines


def pipelines_from_settings(settings: Settings) -> list[WindowPipeline]:
    return parse_pipelines(settings.windows, settings.topic_accepted)


def _load(value: Any) -> Any:
    if not isinstance(value, str):
        return [] if value is None else value
    text = value.strip()
    if not text:
        return []
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise SettingsError(f"DATANEXUS_WINDOWS: {path} is not a file")
        return yaml.safe_load(path.read_text())
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise SettingsError(f"DATANEXUS_WINDOWS is not JSON: {exc}") from None
