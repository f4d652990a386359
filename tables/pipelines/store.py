"""Versioned pipeline configs over two key-value stores (Faust tables in the app, dicts in tests).

``pipelines[id]`` holds the head (current config, current and oldest kept version, soft-delete
mark); ``versions["<id>/<n:010d>"]`` holds each kept version. Writes for one pipeline must run on
one worker without awaiting in between (the app routes them to the partition owner); each method
here is synchronous, so it is atomic on that worker's event loop. Write order makes a crash between
writes harmless: the version first (re-written under the same number on retry), then the head,
then pruning.

Deletion is soft: the head is marked deleted (404 for every read and write) and the versions stay,
so creating the same id again continues its version numbering and history; ``purge`` erases all.
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from tables.pipelines.diff import ConfigDiff, diff_configs
from tables.pipelines.errors import (
    ConflictError,
    GoneError,
    NotFoundError,
    PipelineValidationError,
)
from tables.pipelines.jsonvalues import json_equal
from tables.pipelines.models import Pipeline, PipelineVersion, VersionKind, VersionMeta
from tables.pipelines.pagination import DEFAULT_PAGE_SIZE, check_page, slice_page
from tables.pipelines.types import ConfigIssue, KeyValueStore, Page, iter_keys
from tables.pipelines.validation import WindowSpecValidator, check_pipeline_config

MAX_VERSIONS = 100
MAX_DESCRIPTION_CHARS = 1000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def new_pipeline_id() -> str:
    return "pl-" + secrets.token_hex(8)


def version_key(pipeline_id: str, version: int) -> str:
    return f"{pipeline_id}/{version:010d}"


def _summarize(diff: ConfigDiff) -> str:
    paths = [change.path for change in diff.changes]
    shown = ", ".join(paths[:5]) + (f" (+{len(paths) - 5} more)" if len(paths) > 5 else "")
    return f"changed {shown}"


class PipelineStore:
    def __init__(
        self,
        pipelines: KeyValueStore,
        versions: KeyValueStore,
        *,
        clock: Callable[[], int] = now_ms,
        id_factory: Callable[[], str] = new_pipeline_id,
        max_versions: int = MAX_VERSIONS,
        window_validator: WindowSpecValidator | None = None,
    ) -> None:
        if max_versions < 1:
            raise ValueError("max_versions must be at least 1")
        self._pipelines = pipelines
        self._versions = versions
        self._clock = clock
        self._id_factory = id_factory
        self._max_versions = max_versions
        self._window_validator = window_validator

    # reads

    def get(self, pipeline_id: str) -> Pipeline:
        head = self._head(pipeline_id)
        if head is None or head.deleted:
            raise NotFoundError(f"pipeline {pipeline_id!r} does not exist")
        return head

    def list(self, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE) -> Page[Pipeline]:
        """Live pipelines ordered by creation time, then id (stable across calls)."""
        check_page(page, page_size)
        heads = [self._head(key) for key in iter_keys(self._pipelines)]
        live = sorted(
            (h for h in heads if h is not None and not h.deleted),
            key=lambda h: (h.created_ms, h.id),
        )
        return slice_page(live, page, page_size)

    def list_versions(
        self, pipeline_id: str, page: int = 1, page_size: int = DEFAULT_PAGE_SIZE
    ) -> Page[VersionMeta]:
        """Kept versions, newest first; only the requested page is read from the store."""
        check_page(page, page_size)
        head = self.get(pipeline_id)
        total = head.current_version - head.oldest_version + 1
        newest = head.current_version - (page - 1) * page_size
        oldest = max(head.oldest_version, newest - page_size + 1)
        items = [self._read_version(head.id, v).meta for v in range(newest, oldest - 1, -1)]
        return Page(items, total, page, page_size)

    def get_version(self, pipeline_id: str, version: int) -> PipelineVersion:
        head = self.get(pipeline_id)
        if not 1 <= version <= head.current_version:
            raise NotFoundError(
                f"pipeline {pipeline_id!r} has no version {version} "
                f"(versions are 1..{head.current_version})"
            )
        if version < head.oldest_version:
            raise GoneError(
                f"version {version} of pipeline {pipeline_id!r} was pruned: only the newest "
                f"{self._max_versions} versions are kept (oldest kept: {head.oldest_version})"
            )
        return self._read_version(head.id, version)

    def diff(self, pipeline_id: str, from_version: int, to_version: int) -> ConfigDiff:
        old = self.get_version(pipeline_id, from_version)
        new = self.get_version(pipeline_id, to_version)
        return diff_configs(old.config, new.config)

    # writes

    def create(
        self, config: dict[str, Any], *, author: str, description: str = "created"
    ) -> Pipeline:
        """Validates (422), takes ``config["id"]`` or generates an id; 409 if the id is live."""
        check_pipeline_config(config, window_validator=self._window_validator)
        pipeline_id = config.get("id") or self._id_factory()
        previous = self._head(pipeline_id)
        if previous is not None and not previous.deleted:
            raise ConflictError(
                f"pipeline {pipeline_id!r} already exists",
                current_version=previous.current_version,
            )
        stored_config = {**copy.deepcopy(config), "id": pipeline_id}
        now = self._clock()
        number = 1 if previous is None else previous.current_version + 1
        meta = VersionMeta(
            version=number,
            author=author,
            created_ms=now,
            description=description[:MAX_DESCRIPTION_CHARS],
            kind=VersionKind.CREATED,
            previous_version=None if previous is None else previous.current_version,
        )
        head = Pipeline(
            id=pipeline_id,
            config=stored_config,
            current_version=number,
            oldest_version=number if previous is None else previous.oldest_version,
            created_ms=now,
            created_by=author,
            updated_ms=now,
            updated_by=author,
        )
        return self._commit(head, meta, previous)

    def update(
        self,
        pipeline_id: str,
        config: dict[str, Any],
        *,
        author: str,
        description: str = "",
        expected_version: int | None = None,
    ) -> Pipeline:
        """A new version unless the config equals the current one (then the head is returned)."""
        head = self._writable(pipeline_id, expected_version)
        check_pipeline_config(config, window_validator=self._window_validator)
        if config.get("id", pipeline_id) != pipeline_id:
            raise PipelineValidationError(
                [ConfigIssue("/id", f"must be {pipeline_id!r}, the id of the pipeline updated")]
            )
        stored_config = {**copy.deepcopy(config), "id": pipeline_id}
        if json_equal(stored_config, head.config):
            return head
        summary = description or _summarize(diff_configs(head.config, stored_config))
        return self._new_version(head, stored_config, author, summary, VersionKind.UPDATED, None)

    def rollback(
        self,
        pipeline_id: str,
        to_version: int,
        *,
        author: str,
        description: str = "",
        expected_version: int | None = None,
    ) -> Pipeline:
        """A new version whose config equals ``to_version``'s (404/410 if that one is unknown)."""
        head = self._writable(pipeline_id, expected_version)
        target = self.get_version(pipeline_id, to_version)
        summary = description or (
            f"rollback to version {to_version} from version {head.current_version}"
        )
        return self._new_version(
            head, copy.deepcopy(target.config), author, summary, VersionKind.ROLLED_BACK, to_version
        )

    def delete(self, pipeline_id: str, *, author: str, expected_version: int | None = None) -> None:
        head = self._writable(pipeline_id, expected_version)
        now = self._clock()
        self._pipelines[pipeline_id] = replace(
            head, deleted_ms=now, deleted_by=author, updated_ms=now, updated_by=author
        ).to_stored()

    def purge(self, pipeline_id: str) -> None:
        """Erases a pipeline and every kept version, deleted or not (admin clean-up)."""
        head = self._head(pipeline_id)
        if head is None:
            raise NotFoundError(f"pipeline {pipeline_id!r} does not exist")
        for version in range(head.oldest_version, head.current_version + 1):
            key = version_key(pipeline_id, version)
            if key in self._versions:
                del self._versions[key]
        del self._pipelines[pipeline_id]

    # internals

    def _head(self, pipeline_id: str) -> Pipeline | None:
        data = self._pipelines.get(pipeline_id)
        return None if data is None else Pipeline.from_stored(data)

    def _writable(self, pipeline_id: str, expected_version: int | None) -> Pipeline:
        head = self.get(pipeline_id)
        if expected_version is not None and expected_version != head.current_version:
            raise ConflictError(
                f"pipeline {pipeline_id!r} is at version {head.current_version}, "
                f"not {expected_version}: reload it and apply the change again",
                current_version=head.current_version,
            )
        return head

    def _read_version(self, pipeline_id: str, version: int) -> PipelineVersion:
        data = self._versions.get(version_key(pipeline_id, version))
        if data is None:
            raise NotFoundError(f"version {version} of pipeline {pipeline_id!r} is missing")
        return PipelineVersion(pipeline_id, VersionMeta.from_json(data), data["config"])

    def _new_version(
        self,
        head: Pipeline,
        config: dict[str, Any],
        author: str,
        description: str,
        kind: VersionKind,
        rollback_of: int | None,
    ) -> Pipeline:
        now = self._clock()
        number = head.current_version + 1
        meta = VersionMeta(
            version=number,
            author=author,
            created_ms=now,
            description=description[:MAX_DESCRIPTION_CHARS],
            kind=kind,
            previous_version=head.current_version,
            rollback_of=rollback_of,
        )
        new_head = replace(
            head, config=config, current_version=number, updated_ms=now, updated_by=author
        )
        return self._commit(new_head, meta, head)

    def _commit(self, head: Pipeline, meta: VersionMeta, previous: Pipeline | None) -> Pipeline:
        oldest = max(head.oldest_version, meta.version - self._max_versions + 1)
        head = replace(head, oldest_version=oldest)
        self._versions[version_key(head.id, meta.version)] = {
            **meta.to_json(),
            "config": copy.deepcopy(head.config),
        }
        self._pipelines[head.id] = head.to_stored()
        if previous is not None:
            for version in range(previous.oldest_version, oldest):
                key = version_key(head.id, version)
                if key in self._versions:
                    del self._versions[key]
        return head
