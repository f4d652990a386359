"""One worker's share of the connect cluster: starts, pauses, restarts and stops task runners.

The desired state comes from the store (configs + target states); the worker's share comes from
the partitions of the tasks topic Faust assigned to it. ``reconcile`` makes the running tasks
match both, and is re-run on every config change and every rebalance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from agents.connect.placement import connector_partition, task_partition
from agents.connect.plugins import ConnectorPlugin, find_plugin
from agents.connect.runner import RunnerDeps, TaskRunner
from agents.connect.sink_runner import SinkTaskRunner
from agents.connect.source_runner import SourceTaskRunner
from agents.connect.store import ConnectStore
from agents.connect.types import ConnectorType, State, TargetState

log = logging.getLogger(__name__)
STATE_OF_TARGET = {
    TargetState.STARTED: State.RUNNING,
    TargetState.PAUSED: State.PAUSED,
    TargetState.STOPPED: State.STOPPED,
}


class Herder:
    def __init__(
        self, worker_id: str, store: ConnectStore, deps: RunnerDeps, task_partitions: int
    ) -> None:
        self.worker_id = worker_id
        self.store = store
        self.deps = deps
        self.partitions = task_partitions
        self.owned: set[int] = set()
        self.runners: dict[tuple[str, int], TaskRunner] = {}
        self._dirty = asyncio.Event()
        self._restarts: list[tuple[str, str, Any]] = []
        self._status_queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._connector_status: dict[str, str] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._webhook_pipelines: dict[str, SourceTaskRunner] = {}
        self._closing = False
        store.listeners.append(self._on_record)

    # ---- desired state -------------------------------------------------------------------
    def config(self, name: str) -> dict[str, str] | None:
        return self.store.state.configs.get(name)

    def target(self, name: str) -> TargetState:
        return TargetState(self.store.state.target_states.get(name, TargetState.STARTED))

    def plugin(self, name: str) -> ConnectorPlugin | None:
        config = self.config(name)
        return find_plugin(config.get("connector.class", "")) if config else None

    def task_configs(self, name: str) -> list[dict[str, Any]]:
        config, plugin = self.config(name), self.plugin(name)
        if config is None or plugin is None or self.target(name) == TargetState.STOPPED:
            return []
        return plugin.task_configs(config, max(1, int(config.get("tasks.max") or 1)))

    # ---- lifecycle ---------------------------------------------------------------------------
    async def start(self, task_partitions: int) -> None:
        self.partitions = await self.store.start(task_partitions)
        self._loops = [
            asyncio.create_task(self._reconcile_loop()),
            asyncio.create_task(self._status_loop()),
        ]
        self._dirty.set()

    async def close(self) -> None:
        self._closing = True
        await asyncio.gather(*(r.stop() for r in self.runners.values()), return_exceptions=True)
        self.runners.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._status_queue.join(), 5.0)
        for loop in self._loops:
            loop.cancel()
        await self.store.close()

    def set_owned(self, partitions: set[int]) -> None:
        log.info("connect worker %s owns task slots %s", self.worker_id, sorted(partitions))
        self.owned = set(partitions)
        self._dirty.set()

    async def revoke(self, partitions: set[int]) -> None:
        """Stop revoked tasks before the rebalance completes, so no task runs twice."""
        self.owned -= partitions
        doomed = [
            key
            for key in self.runners
            if task_partition(key[0], key[1], self.partitions) in partitions
        ]
        await asyncio.gather(*(self.runners.pop(key).stop() for key in doomed))

    def _on_record(self, kind: str, key: str, value: Any) -> None:
        if kind != "configs":
            return
        if key.startswith("restart-") and self.store.ready.is_set():
            self._restarts.append((kind, key, value))
        self._dirty.set()

    async def _reconcile_loop(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("connect reconcile failed")
                await asyncio.sleep(1.0)
                self._dirty.set()

    async def reconcile(self) -> None:
        if self._closing or not self.store.ready.is_set():
            return
        await self._apply_restarts()
        desired: dict[tuple[str, int], dict[str, Any]] = {}
        for name in list(self.store.state.configs):
            for task_id, task_config in enumerate(self.task_configs(name)):
                if task_partition(name, task_id, self.partitions) in self.owned:
                    desired[(name, task_id)] = task_config
            self._report_connector(name)
        for key in [k for k in self.runners if k not in desired]:
            stale = self.runners.pop(key)
            await stale.stop(report=key[0] in self.store.state.configs)
        for key, task_config in desired.items():
            runner = self.runners.get(key)
            if runner is not None and runner.config != task_config:
                await self.runners.pop(key).stop()
                runner = None
            paused = self.target(key[0]) == TargetState.PAUSED
            if runner is None:
                self.runners[key] = runner = self._new_runner(key, task_config)
                runner.start(paused)
            elif paused and not runner.paused:
                runner.pause()
            elif not paused and runner.paused:
                runner.resume()
        self._forget_deleted()

    def _new_runner(self, key: tuple[str, int], config: Mapping[str, str]) -> TaskRunner:
        plugin = find_plugin(config["connector.class"])
        assert plugin is not None
        cls = SourceTaskRunner if plugin.type == ConnectorType.SOURCE else SinkTaskRunner
        return cls(key[0], key[1], config, plugin, self.deps, self._task_status)

    async def _apply_restarts(self) -> None:
        restarts, self._restarts = self._restarts, []
        for _, key, value in restarts:
            if value is None:
                continue
            doomed: list[tuple[str, int]] = []
            if key.startswith("restart-connector-"):
                name = key[len("restart-connector-") :]
                only_failed = bool(value.get("only-failed"))
                if value.get("include-tasks") or only_failed:
                    doomed = [
                        k
                        for k, r in self.runners.items()
                        if k[0] == name and (not only_failed or r.state == State.FAILED)
                    ]
                self._connector_status.pop(name, None)
            elif key.startswith("restart-task-"):
                name, _, task = key[len("restart-task-") :].rpartition("-")
                doomed = [k for k in self.runners if k == (name, int(task))]
            for k in doomed:
                runner = self.runners.pop(k)
                self._enqueue_status(runner.name, runner.task_id, State.RESTARTING, None)
                await runner.stop(report=False)

    # ---- status ------------------------------------------------------------------------------
    def _task_status(self, runner: TaskRunner, state: State, trace: str | None) -> None:
        if self._closing and state != State.UNASSIGNED:
            return
        self._enqueue_status(runner.name, runner.task_id, state, trace)

    def _enqueue_status(
        self, name: str, task_id: int | None, state: State, trace: str | None
    ) -> None:
        key = f"status-connector-{name}" if task_id is None else f"status-task-{name}-{task_id}"
        value = {"state": state.value, "trace": trace, "worker_id": self.worker_id, "generation": 0}
        self.store.state.apply("status", key, value)
        self._status_queue.put_nowait((key, value))

    async def _status_loop(self) -> None:
        while True:
            key, value = await self._status_queue.get()
            try:
                await self.store.write("status", [(key, value)], wait=False)
            except Exception:
                log.exception("cannot write connect status %s", key)
            finally:
                self._status_queue.task_done()

    def _report_connector(self, name: str) -> None:
        if connector_partition(name, self.partitions) not in self.owned:
            self._connector_status.pop(name, None)
            return
        state = STATE_OF_TARGET[self.target(name)] if self.plugin(name) else State.FAILED
        current = self.store.state.statuses.get(f"status-connector-{name}", {})
        if self._connector_status.get(name) == state and current.get("state") == state:
            return
        self._connector_status[name] = state
        trace = None if state != State.FAILED else "connector.class not found"
        self._enqueue_status(name, None, state, trace)

    def _forget_deleted(self) -> None:
        configs = self.store.state.configs
        statuses = self.store.state.statuses
        for name in [n for n in self._connector_status if n not in configs]:
            del self._connector_status[name]
            doomed = [
                k
                for k in statuses
                if k == f"status-connector-{name}" or k.startswith(f"status-task-{name}-")
            ]
            for key in doomed:
                statuses.pop(key, None)
                self._status_queue.put_nowait((key, None))

    # ---- webhooks ----------------------------------------------------------------------------
    def webhook_pipeline(self, name: str) -> SourceTaskRunner | None:
        config, plugin = self.config(name), self.plugin(name)
        if config is None or plugin is None:
            return None
        pipeline = self._webhook_pipelines.get(name)
        if pipeline is None or pipeline.config != config:
            pipeline = SourceTaskRunner(name, 0, config, plugin, self.deps, lambda *_: None)
            self._webhook_pipelines[name] = pipeline
        return pipeline
