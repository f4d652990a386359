"""``datanexus token ...``: manage API tokens from the shell, also while workers run.

The command writes the token record straight to the token topic every worker tails, so running
workers accept the new token within a poll interval; no worker needs to be reachable.
"""

from __future__ import annotations

import json
import time
import urllib.request

import click

from agents.tokens.service import SharedTokenStore, tokens_topic
from agents.tokens.topic_table import ensure_table_topic, read_table, write_records
from app.settings import Settings
from tables.pipelines.errors import ConflictError, NotFoundError
from tables.tokens import Role


class _RecordingDict(dict[str, object]):
    """A dict that remembers which keys were written, to send only those."""

    def __init__(self, data: dict[str, object]) -> None:
        super().__init__(data)
        self.written: dict[str, object] = {}

    def __setitem__(self, key: str, value: object) -> None:
        super().__setitem__(key, value)
        self.written[key] = value


def _settings() -> Settings:
    settings = Settings.from_env()
    if not settings.kafka_bootstrap:
        raise click.UsageError("set DATANEXUS_KAFKA_BOOTSTRAP (datanexus up prints it)")
    return settings


def _load(settings: Settings) -> tuple[str, _RecordingDict]:
    topic = tokens_topic(settings.app_id, settings.tokens_topic)
    ensure_table_topic(settings.kafka_bootstrap, topic)
    return topic, _RecordingDict(read_table(settings.kafka_bootstrap, topic))


@click.group(name="token", help="Create, list and revoke API tokens.")
def token_group() -> None:
    pass


@token_group.command(name="create", help="Create a token and print it (shown only this once).")
@click.option("--name", required=True, help="Who uses it; recorded as the author of changes.")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
def create_token(name: str, role: str) -> None:
    settings = _settings()
    topic, table = _load(settings)
    try:
        issued = SharedTokenStore(table).create(name=name, role=role, created_by="cli")
    except ConflictError as exc:
        raise click.ClickException(str(exc)) from None
    write_records(settings.kafka_bootstrap, topic, dict(table.written))
    click.echo(issued.token)


@token_group.command(name="list", help="List live tokens (never their secrets).")
def list_tokens() -> None:
    _, table = _load(_settings())
    for info in SharedTokenStore(table).list():
        click.echo(f"{info.token_id}  {info.role.value:<8}  {info.name}")


@token_group.command(name="revoke", help="Revoke a token by its id.")
@click.argument("token_id")
def revoke_token(token_id: str) -> None:
    settings = _settings()
    topic, table = _load(settings)
    try:
        SharedTokenStore(table).revoke(token_id, revoked_by="cli")
    except NotFoundError as exc:
        raise click.ClickException(str(exc)) from None
    write_records(settings.kafka_bootstrap, topic, dict(table.written))
    click.echo(f"revoked {token_id}")


def announce_bootstrap_token(url: str, token: str) -> None:
    """After ``datanexus up``: print the admin token once if the worker stored it (first start)."""
    auth: dict[str, object] = {}
    deadline = time.monotonic() + 60
    while not auth.get("tokens_loaded") and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                auth = json.loads(answer.read()).get("auth", {})
        except OSError:
            pass
        time.sleep(0.2)
    if not auth.get("enabled", True):
        click.echo("WARNING: DATANEXUS_AUTH=off: the /v1 API is open to anyone who can reach it")
    elif auth.get("bootstrap_token_used"):
        click.echo(
            "\nFirst start: an admin API token was created. It is shown only this once:\n"
            f"  export DATANEXUS_TOKEN={token}\n"
            '  curl -H "Authorization: Bearer $DATANEXUS_TOKEN" ...\n'
            "Create more with: datanexus token create --name NAME --role viewer|producer|editor"
        )
