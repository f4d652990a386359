"""Re-reading past offset gaps, so no registry instance silently skips a ``_schemas`` record.

Measured on the embedded broker (Tansu) with several producers writing one partition: now and
then one reader's fetch skips a record that other readers see (offsets ... 7606, 7608 ...). A
registry instance that skips a claim applies a different log from the others: it can accept a
later claim on the same id for another schema, and two schemas then share an id.

Apache Kafka leaves gaps only where it may (compaction, transaction markers); re-reading there
returns the same gap. So on a gap the reader seeks back and reads again; a gap that survives
``max_rereads`` re-reads is real and accepted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class GapVerdict(enum.Enum):
    APPLY = "apply"
    """The next record in order (or a gap confirmed by re-reading): hand it over."""
    SKIP = "skip"
    """Already handed over (read again after a seek)."""
    REREAD = "reread"
    """Records may be missing before this one: seek back to ``next_offset`` and read again."""


@dataclass
class OffsetGapGuard:
    next_offset: int
    """The offset the next record should have (0 for a partition read from its start)."""
    max_rereads: int = 5
    rereads: int = 0
    """Re-reads of the current gap so far."""
    accepted_gaps: int = 0

    def admit(self, offset: int) -> GapVerdict:
        if offset < self.next_offset:
            return GapVerdict.SKIP
        if offset > self.next_offset and self.rereads < self.max_rereads:
            self.rereads += 1
            return GapVerdict.REREAD
        if offset > self.next_offset:
            self.accepted_gaps += 1
        self.rereads = 0
        self.next_offset = offset + 1
        return GapVerdict.APPLY
