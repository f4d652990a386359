"""SMTs and predicates as pure functions, built from Kafka Connect-style configs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.connect.chain import apply_chain, build_chain
from agents.connect.transforms import cast_value
from agents.connect.types import ConnectorError, ConnectRecord

T = "org.apache.kafka.connect.transforms."
P = "org.apache.kafka.connect.transforms.predicates."


def chain_of(**config: str) -> Any:
    chain, errors = build_chain(config)
    assert errors == []
    return chain


def run(config: dict[str, str], record: ConnectRecord) -> ConnectRecord | None:
    return apply_chain(chain_of(**config), record)


def rec(value: Any, **kw: Any) -> ConnectRecord:
    return ConnectRecord(topic=kw.pop("topic", "orders"), value=value, **kw)


def test_insert_field_adds_metadata_and_static_and_updates_schema() -> None:
    schema = {"type": "struct", "fields": [{"field": "id", "type": "int64", "optional": False}]}
    out = run(
        {
            "transforms": "ins",
            "transforms.ins.type": T + "InsertField$Value",
            "transforms.ins.topic.field": "src_topic",
            "transforms.ins.offset.field": "off!",
            "transforms.ins.static.field": "origin",
            "transforms.ins.static.value": "file",
        },
        rec({"id": 1}, value_schema=schema, kafka_offset=42),
    )
    assert out is not None and out.value_schema is not None
    assert out.value == {"id": 1, "src_topic": "orders", "off": 42, "origin": "file"}
    assert [f["field"] for f in out.value_schema["fields"]] == ["id", "src_topic", "off", "origin"]
    off = next(f for f in out.value_schema["fields"] if f["field"] == "off")
    assert off == {"field": "off", "type": "int64", "optional": False}


def test_replace_field_excludes_includes_and_renames() -> None:
    config = {
        "transforms": "r",
        "transforms.r.type": T + "ReplaceField$Value",
        "transforms.r.exclude": "secret",
        "transforms.r.renames": "amt:amount",
    }
    out = run(config, rec({"id": 1, "secret": "x", "amt": 5}))
    assert out is not None and out.value == {"id": 1, "amount": 5}
    config2 = {
        "transforms": "r",
        "transforms.r.type": T + "ReplaceField$Key",
        "transforms.r.include": "id",
    }
    out2 = run(config2, rec(None, key={"id": 7, "other": 1}))
    assert out2 is not None and out2.key == {"id": 7}


def test_mask_field_uses_type_nulls_or_replacement() -> None:
    out = run(
        {
            "transforms": "m",
            "transforms.m.type": T + "MaskField$Value",
            "transforms.m.fields": "card,n,ok",
        },
        rec({"card": "4111", "n": 12, "ok": True, "keep": "k"}),
    )
    assert out is not None and out.value == {"card": "", "n": 0, "ok": False, "keep": "k"}
    out2 = run(
        {
            "transforms": "m",
            "transforms.m.type": T + "MaskField$Value",
            "transforms.m.fields": "card",
            "transforms.m.replacement": "****",
        },
        rec({"card": "4111"}),
    )
    assert out2 is not None and out2.value == {"card": "****"}


def test_cast_fields_and_whole_value() -> None:
    out = run(
        {
            "transforms": "c",
            "transforms.c.type": T + "Cast$Value",
            "transforms.c.spec": "price:float64,qty:int32,flag:boolean,n:string",
        },
        rec({"price": "9.5", "qty": "3", "flag": "TRUE", "n": 5}),
    )
    assert out is not None and out.value == {"price": 9.5, "qty": 3, "flag": True, "n": "5"}
    whole = run(
        {"transforms": "c", "transforms.c.type": T + "Cast$Key", "transforms.c.spec": "int64"},
        rec({"a": 1}, key="12"),
    )
    assert whole is not None and whole.key == 12
    with pytest.raises(ConnectorError):
        run(
            {
                "transforms": "c",
                "transforms.c.type": T + "Cast$Value",
                "transforms.c.spec": "qty:int32",
            },
            rec({"qty": "three"}),
        )


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_cast_to_int8_wraps_like_java(n: int) -> None:
    result = cast_value(n, "int8")
    assert -128 <= result <= 127
    assert (result - n) % 256 == 0


def test_timestamp_converter_string_unix_and_timestamp() -> None:
    to_unix = {
        "transforms": "ts",
        "transforms.ts.type": T + "TimestampConverter$Value",
        "transforms.ts.field": "at",
        "transforms.ts.target.type": "unix",
        "transforms.ts.format": "yyyy-MM-dd HH:mm:ss.SSS",
    }
    out = run(to_unix, rec({"at": "2024-03-01 12:00:00.250"}))
    expected_ms = int(datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC).timestamp() * 1000)
    assert out is not None and out.value == {"at": expected_ms}
    back = run({**to_unix, "transforms.ts.target.type": "string"}, rec({"at": expected_ms}))
    assert back is not None and back.value == {"at": "2024-03-01 12:00:00.250"}
    moment = run(
        {**to_unix, "transforms.ts.target.type": "Timestamp", "transforms.ts.format": ""},
        rec(
            {"at": expected_ms},
            value_schema={
                "type": "struct",
                "fields": [{"field": "at", "type": "int64", "optional": False}],
            },
        ),
    )
    assert moment is not None and moment.value_schema is not None
    assert moment.value["at"] == datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert moment.value_schema["fields"][0]["name"] == "org.apache.kafka.connect.data.Timestamp"
    seconds = run(
        {**to_unix, "transforms.ts.format": "", "transforms.ts.unix.precision": "seconds"},
        rec({"at": datetime(1970, 1, 2, tzinfo=UTC)}),
    )
    assert seconds is not None and seconds.value == {"at": 86400}


def test_filter_with_predicates_and_negate() -> None:
    base = {
        "transforms": "drop",
        "transforms.drop.type": T + "Filter",
        "transforms.drop.predicate": "isTest",
        "predicates": "isTest",
        "predicates.isTest.type": P + "TopicNameMatches",
        "predicates.isTest.pattern": "test-.*",
    }
    assert run(base, rec({"a": 1}, topic="test-1")) is None
    assert run(base, rec({"a": 1}, topic="prod-1")) is not None
    negated = {**base, "transforms.drop.negate": "true"}
    assert run(negated, rec({"a": 1}, topic="test-1")) is not None
    assert run(negated, rec({"a": 1}, topic="prod-1")) is None
    tomb = {
        "transforms": "d",
        "transforms.d.type": T + "Filter",
        "transforms.d.predicate": "t",
        "predicates": "t",
        "predicates.t.type": P + "RecordIsTombstone",
    }
    assert run(tomb, rec(None)) is None
    assert run(tomb, rec({"x": 1})) is not None
    header = {
        "transforms": "d",
        "transforms.d.type": T + "Filter",
        "transforms.d.predicate": "h",
        "predicates": "h",
        "predicates.h.type": P + "HasHeaderKey",
        "predicates.h.name": "skip",
    }
    assert run(header, rec({"x": 1}, headers=(("skip", b"1"),))) is None
    assert run(header, rec({"x": 1}, headers=(("other", b"1"),))) is not None


def test_predicate_makes_a_transform_conditional() -> None:
    config = {
        "transforms": "mask",
        "transforms.mask.type": T + "MaskField$Value",
        "transforms.mask.fields": "email",
        "transforms.mask.predicate": "pii",
        "predicates": "pii",
        "predicates.pii.type": P + "TopicNameMatches",
        "predicates.pii.pattern": "users",
    }
    assert run(config, rec({"email": "a@b"}, topic="users")).value == {"email": ""}  # type: ignore[union-attr]
    assert run(config, rec({"email": "a@b"}, topic="x")).value == {"email": "a@b"}  # type: ignore[union-attr]


def test_chain_errors_name_the_bad_key() -> None:
    _, errors = build_chain(
        {
            "transforms": "a,b,c",
            "transforms.a.type": T + "Nope$Value",
            "transforms.b.type": T + "Cast$Value",
            "transforms.b.spec": "x:decimal",
            "transforms.c.type": T + "Filter",
            "transforms.c.predicate": "missing",
        }
    )
    keys = [k for k, _ in errors]
    assert keys == ["transforms.a.type", "transforms.b.spec", "transforms.c.predicate"]
    assert "transforms.b.spec" in errors[1][1]


def test_value_to_key_then_extract_field() -> None:
    out = run(
        {
            "transforms": "k,x",
            "transforms.k.type": T + "ValueToKey",
            "transforms.k.fields": "id",
            "transforms.x.type": T + "ExtractField$Key",
            "transforms.x.field": "id",
        },
        rec({"id": 5, "n": "a"}),
    )
    assert out is not None and out.key == 5 and out.value == {"id": 5, "n": "a"}
    with pytest.raises(ConnectorError):
        run(
            {
                "transforms": "k",
                "transforms.k.type": T + "ValueToKey",
                "transforms.k.fields": "nope",
            },
            rec({"id": 5}),
        )
