from __future__ import annotations

import json
from pathlib import Path

import pytest

from app import broker_profile
from app.settings import Settings, SettingsError


def test_defaults() -> None:
    s = Settings.from_env({})
    assert (s.web_port, s.partitions, s.redis_url, s.embedded_broker) == (6066, 4, "", False)
    assert s.topics.raw == "datanexus.ingest.raw"


def test_env_overrides_config_file(tmp_path: Path) -> None:
    config = tmp_path / "dn.json"
    config.write_text(json.dumps({"web_port": 7000, "partitions": 8, "redis_url": "redis://x:1"}))
    s = Settings.from_env({"DATANEXUS_CONFIG": str(config), "DATANEXUS_PARTITIONS": "2"})
    assert (s.web_port, s.partitions, s.redis_url) == (7000, 2, "redis://x:1")


def test_toml_config(tmp_path: Path) -> None:
    config = tmp_path / "dn.toml"
    config.write_text('kafka_bootstrap = "k:9092"\nembedded_broker = true\n')
    s = Settings.from_env({"DATANEXUS_CONFIG": str(config)})
    assert s.kafka_bootstrap == "k:9092" and s.embedded_broker is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATANEXUS_WEB_PORT": "abc"}, "DATANEXUS_WEB_PORT"),
        ({"DATANEXUS_WEB_PORT": "70000"}, "DATANEXUS_WEB_PORT"),
        ({"DATANEXUS_PARTITIONS": "0"}, "DATANEXUS_PARTITIONS"),
        ({"DATANEXUS_REDIS_URL": "localhost:6379"}, "DATANEXUS_REDIS_URL"),
        ({"DATANEXUS_CONFIG": "/nonexistent.toml"}, "DATANEXUS_CONFIG"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_quirk_profile_only_for_embedded_broker() -> None:
    assert broker_profile.faust_settings(Settings()) == {}
    assert broker_profile.consumer_config(Settings()) == {}
    embedded = broker_profile.faust_settings(Settings(embedded_broker=True))
    assert embedded["producer_max_batch_size"] == 1
    assert embedded["broker_session_timeout"] <= 10
