"""``datanexus schemas ...``: migration and codegen against a running registry over HTTP.

They talk to the registry the way every other client does (confluent-kafka's
``SchemaRegistryClient`` on the DataNexus web URL), so they work against any
Confluent-compatible registry too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

from schemas.codegen import write_codegen
from schemas.migrate import ConfluentSubjectRegistry, format_report, migrate_subjects
from schemas.serde.lookup import ConfluentClientLookup
from schemas.types import ParsedSchema, SchemaType

DEFAULT_REGISTRY_URL = "http://127.0.0.1:6066"

registry_url = click.option(
    "--url",
    envvar="DATANEXUS_REGISTRY_URL",
    default=DEFAULT_REGISTRY_URL,
    show_default=True,
    help="Schema registry base URL (a DataNexus worker serves it at its web URL).",
)


@click.group(help="Schema registry tools: JSON Schema -> protobuf migration, code generation.")
def schemas() -> None:
    pass


def _client(url: str) -> SchemaRegistryClient:
    return SchemaRegistryClient({"url": url})


def _json_subjects(client: SchemaRegistryClient) -> list[str]:
    """Subjects whose latest version is a JSON Schema."""
    found = []
    for subject in client.get_subjects():
        latest = client.get_latest_version(subject).schema
        if (latest.schema_type or "AVRO") == SchemaType.JSON.value:
            found.append(subject)
    return found


@schemas.command(help="Convert JSON Schema subjects to protobuf, register them, write a report.")
@registry_url
@click.argument("subjects", nargs=-1)
@click.option(
    "--target",
    default="{subject}",
    show_default=True,
    help="Subject to register each protobuf under; {subject} is the JSON subject. The same "
    "subject needs a compatibility level that allows a type change (e.g. NONE).",
)
@click.option("--package", default="datanexus", show_default=True, help="Protobuf package.")
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("schema-migration-report.md"),
    show_default=True,
    help="Markdown report of everything not mapped exactly.",
)
@click.option("--dry-run", is_flag=True, help="Convert and report, register nothing.")
def migrate(
    url: str, subjects: tuple[str, ...], target: str, package: str, report: Path, dry_run: bool
) -> None:
    client = _client(url)
    try:
        chosen = list(subjects) or _json_subjects(client)
    except SchemaRegistryError as exc:
        raise click.ClickException(f"registry at {url}: {exc}") from exc
    if not chosen:
        click.echo("no JSON Schema subjects to migrate")
        return
    with click.progressbar(
        length=len(chosen), label="migrating", file=sys.stderr, show_pos=True
    ) as bar:
        results = migrate_subjects(
            ConfluentSubjectRegistry(client),
            chosen,
            progress=lambda _done, _total, _subject: bar.update(1),
            target_subject=lambda subject: target.format(subject=subject),
            package=package,
            dry_run=dry_run,
        )
    report.parent.mkdir(parents=True, exist_ok=True)
    report.write_text(format_report(results), encoding="utf-8")
    failed = [r for r in results if r.error]
    inexact = sum(1 for r in results if r.notes)
    for result in results:
        outcome = result.error or ("dry run" if dry_run else f"id {result.schema_id}")
        click.echo(f"{result.subject} -> {result.target_subject}: {outcome}")
    click.echo(
        f"{len(results) - len(failed)} migrated, {len(failed)} failed, {inexact} with notes; "
        f"report: {report}"
    )
    if failed:
        raise SystemExit(1)


@schemas.command(help="Generate Python (protoc + .pyi) and TypeScript for registered subjects.")
@registry_url
@click.argument("subjects", nargs=-1)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("generated"),
    show_default=True,
    help="Output directory (python/ and typescript/ below it).",
)
def codegen(url: str, subjects: tuple[str, ...], out: Path) -> None:
    client = _client(url)
    lookup = ConfluentClientLookup(client)
    parsed: dict[str, ParsedSchema] = {}
    try:
        for subject in subjects or client.get_subjects():
            latest = lookup.latest(subject)
            if latest is None:
                raise click.ClickException(f"subject {subject!r} not found at {url}")
            parsed[subject] = latest[1]
    except SchemaRegistryError as exc:
        raise click.ClickException(f"registry at {url}: {exc}") from exc
    if not parsed:
        click.echo("no subjects")
        return
    written = write_codegen(parsed, out)
    for path in written:
        click.echo(str(path))
    click.echo(f"{len(written)} files for {len(parsed)} subjects in {out}")
