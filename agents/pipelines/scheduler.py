"""Keeps one runner per active pipeline owned by this worker, on the version the tables say.

A pipeline is owned by the worker that holds its partition of the command topic (the same worker
that writes its versions), so exactly one runner per pipeline runs in a healthy cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from aiokafka.partitioner import murmur2

from agents.pipelines.runner import PipelineRunner, Target

log = logging.getLogger(__name__)

RunnerFactory = Callable[[str], PipelineRunner]


def partition_of(pipeline_id: str, partitions: int) -> int:
    """The partition Faust's producer (Kafka's default partitioner) sends a command key to."""
    hashed: int = murmur2(pipeline_id.encode())
    return (hashed & 0x7FFFFFFF) % partitions


class PipelineScheduler:
    def __init__(self, make_runner: RunnerFactory) -> None:
        self._make_runner = make_runner
        self._runners: dict[str, PipelineRunner] = {}

    def stats(self, pipeline_id: str) -> dict[str, Any] | None:
        runner = self._runners.get(pipeline_id)
        return None if runner is None else runner.stats()

    def set_target(self, pipeline_id: str, target: Target) -> None:
        runner = self._runners.get(pipeline_id)
        if runner is None:
            runner = self._runners[pipeline_id] = self._make_runner(pipeline_id)
            runner.start()
        runner.set_target(target)

    async def reconcile(self, wanted: Iterable[tuple[str, Target]]) -> None:
        targets = dict(wanted)
        for pipeline_id in list(self._runners):
            if pipeline_id not in targets:
                await self.remove(pipeline_id)
        for pipeline_id, target in targets.items():
            self.set_target(pipeline_id, target)

    async def remove(self, pipeline_id: str) -> None:
        runner = self._runners.pop(pipeline_id, None)
        if runner is not None:
            log.info("stopping pipeline %s on this worker", pipeline_id)
            await runner.stop()

    async def stop_all(self) -> None:
        for pipeline_id in list(self._runners):
            await self.remove(pipeline_id)
