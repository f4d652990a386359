"""Query errors, each carrying the HTTP status the web views should answer with.

* ``UnknownMetric`` -> 404: the metric is not in the catalog.
* ``InvalidQuery`` -> 400: malformed body, bad range (from >= to), step <= 0 or not a multiple of
  the metric's window, unknown dimension/field/aggregate function.
* ``ResultTooLarge`` -> 413: more points per series or more series than the configured limits
  (checked before reading for points, after grouping for series).
"""

from __future__ import annotations

from typing import Any, ClassVar


class QueryError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "query_error"

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "status": self.status, "message": str(self)}


class InvalidQuery(QueryError):
    status = 400
    code = "invalid_query"


class UnknownMetric(QueryError):
    status = 404
    code = "unknown_metric"


class ResultTooLarge(QueryError):
    status = 413
    code = "result_too_large"
