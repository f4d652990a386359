"""Parsing of the request parameters the pipeline views pass to the store, with the same 422
error shape as config errors (so views need no parsing code of their own)."""

from __future__ import annotations

from collections.abc import Mapping

from tables.pipelines.errors import PaginationError, RequestParameterError
from tables.pipelines.pagination import DEFAULT_PAGE_SIZE
from tables.pipelines.types import ConfigIssue


def page_params(query: Mapping[str, str]) -> tuple[int, int]:
    """``(page, page_size)`` from ``?page=&page_size=``; bounds are checked by the store."""
    values = []
    for name, default in (("page", 1), ("page_size", DEFAULT_PAGE_SIZE)):
        raw = query.get(name)
        if raw is None or raw == "":
            values.append(default)
            continue
        try:
            values.append(int(raw))
        except ValueError:
            raise PaginationError([ConfigIssue(name, "must be an integer")]) from None
    return values[0], values[1]


def expected_version(if_match: str | None) -> int | None:
    """The version in an ``If-Match`` header (``"3"``, ``3`` or ``W/"3"``); None when absent
    or ``*``. Views send ``ETag: "<version>"`` so clients can echo it back."""
    if if_match is None or if_match.strip() in ("", "*"):
        return None
    tag = if_match.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise RequestParameterError(
            [ConfigIssue("If-Match", 'must be a pipeline version such as "3"')]
        )
    return int(tag)


def version_param(raw: str, name: str = "version") -> int:
    """A version number from a URL segment; not a number -> 404 would hide typos, so 422."""
    if not raw.isdigit():
        raise RequestParameterError([ConfigIssue(name, "must be a version number")])
    return int(raw)
