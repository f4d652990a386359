"""The Python front end for plain proto3 builds exactly protoc's descriptor, or declines."""

from __future__ import annotations

import random

import pytest

from schemas.formats import ProtobufSchema, handler_for
from schemas.formats.protobuf_compile import compile_proto
from schemas.formats.protobuf_fast import parse_plain
from schemas.types import SchemaError, SchemaType

SAME_AS_PROTOC = {
    "scalars, optional and repeated": """syntax = "proto3";
package bench.v1;
message Checked {
  int64 id = 1;
  optional string f0 = 2;  // a comment
  repeated double values = 3;
  /* block
     comment */ bytes raw = 4;
  sint64 s = 5; fixed32 f = 6; sfixed64 sf = 7; bool ok = 8; float x = 9; uint32 u = 10;
}
""",
    "nested types, maps, oneofs, enums": """syntax = 'proto3';
package a.b;
enum Top { TOP_UNSPECIFIED = 0; TOP_A = 1; }
message M {
  message Inner { Top t = 1; repeated Inner kids = 2; map<string, Inner> by_name = 3; }
  oneof choice { string s = 4; Inner i = 5; }
  optional int64 maybe = 6;
  map<int32, Top> my_map_field = 7;
  Inner inner = 8;
  optional Inner oi = 10;
  oneof other { bytes b = 11; }
  enum Color { COLOR_UNSPECIFIED = 0; RED = 1; }
  Color color = 12;
  string user_id_2 = 13;
}
message N { M m = 1; Top top = 2; }
""",
    "no package, self reference": """syntax = "proto3";
message M { M self = 1; optional string z = 2; map<bool, bytes> flags = 3; }
enum E { E_ZERO = 0; }
""",
}

PROTOC_REJECTS = {
    "duplicate number": "message M { int32 a = 1; int32 b = 1; }",
    "unknown type": "message M { Missing m = 1; }",
    "enum must start at 0": "enum E { E_ONE = 1; }",
    "duplicate name": "message M { int32 a = 1; string a = 2; }",
    "field clashes with a nested type": "message M { message T {} T T = 1; }",
    "enum values are siblings": "enum A { X = 0; } enum B { Y = 0; X = 1; }",
    "field number 0": "message M { int32 a = 0; }",
    "reserved numbers": "message M { int32 a = 19000; }",
    "float map key": "message M { map<float, string> m = 1; }",
    "empty oneof": "message M { oneof o {} }",
    "JSON name clash": "message M { int32 foo_bar = 1; int32 fooBar = 2; }",
    "required in proto3": "message M { required int32 a = 1; }",
    "a map entry named as a type": "message M { map<string, string> a = 1; AEntry e = 2; }",
}

DECLINED_BUT_VALID = {
    "import": 'import "google/protobuf/timestamp.proto";\n'
    "message M { google.protobuf.Timestamp at = 1; }",
    "options": 'option java_package = "x.y";\nmessage M { int32 a = 1 [deprecated = true]; }',
    "reserved": "message M { reserved 2; int32 a = 1; }",
    "dotted type name": "message M { message I {} } message N { M.I i = 1; }",
}


def protoc(text: str) -> object:
    return compile_proto(text, "default", [])[-1]


@pytest.mark.parametrize("text", SAME_AS_PROTOC.values(), ids=SAME_AS_PROTOC.keys())
def test_plain_files_give_protocs_descriptor(text: str) -> None:
    assert parse_plain(text, "default") == protoc(text)


@pytest.mark.parametrize("body", PROTOC_REJECTS.values(), ids=PROTOC_REJECTS.keys())
def test_what_protoc_rejects_is_declined_and_protoc_explains(body: str) -> None:
    text = f'syntax = "proto3";\npackage p;\n{body}\n'
    assert parse_plain(text, "default") is None
    with pytest.raises(SchemaError):
        handler_for(SchemaType.PROTOBUF).parse(text, [])


@pytest.mark.parametrize("body", DECLINED_BUT_VALID.values(), ids=DECLINED_BUT_VALID.keys())
def test_everything_else_goes_to_protoc(body: str) -> None:
    text = f'syntax = "proto3";\npackage p;\n{body}\n'
    assert parse_plain(text, "default") is None
    assert isinstance(handler_for(SchemaType.PROTOBUF).parse(text, []), ProtobufSchema)


def test_proto2_and_unknown_characters_are_declined() -> None:
    assert parse_plain('syntax = "proto2";\nmessage M { optional int32 a = 1; }', "d") is None
    assert parse_plain('syntax = "proto3";\nmessage M { int32 é = 1; }', "d") is None
    assert parse_plain('syntax = "proto3";\nmessage M { ' + "a" * 5000 + "!", "d") is None


def _random_file(rng: random.Random) -> str:
    scalars = ["int32", "int64", "uint64", "sint32", "string", "bytes", "bool", "double"]
    lines = ['syntax = "proto3";', f"package p{rng.randrange(3)}.v{rng.randrange(3)};"]
    lines.append("enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_B = 2; }")
    for m in range(rng.randrange(1, 4)):
        body = ["message Sub { string s = 1; Kind k = 2; }"] if rng.random() < 0.5 else []
        types = scalars + ["Kind"] + (["Sub"] if body else []) + [f"M{i}" for i in range(m)]
        numbers = rng.sample(range(1, 40), 8)
        for n, number in enumerate(numbers[:6]):
            label = rng.choice(["", "optional ", "repeated "])
            body.append(f"{label}{rng.choice(types)} field_{n}_x = {number};")
        body.append(f"map<string, {rng.choice(types)}> entries_{m} = {numbers[6]};")
        body.append(f"oneof pick {{ string a_{m} = {numbers[7]}; }}")
        lines.append(f"message M{m} {{ {' '.join(body)} }}")
    return "\n".join(lines) + "\n"


def test_random_plain_files_match_protoc() -> None:
    rng = random.Random(11)
    for _ in range(60):
        text = _random_file(rng)
        fast = parse_plain(text, "default")
        assert fast is not None, text
        assert fast == protoc(text), text
