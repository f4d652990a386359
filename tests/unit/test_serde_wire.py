"""Wire framing against confluent-kafka's own encoder/decoder (``SchemaId``)."""

from __future__ import annotations

import io

import pytest
from confluent_kafka.schema_registry.common.serde import SchemaId
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.wire import (
    WireFormatError,
    decode_message_indexes,
    decode_schema_id,
    encode_header,
    is_framed,
)

ids = st.integers(min_value=0, max_value=2**31 - 1)
paths = st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(schema_id=ids, indexes=paths)
def test_protobuf_header_matches_confluent_both_ways(schema_id: int, indexes: list[int]) -> None:
    ours = encode_header(schema_id, indexes)
    assert ours == SchemaId("PROTOBUF", schema_id, None, indexes).id_to_bytes()
    theirs = SchemaId("PROTOBUF")
    rest = theirs.from_bytes(io.BytesIO(ours + b"payload"))
    assert (theirs.id, theirs.message_indexes) == (schema_id, indexes)
    assert rest.read() == b"payload"
    decoded, offset = decode_message_indexes(ours, 5)
    assert decode_schema_id(ours) == schema_id and decoded == indexes and offset == len(ours)


@settings(max_examples=100, deadline=None)
@given(schema_id=ids)
def test_plain_header_is_magic_plus_big_endian_id(schema_id: int) -> None:
    header = encode_header(schema_id)
    assert header == b"\x00" + schema_id.to_bytes(4, "big")
    assert header == SchemaId("JSON", schema_id).id_to_bytes()


def test_first_message_path_is_a_single_zero_byte() -> None:
    assert encode_header(1, [0]) == b"\x00\x00\x00\x00\x01\x00"
    assert decode_message_indexes(b"\x00", 0) == ([0], 1)


@pytest.mark.parametrize("data", [b'{"a": 1}', b"[1]", b" {}", b"\x00\x00"])
def test_unframed_bytes_are_recognised(data: bytes) -> None:
    assert not is_framed(data)
    with pytest.raises(WireFormatError):
        decode_schema_id(data)


def test_truncated_index_path_is_an_error() -> None:
    with pytest.raises(WireFormatError):
        decode_message_indexes(b"\x04\x80", 0)
