"""Confluent wire format: the framing every registry-aware Kafka client agrees on.

Byte layout of a framed record (all serdes, byte-compatible with confluent-kafka)::

    offset  size  content
    0       1     magic byte 0x00 (anything else: not a framed record)
    1       4     schema id, unsigned 32-bit big-endian (a global registry id)
    5       n     PROTOBUF only: the message-index path locating the message type in the
                  schema's file. Encoded as zigzag varints: the path length, then each index
                  (index i of the top-level messages, then of that message's nested types...).
                  The common path ``[0]`` (first top-level message) is the single byte 0x00
                  (length 0 means ``[0]``); e.g. ``[1]`` is 02 02, ``[0, 2]`` is 04 00 04.
    5 + n   rest  payload: protobuf message bytes | Avro binary (schemaless, writer schema =
                  the id's schema) | UTF-8 JSON text (JSON Schema)

Zigzag varint: ``(v << 1) ^ (v >> 63)``, then little-endian base-128 groups, high bit set on
every byte but the last. Unframed JSON (pre-migration producers) starts with ``{``, ``[``,
whitespace or another printable byte, never 0x00, which is how the coexistence deserializer
tells the two apart.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

MAGIC_BYTE = 0
HEADER_SIZE = 5
_HEADER = struct.Struct(">bI")


class WireFormatError(ValueError):
    """The bytes are not a valid Confluent-framed record."""


def _zigzag_varint(value: int, out: bytearray) -> None:
    encoded = (value << 1) ^ (value >> 63)
    while encoded & ~0x7F:
        out.append((encoded & 0x7F) | 0x80)
        encoded >>= 7
    out.append(encoded)


def encode_message_indexes(indexes: Sequence[int]) -> bytes:
    if list(indexes) == [0]:
        return b"\x00"
    out = bytearray()
    _zigzag_varint(len(indexes), out)
    for index in indexes:
        _zigzag_varint(index, out)
    return bytes(out)


def _read_zigzag(data: bytes | memoryview, offset: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if offset >= len(data):
            raise WireFormatError("truncated message-index varint")
        byte = data[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1), offset
        if shift > 63:
            raise WireFormatError("message-index varint too long")


def decode_message_indexes(data: bytes | memoryview, offset: int) -> tuple[list[int], int]:
    """Read an index path at ``offset``; returns it and the offset of the payload."""
    count, offset = _read_zigzag(data, offset)
    if count == 0:
        return [0], offset
    if count < 0 or count > 10_000:
        raise WireFormatError(f"invalid message-index count {count}")
    indexes = []
    for _ in range(count):
        index, offset = _read_zigzag(data, offset)
        indexes.append(index)
    return indexes, offset


def encode_header(schema_id: int, message_indexes: Sequence[int] | None = None) -> bytes:
    """Magic byte + id (+ index path for protobuf): the prefix of every framed record."""
    header = _HEADER.pack(MAGIC_BYTE, schema_id)
    if message_indexes is not None:
        header += encode_message_indexes(message_indexes)
    return header


def is_framed(data: bytes | memoryview) -> bool:
    return len(data) >= HEADER_SIZE and data[0] == MAGIC_BYTE


def decode_schema_id(data: bytes | memoryview) -> int:
    if not is_framed(data):
        raise WireFormatError("not a Confluent-framed record (magic byte 0 missing)")
    schema_id: int = _HEADER.unpack_from(data, 0)[1]
    return schema_id
