"""The Kafka Connect REST API's logic, independent of the web framework.

Every method answers ``(status, body)`` in Kafka Connect's JSON shapes; errors raise
:class:`ConnectApiError`, whose body is Kafka Connect's ``{"error_code", "message"}``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from functools import partial
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from agents.connect.connector_config import invalid_config_message, validate_connector_config
from agents.connect.herder import Herder
from agents.connect.plugins import all_plugins, find_plugin
from agents.connect.sink_runner import sink_group, subscription
from agents.connect.source_runner import offset_key
from agents.connect.types import ConnectorType, State, TargetState

KAFKA_CONNECT_VERSION = "3.7.0-datanexus"
Answer = tuple[int, Any]


class ConnectApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error_code": self.status, "message": self.message}


def not_found(name: str) -> ConnectApiError:
    return ConnectApiError(404, f"Connector {name} not found")


class ConnectApi:
    def __init__(self, herder: Herder) -> None:
        self.herder = herder

    @property
    def state(self) -> Any:
        return self.herder.store.state

    def _config(self, name: str) -> dict[str, str]:
        config = self.herder.config(name)
        if config is None:
            raise not_found(name)
        return config

    def _type(self, name: str) -> str:
        plugin = self.herder.plugin(name)
        return plugin.type.value if plugin else "unknown"

    def info(self, name: str) -> dict[str, Any]:
        config = self._config(name)
        return {
            "name": name,
            "config": config,
            "tasks": [
                {"connector": name, "task": i} for i in range(len(self.herder.task_configs(name)))
            ],
            "type": self._type(name),
        }

    def status(self, name: str) -> dict[str, Any]:
        self._config(name)
        statuses = self.state.statuses
        connector = statuses.get(f"status-connector-{name}") or {"state": "UNASSIGNED"}
        tasks = [self._task_status(name, i) for i in range(len(self.herder.task_configs(name)))]
        body: dict[str, Any] = {
            "name": name,
            "connector": _status_entry(connector),
            "tasks": tasks,
            "type": self._type(name),
        }
        return body

    def _task_status(self, name: str, task_id: int) -> dict[str, Any]:
        raw = self.state.statuses.get(f"status-task-{name}-{task_id}") or {"state": "UNASSIGNED"}
        return {"id": task_id, **_status_entry(raw)}

    # ---- root, listing, CRUD -----------------------------------------------------------------
    async def root(self) -> Answer:
        return 200, {
            "version": KAFKA_CONNECT_VERSION,
            "commit": "datanexus",
            "kafka_cluster_id": self.herder.store.bootstrap,
        }

    async def list_connectors(self, expand: list[str]) -> Answer:
        names = sorted(self.state.configs)
        if not expand:
            return 200, names
        body: dict[str, Any] = {}
        for name in names:
            entry: dict[str, Any] = {}
            if "status" in expand:
                entry["status"] = self.status(name)
            if "info" in expand:
                entry["info"] = self.info(name)
            body[name] = entry
        return 200, body

    def _validated(self, config: Mapping[str, Any]) -> dict[str, str]:
        validation, plugin = validate_connector_config(config)
        if validation.error_count:
            plugin_name = plugin.class_name.rsplit(".", 1)[-1] if plugin else "unknown"
            raise ConnectApiError(400, invalid_config_message(validation, plugin_name))
        return {str(k): str(v) for k, v in config.items()}

    async def create(self, body: Any) -> Answer:
        if not isinstance(body, dict) or not isinstance(body.get("config"), dict):
            raise ConnectApiError(400, 'Request body must be {"name": ..., "config": {...}}')
        name = body.get("name") or body["config"].get("name")
        if not name:
            raise ConnectApiError(400, "Connector name must be specified")
        config = {**body["config"], "name": name}
        if self.herder.config(name) is not None:
            raise ConnectApiError(409, f"Connector {name} already exists")
        initial = str(body.get("initial_state") or "RUNNING").upper()
        targets = {
            "RUNNING": TargetState.STARTED,
            "PAUSED": TargetState.PAUSED,
            "STOPPED": TargetState.STOPPED,
        }
        if initial not in targets:
            raise ConnectApiError(400, f"Invalid initial state {initial}")
        await self._write_config(name, self._validated(config), targets[initial])
        return 201, self.info(name)

    async def _write_config(
        self, name: str, config: dict[str, str], target: TargetState | None
    ) -> None:
        records: list[tuple[str, Any]] = []
        if target is not None:
            records.append((f"target-state-{name}", {"state": target.value}))
        records.append((f"connector-{name}", {"properties": config}))
        await self.herder.store.write("configs", records)

    async def get(self, name: str) -> Answer:
        return 200, self.info(name)

    async def get_config(self, name: str) -> Answer:
        return 200, self._config(name)

    async def put_config(self, name: str, body: Any) -> Answer:
        if not isinstance(body, dict):
            raise ConnectApiError(400, "Request body must be a JSON object of config keys")
        if body.get("name") not in (None, name):
            raise ConnectApiError(
                400,
                f"Connector name configuration ({body.get('name')}) doesn't match "
                f"connector name in the URL ({name})",
            )
        config = {**body, "name": name}
        created = self.herder.config(name) is None
        await self._write_config(
            name, self._validated(config), TargetState.STARTED if created else None
        )
        return (201 if created else 200), self.info(name)

    async def delete(self, name: str) -> Answer:
        self._config(name)
        await self.herder.store.write(
            "configs", [(f"connector-{name}", None), (f"target-state-{name}", None)]
        )
        return 204, None

    # ---- state changes -----------------------------------------------------------------------
    async def set_target(self, name: str, target: TargetState) -> Answer:
        self._config(name)
        await self.herder.store.write("configs", [(f"target-state-{name}", {"state": target})])
        return (204 if target == TargetState.STOPPED else 202), None

    async def restart(self, name: str, include_tasks: bool, only_failed: bool) -> Answer:
        self._config(name)
        await self.herder.store.write(
            "configs",
            [
                (
                    f"restart-connector-{name}",
                    {"include-tasks": include_tasks, "only-failed": only_failed},
                )
            ],
        )
        if not include_tasks and not only_failed:
            return 204, None
        status = self.status(name)
        for task in status["tasks"]:
            if not only_failed or task["state"] == State.FAILED:
                task["state"] = State.RESTARTING.value
        return 202, status

    async def restart_task(self, name: str, task_id: int) -> Answer:
        self._check_task(name, task_id)
        await self.herder.store.write("configs", [(f"restart-task-{name}-{task_id}", {})])
        return 204, None

    def _check_task(self, name: str, task_id: int) -> None:
        self._config(name)
        if not 0 <= task_id < len(self.herder.task_configs(name)):
            raise ConnectApiError(404, f"Task {name}-{task_id} not found")

    async def tasks(self, name: str) -> Answer:
        self._config(name)
        return 200, [
            {"id": {"connector": name, "task": i}, "config": config}
            for i, config in enumerate(self.herder.task_configs(name))
        ]

    async def task_status(self, name: str, task_id: int) -> Answer:
        self._check_task(name, task_id)
        return 200, self._task_status(name, task_id)

    async def topics(self, name: str) -> Answer:
        self._config(name)
        return 200, {name: {"topics": sorted(self.state.topics_used.get(name, set()))}}

    async def reset_topics(self, name: str) -> Answer:
        self._config(name)
        keys = [f"topic-{t}-{name}" for t in self.state.topics_used.get(name, set())]
        await self.herder.store.write("status", [(k, None) for k in keys])
        return 204, None

    # ---- offsets -----------------------------------------------------------------------------
    async def get_offsets(self, name: str) -> Answer:
        config = self._config(name)
        if self._type(name) == ConnectorType.SINK:
            committed = await asyncio.get_running_loop().run_in_executor(
                None, partial(self._sink_offsets, config)
            )
            return 200, {"offsets": committed}
        entries = self.state.offsets.get(name, {}).values()
        return 200, {"offsets": [{"partition": p, "offset": o} for p, o in entries]}

    def _sink_consumer(self, name: str) -> Consumer:
        return Consumer(
            {
                "bootstrap.servers": self.herder.deps.bootstrap,
                "group.id": sink_group(name),
                "enable.auto.commit": False,
            }
        )

    def _sink_partitions(
        self, consumer: Consumer, config: Mapping[str, str]
    ) -> list[TopicPartition]:
        wanted = subscription(dict(config))
        metadata = consumer.list_topics(timeout=10)
        tps = []
        for topic, meta in metadata.topics.items():
            if any(re.fullmatch(w[1:], topic) if w.startswith("^") else w == topic for w in wanted):
                tps += [TopicPartition(topic, p) for p in meta.partitions]
        return tps

    def _sink_offsets(self, config: Mapping[str, str]) -> list[dict[str, Any]]:
        consumer = self._sink_consumer(config["name"])
        try:
            tps = self._sink_partitions(consumer, config)
            committed = consumer.committed(tps, timeout=10) if tps else []
        finally:
            consumer.close()
        return [
            {
                "partition": {"kafka_topic": tp.topic, "kafka_partition": tp.partition},
                "offset": {"kafka_offset": tp.offset},
            }
            for tp in committed
            if tp.offset >= 0
        ]

    def _require_stopped(self, name: str) -> None:
        if self.herder.target(name) != TargetState.STOPPED:
            raise ConnectApiError(
                400,
                "Connectors must be in the STOPPED state before their offsets can be modified. "
                "This can be done for the specified connector by issuing a 'PUT' request to the "
                f"'/connectors/{name}/stop' endpoint",
            )

    async def alter_offsets(self, name: str, body: Any) -> Answer:
        config = self._config(name)
        self._require_stopped(name)
        entries = body.get("offsets") if isinstance(body, dict) else None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("partition"), dict) for e in entries
        ):
            raise ConnectApiError(
                400, 'Body must be {"offsets": [{"partition": {...}, "offset": {...} | null}]}'
            )
        if self._type(name) == ConnectorType.SINK:
            tps = []
            for e in entries:
                part, off = e["partition"], e.get("offset")
                if off is None or "kafka_offset" not in off:
                    raise ConnectApiError(400, "Sink offsets need offset.kafka_offset")
                tps.append(
                    TopicPartition(
                        str(part["kafka_topic"]),
                        int(part["kafka_partition"]),
                        int(off["kafka_offset"]),
                    )
                )
            await asyncio.get_running_loop().run_in_executor(
                None, partial(self._commit_sink, config, tps)
            )
        else:
            records = [(offset_key(name, e["partition"]), e.get("offset")) for e in entries]
            await self.herder.store.write("offsets", records)
        return 200, {"message": "The offsets for this connector have been altered successfully"}

    def _commit_sink(self, config: Mapping[str, str], tps: list[TopicPartition]) -> None:
        consumer = self._sink_consumer(config["name"])
        try:
            consumer.commit(offsets=tps, asynchronous=False)
        finally:
            consumer.close()

    async def reset_offsets(self, name: str) -> Answer:
        config = self._config(name)
        self._require_stopped(name)
        if self._type(name) == ConnectorType.SINK:

            def reset() -> None:
                consumer = self._sink_consumer(name)
                try:
                    tps = self._sink_partitions(consumer, config)
                    starts = []
                    for tp in tps:
                        low, _ = consumer.get_watermark_offsets(tp, timeout=10)
                        starts.append(TopicPartition(tp.topic, tp.partition, low))
                    if starts:
                        consumer.commit(offsets=starts, asynchronous=False)
                finally:
                    consumer.close()

            await asyncio.get_running_loop().run_in_executor(None, reset)
        else:
            partitions = [p for p, _ in self.state.offsets.get(name, {}).values()]
            await self.herder.store.write(
                "offsets", [(offset_key(name, p), None) for p in partitions]
            )
        return 200, {"message": "The offsets for this connector have been reset successfully"}

    # ---- plugins -----------------------------------------------------------------------------
    async def plugins(self) -> Answer:
        return 200, [p.info() for p in all_plugins()]

    async def validate(self, plugin_type: str, body: Any) -> Answer:
        if find_plugin(plugin_type) is None:
            raise ConnectApiError(
                404,
                f"Failed to find any class that implements Connector "
                f"and which name matches {plugin_type}",
            )
        if not isinstance(body, dict):
            raise ConnectApiError(400, "Request body must be a JSON object of config keys")
        validation, _ = validate_connector_config(body, plugin_type)
        return 200, validation.response()


def _status_entry(raw: Mapping[str, Any]) -> dict[str, Any]:
    entry = {"state": raw.get("state", "UNASSIGNED"), "worker_id": raw.get("worker_id", "")}
    if raw.get("trace"):
        entry["trace"] = raw["trace"]
    return entry
