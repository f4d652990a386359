"""Markers shared by the integration modules."""

from __future__ import annotations

import pytest

# A source record went missing now and then around a worker restart (one record, one window
# short; up to ~140 on a faster machine). A raw confluent-kafka or aiokafka consumer reading 300k
# records at the live end of the embedded broker saw no gap, so it is not the broker alone. Found
# and fixed in faust-streaming 0.15's consumer since (app/faust_seek.py, app/faust_handover.py,
# agents/batching.py): the stream partitions were handed over while recovery's final seek ran,
# then set back and emptied (the windowed kill -9 test lost records in 3 of 6 runs on
# 2026-12-05, in 0 of 11 after the fix); that seek did not rewind partitions with no commit;
# records faust fetched and dropped without a seek were acked as a gap; commits could pass
# records still in flight when batches were acked out of order. The tests keep at most two
# re-runs, which would hide a loss that does not recur on every run: when touching the consumer,
# loop them with -p no:rerunfailures.
DEV_BROKER_LIVE_END_SKIP = pytest.mark.flaky(reruns=2)
