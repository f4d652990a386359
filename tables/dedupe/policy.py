"""What happens to a record given its de-duplication result and the source's late policy."""

from __future__ import annotations

from tables.dedupe.config import LatePolicy
from tables.dedupe.types import DedupeAction, DedupeResult

_LATE_ACTIONS = {
    LatePolicy.ACCEPT: DedupeAction.FORWARD,
    LatePolicy.FLAG: DedupeAction.FLAG,
    LatePolicy.DROP: DedupeAction.DROP,
    LatePolicy.DLQ: DedupeAction.DLQ,
}


def action_for(result: DedupeResult, late_policy: LatePolicy) -> DedupeAction:
    if result is DedupeResult.UNIQUE:
        return DedupeAction.FORWARD
    if result is DedupeResult.DUPLICATE:
        return DedupeAction.DROP
    return _LATE_ACTIONS[late_policy]
