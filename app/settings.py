"""DataNexus settings: environment variables (``DATANEXUS_*``) over an optional config file.

Precedence: environment > config file (``DATANEXUS_CONFIG``, TOML/JSON/YAML) > defaults. One frozen
object is built at start-up and handed to everything that needs configuration.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

ENV_PREFIX = "DATANEXUS_"


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the setting."""


@dataclass(frozen=True)
class TopicNames:
    """Names of the topics DataNexus owns; overridable so tests can use unique names."""

    raw: str = "datanexus.ingest.raw"
    accepted: str = "datanexus.ingest.accepted"
    dlq: str = "datanexus.ingest.dlq"


@dataclass(frozen=True)
class Settings:
    app_id: str = "datanexus"
    kafka_bootstrap: str = ""
    """Empty means: start the embedded dev broker (``datanexus up``)."""
    embedded_broker: bool = False
    """True when the broker is our embedded Tansu: switches on the quirk profile."""
    broker_port: int = 0
    """Port for the embedded broker; 0 picks a free loopback port."""
    redis_url: str = ""
    """Empty means: no shared state, one instance on its local RocksDB state."""
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: Path = Path("var/datanexus")
    partitions: int = 4
    replication_factor: int = 1
    ingest_max_batch: int = 10_000
    """Most records one ``POST /v1/ingest`` may carry."""
    ingest_max_body_bytes: int = 16 * 1024 * 1024
    agent_batch_size: int = 1000
    agent_batch_within_s: float = 0.05
    topic_raw: str = "datanexus.ingest.raw"
    topic_accepted: str = "datanexus.ingest.accepted"
    topic_dlq: str = "datanexus.ingest.dlq"
    log_level: str = "info"
    auth: bool = True
    """Bearer-token checks on every /v1 route; ``DATANEXUS_AUTH=off`` only for local experiments."""
    bootstrap_admin_token: str = ""
    """Stored as the first admin token when no token exists yet (``datanexus up``, tests)."""
    tokens_topic: str = ""
    """Compacted topic holding the token table; empty means ``<app_id>.tokens``."""
    query_retention_ms: int = 30 * 24 * 3600 * 1000
    """How long stored window results are kept for queries; 0 keeps them forever."""
    query_retention_interval_s: float = 300.0
    query_freshness_ms: int = 5_000
    """TTL of cached blocks whose windows may still change."""
    query_batch_window_ms: float = 2.0
    query_cache_max_points: int = 2_000_000
    query_peer_timeout_s: float = 10.0
    windows: Any = ""
    """Window pipelines (JSON list of window specs + source options, or ``@file``); see
    agents/windows/config.py."""
    gc_freeze: bool = True
    """Freeze the start-up heap for the garbage collector once the worker runs (gc_tuning.py)."""
    windows_batch_size: int = 20_000
    """Most records one window batch holds (bigger batches: fewer state writes per record)."""
    windows_batch_within_s: float = 0.1
    """Longest a window batch waits to fill. Longer waits fold more events into one write (0.5 s
    cost ~25% less CPU per record in bench/windows.py) but made a Faust consumer bug bite far
    more often (a record dropped while the consumer's flow is suspended for a rebalance, then
    committed past: tests/integration/markers.py), so the default stays short."""
    dedupe_config: Any = ""
    """De-duplication per source, JSON ``{"default": {...}, "sources": {name: {...}}}`` (fields as
    in ``PUT /v1/dedupe/config``); empty means exact mode, 5 min window, for every source. A config
    stored in Redis by ``PUT /v1/dedupe/config`` takes precedence."""
    dedupe_key_prefix: str = "dn:dedupe"
    """Prefix of the shared de-duplication keys in Redis (instances of one deployment share it)."""
    dedupe_redis_timeout_s: float = 0.5
    """Redis timeout of the dedupe engines: an outage degrades to local state within a batch."""
    connect_enabled: bool = True
    """Kafka Connect-style connectors (REST API under /connect); ``DATANEXUS_CONNECT_ENABLED=0``
    turns them off."""
    connect_topic_prefix: str = ""
    """Prefix of the connect topics (.configs, .status, .offsets compacted, .tasks); empty means
    ``<app_id>.connect``: one connect cluster per app, whose consumer group places its tasks."""
    connect_task_partitions: int = 8
    """Partitions of the tasks topic: task slots that Faust's group assignment spreads."""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_raw, self.topic_accepted, self.topic_dlq)

    @property
    def web_url(self) -> str:
        return f"http://{self.web_host}:{self.web_port}"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        config_path = env.get(ENV_PREFIX + "CONFIG")
        if config_path:
            values.update(_read_config_file(Path(config_path)))
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None and f.name != "extra":
                values[f.name] = raw
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Settings:
        known = {f.name: f for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                extra[name] = value
                continue
            kwargs[name] = _coerce(name, known[name].type, value)
        if extra:
            kwargs["extra"] = extra
        settings = cls(**kwargs)
        settings.validate()
        return settings

    def validate(self) -> None:
        if not 0 < self.web_port < 65536:
            raise SettingsError(f"DATANEXUS_WEB_PORT must be 1-65535, got {self.web_port}")
        if not 0 <= self.broker_port < 65536:
            raise SettingsError(f"DATANEXUS_BROKER_PORT must be 0-65535, got {self.broker_port}")
        if self.partitions < 1:
            raise SettingsError(f"DATANEXUS_PARTITIONS must be >= 1, got {self.partitions}")
        if self.ingest_max_batch < 1:
            raise SettingsError("DATANEXUS_INGEST_MAX_BATCH must be >= 1")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise SettingsError(
                f"DATANEXUS_REDIS_URL must be a redis:// URL, got {self.redis_url!r}"
            )


def _coerce(name: str, type_name: Any, value: Any) -> Any:
    kind = str(type_name)
    try:
        if kind == "bool":
            if isinstance(value, bool):
                return value
            return str(value).strip().lower() in {"1", "true", "yes", "on"}
        if kind == "int":
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "Path":
            return Path(value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"DATANEXUS_{name.upper()}: expected {kind}, got {value!r}") from exc
    return value


def _read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise SettingsError(f"DATANEXUS_CONFIG points to {path}, which is not a file")
    text = path.read_text()
    if path.suffix == ".toml":
        data: Any = tomllib.loads(text)
    elif path.suffix in {".yaml", ".yml"}:
        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise SettingsError(f"{path}: the config file must hold a mapping of settings")
    return {str(k).lower(): v for k, v in data.items()}
