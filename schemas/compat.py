"""Compatibility levels on top of the per-format ``incompatibilities(reader, writer)``."""

from __future__ import annotations

from collections.abc import Sequence

from schemas.formats import handler_for
from schemas.types import CompatibilityLevel, ParsedSchema

_BACKWARD = {
    CompatibilityLevel.BACKWARD,
    CompatibilityLevel.BACKWARD_TRANSITIVE,
    CompatibilityLevel.FULL,
    CompatibilityLevel.FULL_TRANSITIVE,
}
_FORWARD = {
    CompatibilityLevel.FORWARD,
    CompatibilityLevel.FORWARD_TRANSITIVE,
    CompatibilityLevel.FULL,
    CompatibilityLevel.FULL_TRANSITIVE,
}
_TRANSITIVE = {
    CompatibilityLevel.BACKWARD_TRANSITIVE,
    CompatibilityLevel.FORWARD_TRANSITIVE,
    CompatibilityLevel.FULL_TRANSITIVE,
}


def check(
    level: CompatibilityLevel, new: ParsedSchema, existing: Sequence[ParsedSchema]
) -> list[str]:
    """Why ``new`` may not follow ``existing`` (oldest first) under ``level``; empty means ok.

    Backward: the new schema reads data written with the old one. Forward: old readers read new
    data. Non-transitive levels check only the latest version, transitive ones every version.
    """
    if level == CompatibilityLevel.NONE or not existing:
        return []
    targets = list(existing) if level in _TRANSITIVE else [existing[-1]]
    messages: list[str] = []
    for old in reversed(targets):
        if old.schema_type != new.schema_type:
            messages.append(
                f"Incompatible schema type: {old.schema_type} cannot evolve into {new.schema_type}"
            )
            continue
        handler = handler_for(new.schema_type)
        if level in _BACKWARD:
            messages.extend(handler.incompatibilities(new, old))
        if level in _FORWARD:
            messages.extend(handler.incompatibilities(old, new))
    return list(dict.fromkeys(messages))
