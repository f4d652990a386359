"""The worker's local state directory (RocksDB tables).

The embedded broker is memory only: after it restarts, local RocksDB state describes offsets and
changelogs that no longer exist and Faust would crash on it. Each embedded broker has a fresh
cluster id, so the state dir records the cluster id it belongs to and is wiped when that changes.
Against Apache Kafka the directory is never touched.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from app.settings import Settings

log = logging.getLogger(__name__)

CLUSTER_MARKER = ".cluster-id"


def prepare_state_dir(settings: Settings, cluster_id: str | None) -> Path:
    path = settings.data_dir / settings.app_id
    marker = path / CLUSTER_MARKER
    if settings.embedded_broker and cluster_id:
        previous = marker.read_text().strip() if marker.is_file() else None
        if previous != cluster_id and path.exists():
            log.warning(
                "local state in %s belongs to broker cluster %s, now %s: starting clean",
                path,
                previous,
                cluster_id,
            )
            shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    if settings.embedded_broker and cluster_id:
        marker.write_text(cluster_id)
    return path
