"""A Faust worker whose agent reads and writes registered protobuf types through the codec.

Run by ``test_registry_cli_and_codec.py`` as ``python -m tests.integration.codec_agent_app``
with ``CODEC_*`` settings in the environment: the agent takes ``ClickEvent`` messages framed by
any Confluent serializer from ``CODEC_SOURCE``, and sends a ``PageView`` per event to
``CODEC_SINK`` (framed by the codec, registered under the message's full name).
"""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import faust
import mode.loop
from confluent_kafka.schema_registry import SchemaRegistryClient

from schemas.formats import ProtobufSchema
from schemas.serde import ConfluentClientLookup
from schemas.serde.faust_codec import register_codec

CODEC = "dn-protobuf"


def create_app() -> faust.App:
    env = os.environ
    lookup = ConfluentClientLookup(SchemaRegistryClient({"url": env["CODEC_REGISTRY_URL"]}))
    register_codec(lookup, name=CODEC)
    latest = lookup.latest(env["CODEC_SINK_SCHEMA_SUBJECT"])
    assert latest is not None and isinstance(latest[1], ProtobufSchema)
    page_view = latest[1].message_class([1])
    app = faust.App(
        env["CODEC_APP_ID"],
        broker=f"kafka://{env['CODEC_BOOTSTRAP']}",
        store="memory://",
        datadir=tempfile.mkdtemp(prefix="codec-agent-"),
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        producer_max_batch_size=1,
        broker_session_timeout=6.0,
        broker_heartbeat_interval=1.0,
    )
    source = app.topic(env["CODEC_SOURCE"], value_serializer=CODEC, partitions=1)
    sink = app.topic(env["CODEC_SINK"], value_serializer=CODEC, partitions=1)

    @app.agent(source)
    async def to_page_views(stream: Any) -> None:
        async for click in stream:
            view = page_view(url=click.url, count=click.dwell_ms)
            await sink.send(key=click.event_id.encode(), value=view)

    return app


def main() -> None:
    mode.loop.use("uvloop")
    worker = faust.Worker(create_app(), loglevel=logging.INFO)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
