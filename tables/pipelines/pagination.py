"""Page bounds shared by every listing: pages start at 1, page sizes are 1..100."""

from __future__ import annotations

from collections.abc import Sequence

from tables.pipelines.errors import PaginationError
from tables.pipelines.types import ConfigIssue, Page, T

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def check_page(page: int, page_size: int) -> None:
    """Raises ``PaginationError`` (422) naming the query parameter; a page past the end is fine."""
    issues = []
    if page < 1:
        issues.append(ConfigIssue("page", "must be at least 1"))
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        issues.append(ConfigIssue("page_size", f"must be between 1 and {MAX_PAGE_SIZE}"))
    if issues:
        raise PaginationError(issues)


def slice_page(items: Sequence[T], page: int, page_size: int) -> Page[T]:
    check_page(page, page_size)
    start = (page - 1) * page_size
    return Page(list(items[start : start + page_size]), len(items), page, page_size)
