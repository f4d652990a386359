"""De-duplication keys: the record id (exact, bloom) or a payload fingerprint (fuzzy)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from hashlib import blake2b
from typing import Any

import orjson


def exact_key(record_id: str) -> str:
    return record_id


def _without(payload: Any, path: Sequence[str]) -> Any:
    """Copy only along the path, so the caller's payload is never modified."""
    if not isinstance(payload, dict) or path[0] not in payload:
        return payload
    head = path[0]
    if len(path) == 1:
        return {key: value for key, value in payload.items() if key != head}
    return {**payload, head: _without(payload[head], path[1:])}


def canonical_json(payload: Any, ignore_fields: Sequence[str] = ()) -> bytes:
    """Sorted keys, no whitespace: two payloads equal as JSON give equal bytes."""
    for dotted in ignore_fields:
        payload = _without(payload, dotted.split("."))
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # integers beyond 64 bits: the stdlib encoder gives the same layout
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return text.encode()


def fuzzy_key(payload: Any, ignore_fields: Sequence[str] = ()) -> str:
    """128-bit BLAKE2b of the canonical payload without the ignored fields, as 32 hex chars."""
    return blake2b(canonical_json(payload, ignore_fields), digest_size=16).hexdigest()
