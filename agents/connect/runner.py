"""Running one task of a connector: the shared lifecycle of source and sink task runners.

A runner reports every state change (RUNNING, PAUSED, FAILED with the trace, UNASSIGNED on a
clean stop) through ``on_status``; the worker writes it to the status topic.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.connect.chain import build_chain
from agents.connect.converters import STRING, RegistryConverter, make_converter
from agents.connect.dlq import DeadLetterQueue, tolerance_all
from agents.connect.plugins import ConnectorPlugin, TaskContext
from agents.connect.store import ConnectStore
from agents.connect.types import ConnectorType, Converter, State, Transform
from app.producer import FastProducer

log = logging.getLogger(__name__)
STOP_TIMEOUT_S = 15.0


@dataclass
class RunnerDeps:
    store: ConnectStore
    bootstrap: str
    consumer_config: Mapping[str, Any] = field(default_factory=dict)
    webhooks: dict[str, asyncio.Queue[Any]] = field(default_factory=dict)

    @property
    def producer(self) -> FastProducer:
        return self.store.producer


StatusCallback = Callable[["TaskRunner", State, str | None], None]


class TaskRunner:
    def __init__(
        self,
        name: str,
        task_id: int,
        config: Mapping[str, str],
        plugin: ConnectorPlugin,
        deps: RunnerDeps,
        on_status: StatusCallback,
    ) -> None:
        self.name = name
        self.task_id = task_id
        self.config = dict(config)
        self.plugin = plugin
        self.deps = deps
        self.on_status = on_status
        self.state = State.UNASSIGNED
        self.trace: str | None = None
        self.context = TaskContext(name, task_id, deps.webhooks)
        self.chain: list[Transform] = build_chain(config)[0]
        self.key_converter: Converter = make_converter(config, "key.converter", STRING)
        self.value_converter: Converter = make_converter(config, "value.converter")
        self.tolerate = tolerance_all(config)
        self.converts_off_loop = any(
            isinstance(c, RegistryConverter) for c in (self.key_converter, self.value_converter)
        )
        """Registry converters may call the registry over HTTP (even this worker's own): that
        must not block the event loop."""
        self.dlq = DeadLetterQueue(
            deps.producer,
            str(config.get("errors.deadletterqueue.topic.name") or "")
            if plugin.type == ConnectorType.SINK
            else "",
            name,
            task_id,
            str(config.get("errors.deadletterqueue.context.headers.enable", "true")).lower()
            == "true",
        )
        self._running = asyncio.Event()
        self._running.set()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def _set(self, state: State, trace: str | None = None) -> None:
        if state == self.state and trace == self.trace:
            return
        self.state, self.trace = state, trace
        self.on_status(self, state, trace)

    def start(self, paused: bool = False) -> None:
        if paused:
            self._running.clear()
        self._task = asyncio.create_task(self._main(), name=f"connect-{self.name}-{self.task_id}")

    def pause(self) -> None:
        self._running.clear()
        if self.state == State.RUNNING:
            self._set(State.PAUSED)

    def resume(self) -> None:
        self._running.set()
        if self.state == State.PAUSED:
            self._set(State.RUNNING)

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def wait_running(self) -> None:
        """Blocks while paused; the loop calls this between batches."""
        await self._running.wait()

    async def stop(self, report: bool = True) -> None:
        self._stopping = True
        self._running.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), STOP_TIMEOUT_S)
            except (TimeoutError, asyncio.CancelledError):
                self._task.cancel()
                with contextlib.suppress(BaseException):
                    await self._task
        if report and self.state != State.FAILED:
            self._set(State.UNASSIGNED)

    async def _main(self) -> None:
        try:
            await self.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("task %s-%d failed", self.name, self.task_id)
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self._set(State.FAILED, trace)

    async def run(self) -> None:
        raise NotImplementedError

    def mark_running(self) -> None:
        self._set(State.PAUSED if self.paused else State.RUNNING)
