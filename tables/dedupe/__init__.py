"""Streaming de-duplication: exact, fuzzy and Bloom modes, shared through Redis.

Late duplicates (seen before, but longer ago than the window) are recognised through a
time-sliced Bloom summary over the late horizon (24 h by default). That recognition is
approximate: a never-seen record is reported `late` with about `late_fp_rate` probability
(so `drop`/`dlq` late policies can lose that share of unique records), and a record seen just
beyond the horizon may still be recognised for up to one summary slice (6 h by default).
Exact mode knows late ids exactly while the local state still holds them.
"""

from tables.dedupe.config import (
    DedupeConfig,
    DedupeConfigError,
    DedupeConfigRegistry,
    DedupeMode,
    LatePolicy,
    WindowClock,
    parse_dedupe_config,
)
from tables.dedupe.engine import DedupeEngine
from tables.dedupe.keys import canonical_json, exact_key, fuzzy_key
from tables.dedupe.local_state import WindowedMemoryState
from tables.dedupe.metrics import DedupeMetrics
from tables.dedupe.types import (
    LATE_HEADER,
    DedupeAction,
    DedupeResult,
    DedupeStage,
    DedupeState,
    Record,
    Verdict,
)

__all__ = [
    "LATE_HEADER",
    "DedupeAction",
    "DedupeConfig",
    "DedupeConfigError",
    "DedupeConfigRegistry",
    "DedupeEngine",
    "DedupeMetrics",
    "DedupeMode",
    "DedupeResult",
    "DedupeStage",
    "DedupeState",
    "LatePolicy",
    "Record",
    "Verdict",
    "WindowClock",
    "WindowedMemoryState",
    "canonical_json",
    "exact_key",
    "fuzzy_key",
    "parse_dedupe_config",
]
