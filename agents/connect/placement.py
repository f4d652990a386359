"""Which partition of the tasks topic stands for a connector or one of its tasks.

Faust's consumer-group assignment of that topic decides which worker runs what: a worker runs
the tasks whose partitions it was assigned, so a dead worker's tasks move with its partitions.
"""

from __future__ import annotations

import zlib


def task_partition(connector: str, task_id: int, partitions: int) -> int:
    """Consecutive tasks of a connector take consecutive slots, so they spread evenly."""
    return (connector_partition(connector, partitions) + task_id) % partitions


def connector_partition(connector: str, partitions: int) -> int:
    return zlib.crc32(connector.encode()) % partitions
