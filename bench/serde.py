"""Protobuf vs JSON on clickstream-like records, and our serdes vs confluent-kafka's.

Prints, from one run: the framed protobuf size as a ratio of the JSON size, and our
serialize+deserialize rate as a ratio of confluent-kafka's ProtobufSerializer/Deserializer on
the same records (both against confluent's in-memory mock registry, so no network is timed).

The JSON is what the collectors send (ids as hex strings, RFC 3339 times, closed sets as
strings), compact (no whitespace). Two protobuf models are measured on it: ``clickstream.proto``
keeps every field as the JSON spells it (strings stay strings); ``click_event_compact.proto`` is
the schema a protobuf user would write (ids as bytes/integers; closed categorical strings -
action, OS, experiments, campaign - as enums with a string fallback for values the enum does not
know; epoch microseconds; integer cents; the repeated enum packed; frequent fields on numbers
1-15), with ``to_message`` / ``to_record`` converting each record there and back; the run asserts
that every record survives the round trip unchanged, so the smaller size loses no information.
Run: ``python bench/serde.py [--records N]``.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka.schema_registry import SchemaRegistryClient, topic_subject_name_strategy
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer as CDeserializer
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer as CSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import json_format
from google.protobuf.message import Message

from schemas.formats import ProtobufSchema, handler_for
from schemas.serde import ConfluentClientLookup, ProtobufDeserializer, ProtobufSerializer
from schemas.types import SchemaType

SAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "samples"
AS_SENT = SAMPLES / "clickstream.proto"
SAMPLE = SAMPLES / "click_event_compact.proto"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
ACTIONS = ["VIEW", "CLICK", "SCROLL", "PURCHASE"]
PATHS = ["/", "/search", "/product/{}", "/cart", "/checkout", "/category/{}"]


def make_records(count: int, seed: int = 7) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    records = []
    for n in range(count):
        ts = datetime.fromtimestamp(1_714_000_000 + n * 0.37 + rng.random(), tz=UTC)
        record: dict[str, Any] = {
            "event_id": f"{rng.getrandbits(128):032x}",
            "user_id": f"user-{rng.randrange(50_000)}",
            "session_id": f"sess-{rng.getrandbits(48):012x}",
            "occurred_at": ts.isoformat().replace("+00:00", "Z"),
            "action": rng.choice(ACTIONS),
            "url": "https://shop.example.com" + rng.choice(PATHS).format(rng.randrange(9999)),
            "device": {
                "user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/126.0",
                "os": rng.choice(["linux", "ios", "android", "windows"]),
                "screen_width": rng.choice([390, 1280, 1920]),
                "screen_height": rng.choice([844, 800, 1080]),
            },
            "attributes": {"campaign": rng.choice(["spring", "brand", "retarget"])},
            "experiments": rng.sample(["exp-checkout-v2", "exp-reco-b", "exp-nav"], k=2),
            "value": round(rng.random() * 200, 2),
            "dwell_ms": rng.randrange(100, 60_000),
        }
        if rng.random() < 0.5:
            record["referrer"] = "https://www.search.example/?q=shoes"
        records.append(record)
    return records


def _prefixed(value: str, prefix: str) -> str:
    if not value.startswith(prefix):
        raise ValueError(f"{value!r} does not start with {prefix!r}")
    return value[len(prefix) :]


def _experiment_enum(name: str) -> str:
    return name.upper().replace("-", "_")


def _campaign_enum(name: str) -> str:
    return f"CAMPAIGN_{name.upper()}"


def to_message(record: dict[str, Any], cls: Any) -> Message:
    """A collector's JSON record as the well-modelled ``ClickEvent`` (lossless).

    Closed categories become enums when the enum knows every value; otherwise the strings go to
    the fallback fields, so a new experiment or campaign is carried before the schema knows it.
    """
    occurred = datetime.fromisoformat(record["occurred_at"])
    device = record["device"]
    attributes = dict(record["attributes"])
    experiments = [_experiment_enum(e) for e in record["experiments"]]
    known_experiments = set(experiments) <= set(cls.Experiment.keys())
    campaign = _campaign_enum(attributes.get("campaign", ""))
    if campaign in set(cls.Campaign.keys()):
        del attributes["campaign"]
    else:
        campaign = "CAMPAIGN_UNSPECIFIED"
    message = cls(
        event_id=bytes.fromhex(record["event_id"]),
        user_id=int(_prefixed(record["user_id"], "user-")),
        session_id=bytes.fromhex(_prefixed(record["session_id"], "sess-")),
        occurred_at_us=(occurred - EPOCH) // MICROSECOND,
        action=record["action"],
        url=record["url"],
        attributes=attributes,
        experiments=experiments if known_experiments else [],
        experiment_names=[] if known_experiments else record["experiments"],
        campaign=campaign,
        value_cents=round(record["value"] * 100),
        dwell_ms=record["dwell_ms"],
    )
    message.device.user_agent = device["user_agent"]
    message.device.os = device["os"].upper()
    message.device.screen_width = device["screen_width"]
    message.device.screen_height = device["screen_height"]
    if "referrer" in record:
        message.referrer = record["referrer"]
    return message


def to_record(message: Any) -> dict[str, Any]:
    """The JSON record back, exactly as the collector sent it."""
    occurred = EPOCH + message.occurred_at_us * MICROSECOND
    device = message.device
    record: dict[str, Any] = {
        "event_id": message.event_id.hex(),
        "user_id": f"user-{message.user_id}",
        "session_id": f"sess-{message.session_id.hex()}",
        "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
        "action": message.Action.Name(message.action),
        "url": message.url,
        "device": {
            "user_agent": device.user_agent,
            "os": message.Os.Name(device.os).lower(),
            "screen_width": device.screen_width,
            "screen_height": device.screen_height,
        },
        "attributes": dict(message.attributes),
        "experiments": list(message.experiment_names)
        or [message.Experiment.Name(e).lower().replace("_", "-") for e in message.experiments],
        "value": message.value_cents / 100,
        "dwell_ms": message.dwell_ms,
    }
    if message.campaign:
        campaign = message.Campaign.Name(message.campaign).removeprefix("CAMPAIGN_")
        record["attributes"]["campaign"] = campaign.lower()
    if message.HasField("referrer"):
        record["referrer"] = message.referrer
    return record


def _rate(fn: Callable[[], None], count: int, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    args = parser.parse_args()

    handler = handler_for(SchemaType.PROTOBUF)
    schema, as_sent = handler.parse(SAMPLE.read_text(), []), handler.parse(AS_SENT.read_text(), [])
    assert isinstance(schema, ProtobufSchema) and isinstance(as_sent, ProtobufSchema)
    cls, as_sent_cls = schema.message_class([0]), as_sent.message_class([0])
    records = make_records(args.records)
    messages: list[Message] = [to_message(r, cls) for r in records]
    assert [to_record(m) for m in messages] == records, "the compact model must be lossless"
    novel = {**records[0], "experiments": ["exp-new"], "attributes": {"campaign": "winter"}}
    assert to_record(to_message(novel, cls)) == novel, "values the enums lack must survive too"
    as_sent_bytes = sum(
        len(json_format.ParseDict(r, as_sent_cls()).SerializeToString()) + 6 for r in records
    )

    client = SchemaRegistryClient.new_client({"url": "mock://bench"})
    conf = {"subject.name.strategy": topic_subject_name_strategy}
    ctx = SerializationContext("clicks", MessageField.VALUE)
    theirs_ser, theirs_de = CSerializer(cls, client, conf), CDeserializer(cls, conf)
    lookup = ConfluentClientLookup(client)
    ours_ser, ours_de = ProtobufSerializer(lookup), ProtobufDeserializer(lookup, cls)

    json_bytes = sum(len(orjson.dumps(r)) for r in records)
    framed = [ours_ser.serialize("clicks-value", m) for m in messages]
    assert framed == [theirs_ser(m, ctx) for m in messages[:100]] + framed[100:]
    proto_bytes = sum(len(f) for f in framed)

    def ours() -> None:
        for m in messages:
            ours_de.deserialize(ours_ser.serialize("clicks-value", m))

    def theirs() -> None:
        for m in messages:
            theirs_de(theirs_ser(m, ctx), ctx)

    our_rate, their_rate = _rate(ours, len(messages)), _rate(theirs, len(messages))
    ratio = proto_bytes / json_bytes
    print(f"records: {len(records)}")
    print(
        f"size, field for field as the JSON spells them (clickstream.proto): "
        f"{as_sent_bytes / len(records):.1f} B/record -> ratio {as_sent_bytes / json_bytes:.3f} "
        f"({(1 - as_sent_bytes / json_bytes) * 100:.1f}% smaller)"
    )
    print(
        "well-modelled schema: ids as bytes/integers; action, OS, experiments and campaign as "
        "enums (string fallback for unknown values); epoch-microsecond int64 time; int64 "
        "cents; packed repeated enum; fields 1-15 for the frequent ones; JSON: compact orjson"
    )
    print(
        f"size, well-modelled (click_event_compact.proto): protobuf "
        f"{proto_bytes / len(records):.1f} B/record, "
        f"JSON {json_bytes / len(records):.1f} B/record -> ratio {ratio:.3f} "
        f"({(1 - ratio) * 100:.1f}% smaller; requirement >= 40%, target >= 60%)"
    )
    print(
        f"serialize+deserialize: ours {our_rate:,.0f} rec/s, confluent-kafka {their_rate:,.0f} "
        f"rec/s -> ratio {our_rate / their_rate:.2f} (target >= 1.0)"
    )


if __name__ == "__main__":
    main()
