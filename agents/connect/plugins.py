"""Connector plugins: what ``connector.class`` names, its keys, and how it splits into tasks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.connect.configdef import ConfigKey
from agents.connect.types import ConnectorType, SinkTask, SourceTask


@dataclass
class TaskContext:
    """What a running task gets from the worker besides its config."""

    connector: str
    task_id: int
    webhooks: dict[str, asyncio.Queue[Any]] = field(default_factory=dict)
    """Per-connector inbox of the webhook source, filled by ``POST /connect/webhooks/{name}``."""


TaskFactory = Callable[[Mapping[str, Any], TaskContext], SourceTask | SinkTask]


def one_task(config: Mapping[str, Any], max_tasks: int) -> list[dict[str, Any]]:
    return [dict(config)]


def up_to_max(config: Mapping[str, Any], max_tasks: int) -> list[dict[str, Any]]:
    return [dict(config) for _ in range(max_tasks)]


@dataclass(frozen=True)
class ConnectorPlugin:
    class_name: str
    type: ConnectorType
    keys: tuple[ConfigKey, ...]
    create_task: TaskFactory
    task_configs: Callable[[Mapping[str, Any], int], list[dict[str, Any]]] = up_to_max
    version: str = "1.0.0"
    aliases: tuple[str, ...] = ()

    def info(self) -> dict[str, Any]:
        return {"class": self.class_name, "type": self.type.value, "version": self.version}


_PLUGINS: dict[str, ConnectorPlugin] = {}


def register(plugin: ConnectorPlugin) -> ConnectorPlugin:
    simple = plugin.class_name.rsplit(".", 1)[-1]
    for name in (plugin.class_name, simple, *plugin.aliases):
        _PLUGINS[name] = plugin
    return plugin


def find_plugin(name: str) -> ConnectorPlugin | None:
    _load_builtins()
    return _PLUGINS.get(name) or _PLUGINS.get(name.rsplit(".", 1)[-1])


def all_plugins() -> list[ConnectorPlugin]:
    _load_builtins()
    unique = {p.class_name: p for p in _PLUGINS.values()}
    return sorted(unique.values(), key=lambda p: p.class_name)


def _load_builtins() -> None:
    from agents.connect.connectors import builtins

    builtins.load()
