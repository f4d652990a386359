"""Config key definitions and Kafka Connect's validate-response shape.

Each key parses its raw string value and reports errors that name the key, so a bad config is
answered with the same ``configs[].value.errors`` a Kafka Connect worker gives.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents.connect.types import ConfigType, Importance

Validator = Callable[[str, Any], str | None]
"""(key, parsed value) -> an error message, or None."""

NO_DEFAULT = object()


class ConfigError(ValueError):
    """A config value cannot be used; the message names the key."""


@dataclass(frozen=True)
class ConfigKey:
    name: str
    type: ConfigType
    documentation: str = ""
    default: Any = NO_DEFAULT
    importance: Importance = Importance.MEDIUM
    group: str = "Common"
    validator: Validator | None = None
    recommended: tuple[str, ...] = ()
    order: int = -1

    @property
    def required(self) -> bool:
        return self.default is NO_DEFAULT

    def parse(self, raw: Any) -> Any:
        """The typed value of ``raw``; raises ConfigError naming the key."""
        if raw is None:
            if self.required:
                raise ConfigError(
                    f'Missing required configuration "{self.name}" which has no default value.'
                )
            return self.default
        try:
            value = _PARSERS[self.type](raw)
        except (TypeError, ValueError):
            raise ConfigError(
                f"Invalid value {raw} for configuration {self.name}: "
                f"Expected value to be of type {self.type.value}"
            ) from None
        if self.validator is not None:
            problem = self.validator(self.name, value)
            if problem:
                raise ConfigError(f"Invalid value {raw} for configuration {self.name}: {problem}")
        return value

    def definition(self) -> dict[str, Any]:
        default = "" if self.default is NO_DEFAULT or self.default is None else self.default
        if isinstance(default, list | tuple):
            default = ",".join(map(str, default))
        return {
            "name": self.name,
            "type": self.type.value,
            "required": self.required,
            "default_value": None if self.required else str(default),
            "importance": self.importance.value,
            "documentation": self.documentation,
            "group": self.group,
            "width": "NONE",
            "display_name": self.name,
            "dependents": [],
            "order": self.order,
        }


def _parse_bool(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text not in {"true", "false"}:
        raise ValueError(raw)
    return text == "true"


def _parse_list(raw: Any) -> list[str]:
    if isinstance(raw, list | tuple):
        return [str(x).strip() for x in raw if str(x).strip()]
    return [part.strip() for part in str(raw).split(",") if part.strip()]


def _parse_int(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ValueError(raw)
    return int(str(raw).strip())


_PARSERS: dict[ConfigType, Callable[[Any], Any]] = {
    ConfigType.STRING: lambda raw: str(raw),
    ConfigType.PASSWORD: lambda raw: str(raw),
    ConfigType.CLASS: lambda raw: str(raw).strip(),
    ConfigType.INT: _parse_int,
    ConfigType.LONG: _parse_int,
    ConfigType.DOUBLE: lambda raw: float(str(raw)),
    ConfigType.BOOLEAN: _parse_bool,
    ConfigType.LIST: _parse_list,
}


def at_least(minimum: float) -> Validator:
    def check(_key: str, value: Any) -> str | None:
        return None if value >= minimum else f"Value must be at least {minimum}"

    return check


def one_of(*choices: str) -> Validator:
    def check(_key: str, value: Any) -> str | None:
        if str(value).lower() in choices:
            return None
        return f"String must be one of: {', '.join(choices)}"

    return check


def non_empty(_key: str, value: Any) -> str | None:
    return None if str(value).strip() else "String must be non-empty"


def valid_regex(_key: str, value: Any) -> str | None:
    try:
        re.compile(str(value))
    except re.error as exc:
        return f"Invalid regex: {exc}"
    return None


@dataclass
class ConfigValue:
    """The ``value`` half of one entry of a validate response."""

    name: str
    value: Any
    errors: list[str] = field(default_factory=list)
    parsed: Any = None

    def as_json(self, recommended: Sequence[str] = ()) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": None if self.value is None else str(self.value),
            "recommended_values": list(recommended),
            "errors": list(self.errors),
            "visible": True,
        }


@dataclass
class Validation:
    """A whole config checked against a set of keys; ``response()`` is Kafka Connect's body."""

    plugin: str
    entries: list[tuple[ConfigKey, ConfigValue]] = field(default_factory=list)

    @property
    def error_count(self) -> int:
        return sum(len(value.errors) for _, value in self.entries)

    @property
    def errors(self) -> list[str]:
        return [e for _, value in self.entries for e in value.errors]

    def values(self) -> dict[str, Any]:
        return {key.name: value.parsed for key, value in self.entries}

    def add_error(self, name: str, message: str) -> None:
        for key, value in self.entries:
            if key.name == name:
                value.errors.append(message)
                return
        self.entries.append(
            (ConfigKey(name, ConfigType.STRING, default=None), ConfigValue(name, None, [message]))
        )

    def response(self) -> dict[str, Any]:
        groups = list(dict.fromkeys(key.group for key, _ in self.entries))
        return {
            "name": self.plugin,
            "error_count": self.error_count,
            "groups": groups,
            "configs": [
                {"definition": key.definition(), "value": value.as_json(key.recommended)}
                for key, value in self.entries
            ],
        }


def validate_keys(
    plugin: str,
    keys: Iterable[ConfigKey],
    config: Mapping[str, Any],
    into: Validation | None = None,
) -> Validation:
    result = into or Validation(plugin)
    for order, key in enumerate(keys):
        raw = config.get(key.name)
        entry = ConfigValue(key.name, raw)
        try:
            entry.parsed = key.parse(raw)
        except ConfigError as exc:
            entry.errors.append(str(exc))
        if key.order < 0:
            key = ConfigKey(**{**key.__dict__, "order": order})
        result.entries.append((key, entry))
    return result
