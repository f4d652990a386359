"""De-duplication wired into the running product: the STREAM stage inside the Kafka ingest agent
(Faust table over RocksDB + changelog), the EDGE engine of `POST /v1/ingest`, and the config shared
by every instance through Redis. The engines themselves live in `tables.dedupe`."""

from agents.dedupe.runtime import DedupeRuntime, install_dedupe

__all__ = ["DedupeRuntime", "install_dedupe"]
