"""Window aggregations: incremental, mergeable (session merges) and JSON-serialisable.

State is whatever :meth:`Aggregation.initial` returns; the manager keeps it in window state and
calls :meth:`Aggregation.encode` only when writing to the store. ``first``/``last`` are by event
time, ties broken by arrival (the partition ordinal), so merging sessions stays deterministic.
Numeric aggregations ignore values that are not int/float (bools and missing fields included).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import StrEnum
from typing import Any, ClassVar

from tables.windows import hll


class AggregationKind(StrEnum):
    COUNT = "count"
    SUM = "sum"
    MIN = "min"
    MAX = "max"
    MEAN = "mean"
    FIRST = "first"
    LAST = "last"
    DISTINCT = "distinct"


class Aggregation(ABC):
    kind: ClassVar[AggregationKind]
    #: False when the aggregation never looks at the field value (count).
    reads_value: ClassVar[bool] = True

    @abstractmethod
    def initial(self) -> Any: ...

    @abstractmethod
    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        """Return the state with one more event (``value`` is None when the field is missing)."""

    @abstractmethod
    def merge(self, a: Any, b: Any) -> Any: ...

    @abstractmethod
    def result(self, state: Any) -> Any: ...

    def encode(self, state: Any) -> Any:
        return state

    def decode(self, stored: Any) -> Any:
        return stored


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float


class Count(Aggregation):
    kind = AggregationKind.COUNT
    reads_value = False

    def initial(self) -> int:
        return 0

    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        return state + 1

    def merge(self, a: Any, b: Any) -> Any:
        return a + b

    def result(self, state: Any) -> Any:
        return state


class Sum(Aggregation):
    kind = AggregationKind.SUM

    def initial(self) -> int:
        return 0

    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        return state + value if _is_number(value) else state

    def merge(self, a: Any, b: Any) -> Any:
        return a + b

    def result(self, state: Any) -> Any:
        return state


class Min(Aggregation):
    kind = AggregationKind.MIN

    def initial(self) -> None:
        return None

    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        if not _is_number(value):
            return state
        return value if state is None or value < state else state

    def merge(self, a: Any, b: Any) -> Any:
        return b if a is None else a if b is None else min(a, b)

    def result(self, state: Any) -> Any:
        return state


class Max(Min):
    kind = AggregationKind.MAX

    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        if not _is_number(value):
            return state
        return value if state is None or value > state else state

    def merge(self, a: Any, b: Any) -> Any:
        return b if a is None else a if b is None else max(a, b)


class Mean(Aggregation):
    """State ``[sum, count]`` of the numeric values."""

    kind = AggregationKind.MEAN

    def initial(self) -> list[Any]:
        return [0, 0]

    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        if _is_number(value):
            state[0] += value
            state[1] += 1
        return state

    def merge(self, a: Any, b: Any) -> Any:
        return [a[0] + b[0], a[1] + b[1]]

    def result(self, state: Any) -> Any:
        return state[0] / state[1] if state[1] else None


class First(Aggregation):
    """State ``[timestamp, ordinal, value]`` of the earliest event carrying the field."""

    kind = AggregationKind.FIRST

    def initial(self) -> None:
        return None

    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        if value is None:
            return state
        if state is None or (timestamp, ordinal) < (state[0], state[1]):
            return [timestamp, ordinal, value]
        return state

    def merge(self, a: Any, b: Any) -> Any:
        if a is None or b is None:
            return b if a is None else a
        return a if (a[0], a[1]) <= (b[0], b[1]) else b

    def result(self, state: Any) -> Any:
        return None if state is None else state[2]


class Last(First):
    kind = AggregationKind.LAST

    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        if value is None:
            return state
        if state is None or (timestamp, ordinal) > (state[0], state[1]):
            return [timestamp, ordinal, value]
        return state

    def merge(self, a: Any, b: Any) -> Any:
        if a is None or b is None:
            return b if a is None else a
        return a if (a[0], a[1]) >= (b[0], b[1]) else b


class Distinct(Aggregation):
    """Approximate distinct count of the field values (HyperLogLog)."""

    kind = AggregationKind.DISTINCT

    def __init__(self, precision: int = hll.DEFAULT_PRECISION) -> None:
        self.precision = precision

    def initial(self) -> bytearray:
        return hll.new_registers(self.precision)

    def add(self, state: Any, value: Any, timestamp: int, ordinal: int) -> Any:
        if value is not None:
            hll.add(state, value)
        return state

    def merge(self, a: Any, b: Any) -> Any:
        return hll.merge(a, b)

    def result(self, state: Any) -> Any:
        return hll.estimate(state)

    def encode(self, state: Any) -> Any:
        return hll.encode(state)

    def decode(self, stored: Any) -> Any:
        return hll.decode(stored)


_BY_KIND: dict[AggregationKind, type[Aggregation]] = {
    cls.kind: cls for cls in (Count, Sum, Min, Max, Mean, First, Last, Distinct)
}


def make_aggregation(kind: AggregationKind) -> Aggregation:
    return _BY_KIND[kind]()
