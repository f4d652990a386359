"""A key-value table every instance sees: a compacted topic mirrored into memory on each worker.

Why not a Faust ``GlobalTable``: tokens must be writable while workers run by a short-lived CLI
(``datanexus token create``) that is no Faust worker, and Faust's changelog recovery trusts end
offsets, which the embedded broker answers wrongly after multi-record batches. Here any process
writes records (key = table key, value = JSON, tombstone = delete) to the topic, and each worker
tails the topic from the beginning in a background thread; the initial load counts as complete
when a fetch comes back empty (never the high watermark). Writes are applied locally as soon as
the broker acknowledges them, so a token created through the API verifies at once on its worker
and within one poll interval on the others.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition

from app.topics import ensure_topics

log = logging.getLogger(__name__)

POLL_S = 0.2
IDLE_FOR_LOADED_S = 0.5
COMPACTED = {"cleanup.policy": "compact"}


def ensure_table_topic(bootstrap: str, topic: str) -> None:
    """One partition: the table is small, and one partition keeps its order total."""
    ensure_topics(bootstrap, [topic], 1, configs={topic: COMPACTED})


def read_table(bootstrap: str, topic: str, timeout_s: float = 15.0) -> dict[str, Any]:
    """The whole table as of now (for CLI commands): read until a fetch comes back empty."""
    table = TopicTable(bootstrap, topic)
    consumer = table.new_consumer()
    try:
        table.drain(consumer, deadline=time.monotonic() + timeout_s)
    finally:
        consumer.close()
    return dict(table.items())


def write_records(
    bootstrap: str, topic: str, records: dict[str, Any], timeout_s: float = 15.0
) -> None:
    """Writes (value None = delete) and waits for the broker's acknowledgement of each."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    for key, value in records.items():
        body = None if value is None else orjson.dumps(value)
        producer.produce(topic, body, key.encode(), on_delivery=on_delivery)
    if producer.flush(timeout_s) != 0 or errors:
        raise RuntimeError(f"could not write to {topic}: {errors or 'timeout'}")


class TopicTable:
    """A read-mostly mapping mirrored from a topic; satisfies ``tables.types.KeyValueStore``.

    ``__setitem__``/``__delitem__`` change the local copy and queue the write; the caller sends
    queued writes with ``take_pending()`` (the app awaits its producer on them).
    """

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._data: dict[str, Any] = {}
        self._pending: dict[str, Any] = {}
        self.loaded = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # KeyValueStore

    def get(self, key: str, default: Any = None, /) -> Any:
        return self._data.get(key, default)

    def __setitem__(self, key: str, value: Any, /) -> None:
        self._data[key] = value
        self._pending[key] = value

    def __delitem__(self, key: str, /) -> None:
        del self._data[key]
        self._pending[key] = None

    def __contains__(self, key: object, /) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def items(self) -> list[tuple[str, Any]]:
        return list(self._data.items())

    def take_pending(self) -> list[tuple[bytes | None, bytes, None]]:
        """Queued writes as (key, value, headers) records; a delete is an empty-value record
        that the mirror treats as a tombstone."""
        pending, self._pending = self._pending, {}
        return [
            (key.encode(), b"" if value is None else orjson.dumps(value), None)
            for key, value in pending.items()
        ]

    # mirroring

    def new_consumer(self) -> Consumer:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": f"dn-table-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            }
        )
        consumer.assign([TopicPartition(self.topic, 0, 0)])
        return consumer

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        name = key.decode()
        if not value:
            self._data.pop(name, None)
        else:
            self._data[name] = orjson.loads(value)

    def drain(self, consumer: Consumer, deadline: float) -> None:
        """Reads until fetches come back empty for a moment (the embedded broker's end offsets
        cannot be trusted), or until ``deadline``."""
        idle_since = time.monotonic()
        while time.monotonic() < deadline and not self._stopping.is_set():
            messages = consumer.consume(1000, timeout=POLL_S)
            fresh = [m for m in messages if m.error() is None]
            for message in fresh:
                self.apply(message.key(), message.value())
            for message in messages:
                error = message.error()
                if error is not None and error.code() != KafkaError._PARTITION_EOF:
                    log.warning("reading %s: %s", self.topic, error)
            if fresh:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= IDLE_FOR_LOADED_S:
                return

    def start(self) -> None:
        """Starts tailing the topic in a daemon thread; ``loaded`` is set after the first read."""
        self._thread = threading.Thread(target=self._run, name=f"tail-{self.topic}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        consumer = self.new_consumer()
        try:
            self.drain(consumer, deadline=time.monotonic() + 60)
            self.loaded.set()
            while not self._stopping.is_set():
                for message in consumer.consume(1000, timeout=POLL_S):
                    if message.error() is None:
                        self.apply(message.key(), message.value())
        except Exception:
            log.exception("tailing %s failed", self.topic)
        finally:
            self.loaded.set()
            consumer.close()
