"""FileStreamSource / FileStreamSink, like Kafka's: one line per record.

The source's offset is the byte position after the last line it handed out; a line is only
read once complete (ends with a newline), so a restart resumes exactly after the last record
whose offset was committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from agents.connect.configdef import ConfigKey, at_least, non_empty, one_of
from agents.connect.converters import dumps
from agents.connect.plugins import ConnectorPlugin, TaskContext, one_task
from agents.connect.types import (
    ConfigType,
    ConnectorError,
    ConnectorType,
    ConnectRecord,
    OffsetReader,
)

STRING_SCHEMA = {"type": "string", "optional": False}
IDLE_SLEEP_S = 0.05
READ_CHUNK = 1 << 20


class FileStreamSourceTask:
    def __init__(self, config: Mapping[str, Any], context: TaskContext) -> None:
        self.path = Path(str(config["file"]))
        self.topic = str(config["topic"])
        self.batch_size = int(config.get("batch.size") or 2000)
        self.json_lines = str(config.get("line.format") or "string").lower() == "json"
        self.position = 0
        self._handle: Any = None
        self._partition = {"filename": str(self.path)}

    async def start(self, offsets: OffsetReader) -> None:
        self.position = int((offsets(self._partition) or {}).get("position", 0))

    def _read(self) -> list[tuple[bytes, int]]:
        """Complete lines from the current position (a partial last line waits for its newline)."""
        if self._handle is None:
            if not self.path.exists():
                return []
            self._handle = self.path.open("rb")
        self._handle.seek(self.position)
        chunk = self._handle.read(READ_CHUNK)
        end = chunk.rfind(b"\n")
        while end < 0 and len(chunk) % READ_CHUNK == 0 and chunk:  # a line longer than a chunk
            more = self._handle.read(READ_CHUNK)
            if not more:
                break
            chunk += more
            end = chunk.rfind(b"\n")
        if end < 0:
            return []
        lines: list[tuple[bytes, int]] = []
        position = self.position
        for line in chunk[: end + 1].split(b"\n")[:-1][: self.batch_size]:
            position += len(line) + 1
            lines.append((line.rstrip(b"\r"), position))
        return lines

    async def poll(self) -> Sequence[ConnectRecord]:
        lines = await asyncio.get_running_loop().run_in_executor(None, self._read)
        if not lines:
            await asyncio.sleep(IDLE_SLEEP_S)
            return []
        self.position = lines[-1][1]
        return [
            ConnectRecord(
                topic=self.topic,
                value=self._value(line, end),
                value_schema=None if self.json_lines else STRING_SCHEMA,
                source_partition=self._partition,
                source_offset={"position": end},
            )
            for line, end in lines
        ]

    def _value(self, line: bytes, end: int) -> Any:
        if not self.json_lines:
            return line.decode("utf-8", "replace")
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ConnectorError(
                f"{self.path}: the line ending at byte {end} is not JSON: {exc}"
            ) from None

    async def stop(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


def _line(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    return dumps(value)


class FileStreamSinkTask:
    def __init__(self, config: Mapping[str, Any], context: TaskContext) -> None:
        self.path = Path(str(config["file"]))

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def _append(self, records: Sequence[ConnectRecord]) -> None:
        with self.path.open("ab") as out:
            out.write(b"".join(_line(r.value) + b"\n" for r in records if r.value is not None))

    async def put(self, records: Sequence[ConnectRecord]) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._append, records)

    async def stop(self) -> None:
        pass


SOURCE = ConnectorPlugin(
    "org.apache.kafka.connect.file.FileStreamSourceConnector",
    ConnectorType.SOURCE,
    (
        ConfigKey("file", ConfigType.STRING, "Source file to read", validator=non_empty),
        ConfigKey("topic", ConfigType.STRING, "Topic to write to", validator=non_empty),
        ConfigKey("batch.size", ConfigType.INT, "Most lines per poll", 2000, validator=at_least(1)),
        ConfigKey(
            "line.format",
            ConfigType.STRING,
            "string: each line is a string value; json: each line is parsed as a JSON value",
            "string",
            validator=one_of("string", "json"),
        ),
    ),
    FileStreamSourceTask,
    one_task,
    aliases=("FileStreamSource",),
)
SINK = ConnectorPlugin(
    "org.apache.kafka.connect.file.FileStreamSinkConnector",
    ConnectorType.SINK,
    (ConfigKey("file", ConfigType.STRING, "Destination file", validator=non_empty),),
    FileStreamSinkTask,
    one_task,
    aliases=("FileStreamSink",),
)
