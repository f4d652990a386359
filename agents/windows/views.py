"""``GET /v1/windows``: the configured window pipelines and their watermarks per partition."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faust
from aiohttp import web

from agents.windows.runtime import WindowRuntime
from app.http import json_response
from app.openapi import document
from tables.windows.spec import WindowSpec
from tables.windows.types import NO_WATERMARK


def spec_summary(spec: WindowSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "type": spec.kind.value,
        "size": spec.size,
        "step": spec.step,
        "gap": spec.gap,
        "grace_ms": spec.grace,
        "max_out_of_orderness_ms": spec.max_out_of_orderness,
        "late": spec.late.value,
        "allowed_lateness_ms": spec.allowed_lateness,
        "emit": spec.emit.value,
        "group_by": list(spec.group_by),
        "aggregate": {path: [k.value for k in kinds] for path, kinds in spec.aggregate},
    }


def describe(runtime: WindowRuntime, partitions: int) -> dict[str, Any]:
    pipeline = runtime.pipeline
    watermarks: dict[str, int | None] = {}
    for partition in range(partitions):
        stored = runtime.manager.watermark(partition)
        live = runtime.watermarks.get(partition, NO_WATERMARK)
        best = max(stored, live)
        watermarks[str(partition)] = None if best == NO_WATERMARK else best
    return {
        **spec_summary(pipeline.spec),
        "source": {
            "topic": pipeline.topic,
            "format": pipeline.format.value,
            "event_time": pipeline.event_time,
            "repartition": pipeline.repartition,
        },
        "input_topic": pipeline.input_topic,
        "output_topic": pipeline.output_topic,
        "late_topic": pipeline.late_topic,
        "watermarks": watermarks,
    }


def install_window_views(
    app: faust.App, runtimes: Sequence[WindowRuntime], partitions: int
) -> None:
    class WindowsView(faust.web.View):
        async def get(self, request: web.Request) -> web.Response:
            return json_response({"windows": [describe(r, partitions) for r in runtimes]})

    app.page("/v1/windows", name="windows")(WindowsView)
    document(
        "GET",
        "/v1/windows",
        summary="Window pipelines and their watermarks",
        description=(
            "Every window pipeline configured on this worker (DATANEXUS_WINDOWS): the validated "
            "spec (durations in ms), its source and topics, and the event-time watermark per "
            "input partition held in this worker's state (null: no event seen here)."
        ),
        tag="windows",
        response_schema={
            "type": "object",
            "properties": {
                "windows": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "name": {"type": "string"},
                            "type": {"type": "string"},
                            "group_by": {"type": "array", "items": {"type": "string"}},
                            "output_topic": {"type": "string"},
                            "late_topic": {"type": "string"},
                            "watermarks": {
                                "type": "object",
                                "additionalProperties": {"type": "integer", "nullable": True},
                            },
                        },
                    },
                }
            },
        },
    )
