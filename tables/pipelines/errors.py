"""Errors of the pipeline and token stores; each carries its HTTP status and JSON body, shaped
like ``app.http.error_response`` (``{"error", "status", ...details}``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tables.pipelines.types import ConfigIssue


class PipelineError(Exception):
    """Base class so views can map every store error with one ``except``."""

    status = 500

    def details(self) -> dict[str, Any]:
        return {}

    def to_json(self) -> dict[str, Any]:
        return {"error": str(self), "status": self.status, **self.details()}


class NotFoundError(PipelineError):
    """The pipeline, version or token never existed (or the pipeline was deleted)."""

    status = 404


class GoneError(PipelineError):
    """The version existed but was pruned (only the newest versions are kept)."""

    status = 410


class ConflictError(PipelineError):
    """Optimistic concurrency failed, or an id/name is already taken."""

    status = 409

    def __init__(self, message: str, *, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version

    def details(self) -> dict[str, Any]:
        return {} if self.current_version is None else {"current_version": self.current_version}


class PipelineValidationError(PipelineError):
    """The document is invalid; ``issues`` point at each bad field (JSON pointers)."""

    status = 422
    summary = "invalid pipeline config"

    def __init__(self, issues: Sequence[ConfigIssue]) -> None:
        self.issues = list(issues)
        first = self.issues[0] if self.issues else ConfigIssue("", "invalid")
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(f"{self.summary}: {first.pointer or '/'}: {first.message}{more}")

    def details(self) -> dict[str, Any]:
        return {"issues": [issue.to_json() for issue in self.issues]}


class RequestParameterError(PipelineValidationError):
    """A bad query parameter, header or URL segment; ``pointer`` is the parameter's name."""

    summary = "invalid request parameter"


class PaginationError(RequestParameterError):
    """``page`` or ``page_size`` is not an integer or out of bounds."""
