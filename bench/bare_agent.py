"""The Faust ceiling (F): a bare agent that only iterates a topic, with the same settings as a
DataNexus worker (quirk profile, raw serializers, uvloop, start-up heap frozen for the garbage
collector, the consumer hand-over of app/faust_handover.py). ``BENCH_STOCK_DRAIN=1`` keeps
faust's own hand-over instead (F stock). ``BENCH_IDLE_TOPIC`` adds a second agent on a topic that
stays empty, as a worker's control topics do (pipeline commands, connector tasks). Counts are
served at ``/count``."""

from __future__ import annotations

import os

import faust
from aiohttp import web

from app import broker_profile, faust_handover, faust_seek
from app.gc_tuning import freeze_startup_heap
from app.settings import Settings


class BareApp(faust.App):
    async def on_started(self) -> None:
        await super().on_started()
        freeze_startup_heap()  # as a DataNexus worker does, so F and the worker compare fairly


settings = Settings.from_env()
if not os.environ.get("BENCH_STOCK_DRAIN"):
    faust_handover.install()  # as create_app does for every DataNexus worker
faust_seek.install()
app = BareApp(
    f"bare-{settings.app_id}",
    broker=f"kafka://{settings.kafka_bootstrap}",
    datadir=str(settings.data_dir / "bare"),
    web_port=settings.web_port,
    web_host="127.0.0.1",
    web_bind="127.0.0.1",
    consumer_auto_offset_reset="earliest",
    topic_partitions=settings.partitions,
    **broker_profile.faust_settings(settings),
)
topic = app.topic(os.environ["BENCH_TOPIC"], key_serializer="raw", value_serializer="raw")
state = {"count": 0, "first": 0.0, "last": 0.0}


MODE = os.environ.get("BENCH_MODE", "bare")


@app.agent(topic)
async def iterate(stream: faust.StreamT[bytes]) -> None:
    if MODE == "bare":
        async for _value in stream:
            state["count"] += 1
    elif MODE == "take":
        async for values in stream.take(1000, within=0.05):
            state["count"] += len(values)
    elif MODE == "take_events":
        async for events in stream.take_events(1000, within=0.05):  # type: ignore[attr-defined]
            state["count"] += len(events)
    elif MODE == "batcher":
        from agents.batching import EventBatcher

        async def handle(events: object) -> None:
            state["count"] += len(events)  # type: ignore[arg-type]

        await EventBatcher(stream, handle).run()
    elif MODE in ("triage", "full"):
        from agents.batching import EventBatcher
        from agents.ingest.triage import RawMessage, triage
        from app.producer import FastProducer

        producer = FastProducer(settings.kafka_bootstrap)

        async def handle2(events: object) -> None:
            msgs = [
                RawMessage(m.key, m.value, m.headers, m.topic, m.partition, m.offset)
                for m in (e.message for e in events)
            ]  # type: ignore[attr-defined]
            result = triage(msgs, 0)
            if MODE == "full":
                await producer.send_batch(os.environ["BENCH_TOPIC"] + ".out", result.accepted)
            state["count"] += len(events)  # type: ignore[arg-type]

        await EventBatcher(stream, handle2).run()
    elif MODE == "noack":
        pending = []
        async for event in stream.noack().events():
            pending.append(event)
            if len(pending) >= 1000:
                for e in pending:
                    await stream.ack(e)
                state["count"] += len(pending)
                pending = []


if os.environ.get("BENCH_IDLE_TOPIC"):
    idle_topic = app.topic(
        os.environ["BENCH_IDLE_TOPIC"], key_serializer="raw", value_serializer="raw"
    )

    @app.agent(idle_topic)
    async def idle(stream: faust.StreamT[bytes]) -> None:
        async for _value in stream:
            pass


@app.page("/count")
async def count(_view: faust.web.View, _request: web.Request) -> web.Response:
    return web.json_response(state)


@app.page("/health")
async def health(_view: faust.web.View, _request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


if __name__ == "__main__":
    app.main()
