"""Kafka Connect's predicates (for Filter and for conditional transforms)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agents.connect.configdef import ConfigKey, non_empty, valid_regex
from agents.connect.types import ConfigType, ConnectRecord, Predicate

PREFIX = "org.apache.kafka.connect.transforms.predicates."


class TopicNameMatches:
    KEYS = (ConfigKey("pattern", ConfigType.STRING, validator=valid_regex),)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._pattern = re.compile(values["pattern"])

    def __call__(self, record: ConnectRecord) -> bool:
        return self._pattern.fullmatch(record.topic) is not None


class HasHeaderKey:
    KEYS = (ConfigKey("name", ConfigType.STRING, validator=non_empty),)

    def __init__(self, values: Mapping[str, Any]) -> None:
        self._name = values["name"]

    def __call__(self, record: ConnectRecord) -> bool:
        return any(name == self._name for name, _ in record.headers)


class RecordIsTombstone:
    KEYS: tuple[ConfigKey, ...] = ()

    def __init__(self, values: Mapping[str, Any]) -> None:
        pass

    def __call__(self, record: ConnectRecord) -> bool:
        return record.value is None


PREDICATES: dict[str, Any] = {
    cls.__name__: cls for cls in (TopicNameMatches, HasHeaderKey, RecordIsTombstone)
}


def predicate_class(name: str) -> Any | None:
    return PREDICATES.get(name.removeprefix(PREFIX))


def negated(predicate: Predicate, negate: bool) -> Predicate:
    if not negate:
        return predicate
    return lambda record: not predicate(record)
