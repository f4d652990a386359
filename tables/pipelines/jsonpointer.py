"""RFC 6901 JSON pointers: the one place that escapes ``~`` and ``/`` in reference tokens."""

from __future__ import annotations

from collections.abc import Iterable


def escape_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def unescape_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def to_pointer(tokens: Iterable[str | int]) -> str:
    return "".join("/" + escape_token(t) for t in tokens)


def parse_pointer(pointer: str) -> list[str]:
    if pointer == "":
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"JSON pointer must be empty or start with '/': {pointer!r}")
    return [unescape_token(t) for t in pointer[1:].split("/")]
