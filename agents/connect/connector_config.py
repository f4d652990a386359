"""Validation of a whole connector config: common keys, converters, transforms, plugin keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from agents.connect.chain import add_chain_errors
from agents.connect.configdef import ConfigKey, Validation, at_least, one_of, validate_keys
from agents.connect.converters import CONVERTERS, REGISTRY_CONVERTERS
from agents.connect.plugins import ConnectorPlugin, find_plugin
from agents.connect.types import ConfigType, ConnectorType, Importance

_NAME_RE = re.compile(r"^[^/\\\x00-\x1f]+$")


def _valid_name(_key: str, value: Any) -> str | None:
    text = str(value)
    if not text.strip() or not _NAME_RE.match(text):
        return "connector name must be non-empty and contain no '/', '\\' or control characters"
    return None


def _converter(_key: str, value: Any) -> str | None:
    return None if value in CONVERTERS else f"Class {value} could not be found."


COMMON_KEYS = (
    ConfigKey(
        "name",
        ConfigType.STRING,
        "Globally unique connector name",
        validator=_valid_name,
        importance=Importance.HIGH,
    ),
    ConfigKey(
        "connector.class", ConfigType.STRING, "Connector class or alias", importance=Importance.HIGH
    ),
    ConfigKey(
        "tasks.max",
        ConfigType.INT,
        "Maximum number of tasks",
        default=1,
        validator=at_least(1),
        importance=Importance.HIGH,
    ),
    ConfigKey(
        "key.converter",
        ConfigType.CLASS,
        "Converter of record keys",
        default=None,
        validator=_converter,
    ),
    ConfigKey(
        "value.converter",
        ConfigType.CLASS,
        "Converter of record values",
        default=None,
        validator=_converter,
    ),
    ConfigKey(
        "transforms", ConfigType.LIST, "Aliases of the transforms", default=[], group="Transforms"
    ),
    ConfigKey(
        "predicates", ConfigType.LIST, "Aliases of the predicates", default=[], group="Predicates"
    ),
    ConfigKey(
        "errors.tolerance",
        ConfigType.STRING,
        "none: fail the task; all: skip bad records",
        default="none",
        validator=one_of("none", "all"),
        group="Error Handling",
    ),
    ConfigKey("errors.log.enable", ConfigType.BOOLEAN, default=False, group="Error Handling"),
)
SINK_KEYS = (
    ConfigKey("topics", ConfigType.LIST, "Topics to consume", default=[]),
    ConfigKey("topics.regex", ConfigType.STRING, "Regex of topics to consume", default=""),
    ConfigKey(
        "errors.deadletterqueue.topic.name", ConfigType.STRING, default="", group="Error Handling"
    ),
    ConfigKey(
        "errors.deadletterqueue.context.headers.enable",
        ConfigType.BOOLEAN,
        default=True,
        group="Error Handling",
    ),
)


def validate_connector_config(
    config: Mapping[str, Any], plugin_name: str | None = None
) -> tuple[Validation, ConnectorPlugin | None]:
    """Every problem of ``config``, each named by its key, in Kafka Connect's response shape."""
    class_name = str(config.get("connector.class") or plugin_name or "")
    plugin = find_plugin(class_name) if class_name else None
    validation = Validation(plugin.class_name if plugin else class_name)
    keys: list[ConfigKey] = list(COMMON_KEYS)
    if plugin is not None and plugin.type == ConnectorType.SINK:
        keys += SINK_KEYS
    validate_keys(validation.plugin, keys, config, into=validation)
    if plugin is None:
        validation.add_error(
            "connector.class",
            f"Failed to find any class that implements Connector and which name matches "
            f"{class_name}",
        )
        return validation, None
    if plugin_name is not None and find_plugin(plugin_name) is not plugin:
        validation.add_error("connector.class", f"connector.class does not match {plugin_name}")
    validate_keys(validation.plugin, plugin.keys, config, into=validation)
    for prefix in ("key.converter", "value.converter"):
        if config.get(prefix) in REGISTRY_CONVERTERS and not config.get(
            f"{prefix}.schema.registry.url"
        ):
            validation.add_error(
                prefix, f"{prefix}.schema.registry.url is required for {config.get(prefix)}"
            )
    if plugin.type == ConnectorType.SINK:
        _check_sink_topics(validation, config)
    add_chain_errors(validation, config)
    return validation, plugin


def _check_sink_topics(validation: Validation, config: Mapping[str, Any]) -> None:
    topics, regex = config.get("topics"), config.get("topics.regex")
    if topics and regex:
        validation.add_error("topics", "topics and topics.regex are mutually exclusive")
    elif not topics and not regex:
        validation.add_error("topics", "Must configure one of topics or topics.regex")
    if regex:
        try:
            re.compile(str(regex))
        except re.error as exc:
            validation.add_error("topics.regex", f"Invalid regex: {exc}")
    dlq = config.get("errors.deadletterqueue.topic.name")
    if dlq and dlq in str(topics or "").split(","):
        validation.add_error(
            "errors.deadletterqueue.topic.name", "The DLQ topic cannot be one of the sink topics"
        )


def invalid_config_message(validation: Validation, plugin_name: str) -> str:
    errors = validation.errors
    return (
        f"Connector configuration is invalid and contains the following {len(errors)} error(s):\n"
        + "\n".join(errors)
        + "\nYou can also find the above list of errors at the endpoint "
        f"`/connector-plugins/{plugin_name}/config/validate`"
    )
