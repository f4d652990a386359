"""HTTP sink (JSON array POSTs with retries and backoff) and the webhook source.

The webhook source has no polling task: ``POST /connect/webhooks/{name}`` runs the records
through the connector's transforms and converters and answers once Kafka acknowledged them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
import orjson

from agents.connect.configdef import ConfigKey, at_least, non_empty
from agents.connect.converters import dumps
from agents.connect.plugins import ConnectorPlugin, TaskContext, one_task
from agents.connect.types import (
    ConfigType,
    ConnectorError,
    ConnectorType,
    ConnectRecord,
    OffsetReader,
    RetriableError,
)

IDLE_POLL_S = 0.5


def _payload(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


class HttpSinkTask:
    def __init__(self, config: Mapping[str, Any], context: TaskContext) -> None:
        self.url = str(config["http.url"])
        self.batch_size = int(config.get("batch.max.size") or 100)
        self.retries = int(config.get("retry.max") or 5)
        self.backoff_s = int(config.get("retry.backoff.ms") or 100) / 1000
        headers = [h for h in str(config.get("http.headers") or "").split(",") if ":" in h]
        self.headers = {k.strip(): v.strip() for k, v in (h.split(":", 1) for h in headers)}
        self.headers["Content-Type"] = "application/json"
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))

    async def put(self, records: Sequence[ConnectRecord]) -> None:
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            body = dumps([_payload(r.value) for r in chunk if r.value is not None])
            await self._post(body)

    async def _post(self, body: bytes) -> None:
        assert self._session is not None
        delay = self.backoff_s
        last_error = ""
        for attempt in range(self.retries + 1):
            try:
                async with self._session.post(self.url, data=body, headers=self.headers) as resp:
                    if resp.status < 300:
                        return
                    text = (await resp.text())[:200]
                    last_error = f"HTTP {resp.status}: {text}"
                    if 400 <= resp.status < 500 and resp.status not in (408, 429):
                        raise ConnectorError(f"{self.url} rejected the batch: {last_error}")
            except aiohttp.ClientError as exc:
                last_error = str(exc)
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay *= 2
        raise RetriableError(f"{self.url} failed after {self.retries} retries: {last_error}")

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


class WebhookSourceTask:
    """Holds the task slot (status, pause/stop) for the webhook connector; records come in
    through the webhook view."""

    def __init__(self, config: Mapping[str, Any], context: TaskContext) -> None:
        self.topic = str(config["topic"])

    async def start(self, offsets: OffsetReader) -> None:
        pass

    async def poll(self) -> Sequence[ConnectRecord]:
        await asyncio.sleep(IDLE_POLL_S)
        return []

    async def stop(self) -> None:
        pass


def webhook_records(config: Mapping[str, Any], body: bytes) -> list[ConnectRecord]:
    """A JSON record or array (or NDJSON) as records; ``key.field`` names the key."""
    topic = str(config["topic"])
    key_field = str(config.get("key.field") or "")
    try:
        decoded = orjson.loads(body)
        items = decoded if isinstance(decoded, list) else [decoded]
    except orjson.JSONDecodeError:
        try:
            items = [orjson.loads(line) for line in body.splitlines() if line.strip()]
        except orjson.JSONDecodeError as exc:
            raise ConnectorError(f"webhook body is neither JSON nor NDJSON: {exc}") from None
    records = []
    for item in items:
        key = item.get(key_field) if key_field and isinstance(item, dict) else None
        records.append(ConnectRecord(topic=topic, value=item, key=key))
    return records


SINK = ConnectorPlugin(
    "io.confluent.connect.http.HttpSinkConnector",
    ConnectorType.SINK,
    (
        ConfigKey(
            "http.url", ConfigType.STRING, "Endpoint for JSON array POSTs", validator=non_empty
        ),
        ConfigKey("http.headers", ConfigType.STRING, "K:V,K:V", default=""),
        ConfigKey("batch.max.size", ConfigType.INT, default=100, validator=at_least(1)),
        ConfigKey("retry.max", ConfigType.INT, default=5, validator=at_least(0)),
        ConfigKey("retry.backoff.ms", ConfigType.INT, default=100, validator=at_least(0)),
    ),
    HttpSinkTask,
    aliases=("HttpSink", "HttpSinkConnector"),
)
WEBHOOK = ConnectorPlugin(
    "datanexus.connect.WebhookSourceConnector",
    ConnectorType.SOURCE,
    (
        ConfigKey("topic", ConfigType.STRING, "Topic to write to", validator=non_empty),
        ConfigKey("key.field", ConfigType.STRING, "Field used as record key", default=""),
    ),
    WebhookSourceTask,
    one_task,
    aliases=("WebhookSource", "WebhookSourceConnector"),
)
