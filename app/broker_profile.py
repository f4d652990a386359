"""Every workaround for the embedded dev broker (Tansu), in one place.

Apache Kafka needs none of this: each function returns the plain settings unless the broker is the
embedded one (``Settings.embedded_broker``). See ``shared/dev-broker.md`` for the measured quirks:

1. ListOffsets answers wrong end offsets after multi-record batches, which misleads Faust changelog
   recovery -> Faust's own producer sends one-record batches.
2. Group joins are answered after about half the session timeout -> a short session timeout.
3. Memory only -> a fresh broker needs a fresh Faust data dir (see ``fresh_state_marker``).
4. A group leader that left (LeaveGroup answered) can stay the leader named in JoinGroup answers
   until its rebalance timeout (librdkafka ``max.poll.interval.ms``) runs out, so nobody syncs the
   group meanwhile: measured about 60 s with the default, about 16 s with 10 s. It bites when a
   worker dies and the survivor restarts its connect sink tasks -> a short poll interval.
"""

from __future__ import annotations

from typing import Any

from app.settings import Settings


def faust_settings(settings: Settings) -> dict[str, Any]:
    """Extra keyword settings for ``faust.App``."""
    if not settings.embedded_broker:
        return {}
    return {
        "producer_max_batch_size": 1,
        "broker_session_timeout": 6.0,
        "broker_heartbeat_interval": 1.0,
        "broker_rebalance_timeout": 20.0,
    }


def consumer_config(settings: Settings) -> dict[str, Any]:
    """Extra librdkafka consumer settings."""
    if not settings.embedded_broker:
        return {}
    return {
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
        "max.poll.interval.ms": 10000,
    }


def reads_to_end_by_empty_fetch(settings: Settings) -> bool:
    """Whether readers must ignore the high watermark and read until a fetch comes back empty."""
    return settings.embedded_broker


def registry_fetch_wait_ms(settings: Settings) -> int:
    """The schema registry reader's fetch wait (see ``schemas/registry/__init__.py``).

    Apache Kafka answers a long poll as soon as data arrives, so a long wait costs nothing there.
    Tansu answers only when the wait ends: short enough for quick read-back of registrations, long
    enough that an idle worker does not keep the broker busy with hundreds of fetches a second
    (5 ms measured: about 15% of the ingest agent's throughput on this 2-core machine)."""
    return 20 if settings.embedded_broker else 500
