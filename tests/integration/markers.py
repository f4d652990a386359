"""Markers shared by the integration modules."""

from __future__ import annotations

import pytest

# The embedded broker (Tansu) was seen to skip a record now and then for a consumer at the
# live end of a topic written in multi-record batches, around worker restarts (see
# app/testing.py:read_topic). A raw confluent-kafka or aiokafka consumer reading 300k records
# at the live end saw no gap, so it takes a restart (group re-join, committed-offset seek) to
# hit it. Exactness tests exposed to it are re-run, at most twice; a real loss in our code
# fails every run.
DEV_BROKER_LIVE_END_SKIP = pytest.mark.flaky(reruns=2)
