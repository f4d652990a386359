"""A pure-Python front end for the plain proto3 subset, so most schemas skip protoc.

Running grpcio-tools' protoc costs ~250 us per call (feature defaults, a disk source tree, a
descriptor set written and read back), most of a compatibility check. ``parse_plain`` builds the
same ``FileDescriptorProto`` protoc would for files that use only ``syntax = "proto3"``, a
package, messages, enums, scalar/message/enum fields (``optional``, ``repeated``), maps and
oneofs, with types named by simple names defined in the file. Anything else (imports, options,
reserved, proto2, dotted type names, anything doubtful such as a name clash) answers ``None`` and
the caller runs protoc, which also produces the error messages: this module never rejects a
schema, it only declines. tests/unit/test_protobuf_fast.py checks it against protoc.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from google.protobuf import descriptor_pb2 as pb

from schemas.formats.protobuf_text import SCALAR_NAMES

_F = pb.FieldDescriptorProto
_SCALARS = {name: number for number, name in SCALAR_NAMES.items()}
_MAP_KEYS = {"int32", "int64", "uint32", "uint64", "sint32", "sint64", "fixed32", "fixed64"}
_MAP_KEYS |= {"sfixed32", "sfixed64", "bool", "string"}
_TOKEN_TEXT = r"[A-Za-z_]\w*+(?:\.[A-Za-z_]\w*+)*+|0|[1-9][0-9]*+|\"proto3\"|'proto3'|[{};=<>,]"
_TOKEN = re.compile(_TOKEN_TEXT, re.A)
# Tokens and blanks only; atomic and possessive, so a bad input fails without backtracking.
_ONLY_TOKENS = re.compile(rf"\s*+(?:(?>{_TOKEN_TEXT})\s*+)*+", re.A)
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PACKAGE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*", re.A)
_MAX_FIELD = (1 << 29) - 1


class _Decline(Exception):
    """Outside the subset: let protoc decide."""


@dataclass
class _Scope:
    """A message (or the file) being built, with every name declared directly in it."""

    full_name: str
    message: pb.DescriptorProto | None
    names: set[str] = field(default_factory=set)
    unresolved: list[tuple[pb.FieldDescriptorProto, str]] = field(default_factory=list)
    numbers: set[int] = field(default_factory=set)
    json_keys: set[str] = field(default_factory=set)

    def declare(self, name: str) -> None:
        if name in self.names or name.startswith("_"):
            raise _Decline(name)
        self.names.add(name)


class _Parser:
    def __init__(self, text: str) -> None:
        if "/" in text:
            text = _COMMENT.sub(" ", text)
        if not _ONLY_TOKENS.fullmatch(text):
            raise _Decline("outside the token set")
        self.tokens: list[str] = _TOKEN.findall(text)
        self.pos = 0
        self.types: dict[str, int] = {}  # full name (leading dot) -> TYPE_MESSAGE / TYPE_ENUM
        self.scopes: list[_Scope] = []
        self.values: set[str] = set()  # field, oneof and enum value names (never types)

    def peek(self) -> str:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ""

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        if not token or (expected is not None and token != expected):
            raise _Decline(f"expected {expected}, got {token!r}")
        self.pos += 1
        return token

    def ident(self) -> str:
        token = self.take()
        if not _IDENT.fullmatch(token):
            raise _Decline(token)
        return token

    def number(self) -> int:
        token = self.take()
        if not token.isdigit():
            raise _Decline(token)
        return int(token)

    def name_number(self) -> tuple[str, int]:
        """``name = number ;`` (the hot path: one slice instead of four ``take`` calls)."""
        start = self.pos
        part = self.tokens[start : start + 4]
        if len(part) != 4 or part[1] != "=" or part[3] != ";" or not part[2].isdigit():
            raise _Decline("expected name = number;")
        if not _IDENT.fullmatch(part[0]):
            raise _Decline(part[0])
        number = int(part[2])
        if not 1 <= number <= _MAX_FIELD or 19000 <= number <= 19999:
            raise _Decline("field number")
        self.pos = start + 4
        return part[0], number

    def file(self, name: str) -> pb.FileDescriptorProto:
        out = pb.FileDescriptorProto(name=name, syntax="proto3")
        self.take("syntax")
        self.take("=")
        if self.take() not in ('"proto3"', "'proto3'"):
            raise _Decline("syntax")
        self.take(";")
        if self.peek() == "package":
            self.take()
            out.package = self.take()
            if not _PACKAGE.fullmatch(out.package):
                raise _Decline(out.package)
            self.take(";")
        top = _Scope(f".{out.package}" if out.package else "", None)
        package_names = set(out.package.split(".")) if out.package else set()
        top.names.update(package_names)
        self.scopes.append(top)
        while self.peek():
            keyword = self.take()
            if keyword == "message":
                self.message(top, out.message_type.add())
            elif keyword == "enum":
                self.enum(top, out.enum_type.add())
            else:
                raise _Decline(keyword)
        self.resolve(package_names)
        return out

    def message(self, parent: _Scope, msg: pb.DescriptorProto) -> None:
        """Parse a message body into ``msg`` (added in place: a copy would lose resolved types)."""
        msg.name = self.ident()
        parent.declare(msg.name)
        scope = _Scope(f"{parent.full_name}.{msg.name}", msg)
        self.types[scope.full_name] = _F.TYPE_MESSAGE
        self.scopes.append(scope)
        self.take("{")
        optional: list[tuple[pb.FieldDescriptorProto, str]] = []
        while (keyword := self.take()) != "}":
            if keyword == "message":
                self.message(scope, msg.nested_type.add())
            elif keyword == "enum":
                self.enum(scope, msg.enum_type.add())
            elif keyword == "oneof":
                self.oneof(scope, msg)
            elif keyword == "map":
                self.map_field(scope, msg)
            elif keyword == "optional":
                f, name = self.field(scope, msg, self.take(), keyword)
                optional.append((f, name))
            elif keyword == "repeated":
                self.field(scope, msg, self.take(), keyword)
            else:
                self.field(scope, msg, keyword)
        oneofs = len(msg.oneof_decl)
        for index, (f, name) in enumerate(optional):  # protoc's synthetic oneofs, after the rest
            msg.oneof_decl.add(name=f"_{name}")
            f.oneof_index = oneofs + index

    def field(
        self, scope: _Scope, msg: pb.DescriptorProto, type_name: str, label: str = ""
    ) -> tuple[pb.FieldDescriptorProto, str]:
        name, number = self.name_number()
        self.declare_field(scope, name, number)
        f: pb.FieldDescriptorProto = msg.field.add(
            name=name,
            number=number,
            label=_F.LABEL_REPEATED if label == "repeated" else _F.LABEL_OPTIONAL,
            json_name=_json_name(name),
            proto3_optional=True if label == "optional" else None,
        )
        self.set_type(scope, f, type_name)
        return f, name

    def declare_field(self, scope: _Scope, name: str, number: int) -> None:
        json_key = name.replace("_", "").lower()  # stricter than protoc's JSON-name clash rule
        if number in scope.numbers or json_key in scope.json_keys:
            raise _Decline("field number or JSON name clash")
        scope.numbers.add(number)
        scope.json_keys.add(json_key)
        scope.declare(name)
        self.values.add(name)

    def set_type(self, scope: _Scope, f: pb.FieldDescriptorProto, type_name: str) -> None:
        if type_name in _SCALARS:
            f.type = _SCALARS[type_name]
        elif _IDENT.fullmatch(type_name) and type_name not in ("map", "group", "oneof"):
            scope.unresolved.append((f, type_name))
        else:
            raise _Decline(type_name)

    def map_field(self, scope: _Scope, msg: pb.DescriptorProto) -> None:
        self.take("<")
        key = self.take()
        self.take(",")
        value = self.take()
        self.take(">")
        if key not in _MAP_KEYS:
            raise _Decline("map key")
        name, number = self.name_number()
        self.declare_field(scope, name, number)
        entry_name = _map_entry_name(name)
        scope.declare(entry_name)
        entry = msg.nested_type.add(name=entry_name)
        entry.options.map_entry = True
        entry_type = f"{scope.full_name}.{entry_name}"  # not a type other fields may name
        key_field = entry.field.add(name="key", number=1, label=_F.LABEL_OPTIONAL, json_name="key")
        key_field.type = _SCALARS[key]
        value_field = entry.field.add(
            name="value", number=2, label=_F.LABEL_OPTIONAL, json_name="value"
        )
        self.set_type(scope, value_field, value)
        msg.field.add(
            name=name,
            number=number,
            label=_F.LABEL_REPEATED,
            type=_F.TYPE_MESSAGE,
            type_name=entry_type,
            json_name=_json_name(name),
        )

    def oneof(self, scope: _Scope, msg: pb.DescriptorProto) -> None:
        name = self.ident()
        scope.declare(name)
        self.values.add(name)
        index = len(msg.oneof_decl)
        msg.oneof_decl.add(name=name)
        self.take("{")
        count = 0
        while self.peek() != "}":
            type_name = self.take()
            if type_name in ("optional", "repeated", "map", "message", "enum", "oneof"):
                raise _Decline(type_name)
            self.field(scope, msg, type_name)[0].oneof_index = index
            count += 1
        self.take("}")
        if not count:
            raise _Decline("empty oneof")

    def enum(self, parent: _Scope, enum: pb.EnumDescriptorProto) -> None:
        enum.name = self.ident()
        parent.declare(enum.name)
        self.types[f"{parent.full_name}.{enum.name}"] = _F.TYPE_ENUM
        self.take("{")
        normalized: set[str] = set()
        prefix = enum.name.replace("_", "").upper()
        while self.peek() != "}":
            name = self.ident()
            self.take("=")
            number = self.number()
            self.take(";")
            parent.declare(name)  # enum values are siblings of their enum (C++ scoping)
            self.values.add(name)
            stripped = name.replace("_", "").upper()
            if len(stripped) > len(prefix) and stripped.startswith(prefix):
                stripped = stripped[len(prefix) :]
            if (
                number >= 1 << 31
                or stripped in normalized
                or any(v.number == number for v in enum.value)
            ):
                raise _Decline("enum value clash")
            normalized.add(stripped)
            enum.value.add(name=name, number=number)
        self.take("}")
        if not enum.value or enum.value[0].number != 0:
            raise _Decline("proto3 enums start at 0")

    def resolve(self, package_names: set[str]) -> None:
        """Resolve simple type names innermost scope first, as protoc does."""
        for scope in self.scopes:
            for f, name in scope.unresolved:
                if name in self.values or name in package_names:
                    raise _Decline(f"ambiguous name {name}")
                outer = scope.full_name
                while True:
                    candidate = f"{outer}.{name}"
                    if candidate in self.types:
                        f.type = self.types[candidate]
                        f.type_name = candidate
                        break
                    if not outer:
                        raise _Decline(f"unresolved {name}")
                    outer = outer.rpartition(".")[0]


def _json_name(field_name: str) -> str:
    """protoc's ``ToJsonName``: ``user_id`` -> ``userId``."""
    if "_" not in field_name:
        return field_name
    head, *rest = field_name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _map_entry_name(field_name: str) -> str:
    """protoc's ``MapEntryName``: ``my_map`` -> ``MyMapEntry``."""
    parts = []
    cap_next = True
    for char in field_name:
        if char == "_":
            cap_next = True
        elif cap_next:
            parts.append(char.upper() if "a" <= char <= "z" else char)
            cap_next = False
        else:
            parts.append(char)
    return "".join(parts) + "Entry"


def parse_plain(text: str, file_name: str) -> pb.FileDescriptorProto | None:
    """protoc's descriptor for ``text`` if it is plain proto3 (see the module doc), else None."""
    try:
        return _Parser(text).file(file_name)
    except (_Decline, ValueError):
        return None
