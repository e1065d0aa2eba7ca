"""The KPI measures: one function per KPI, registered under the key its catalogue entry names.

A measure answers one question for one scope: the value of its KPI for one district (or the whole
city) over one half-open period ``[start, end)``. It reads what CityOps recorded and nothing else.
"No data" is a ``Measured`` whose value is None, never 0. Adding a KPI is one catalogue entry and one
function here::

    @measure("environment.pm25_mean")
    def pm25_mean(ctx: MeasureContext, scope: Scope) -> Measured:
        ...
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from sqlmodel import Session

    from services.city import City


@dataclass(frozen=True)
class Scope:
    """One district (None: the whole city) over ``[start, end)``; both instants aware, in UTC."""

    start: datetime
    end: datetime
    district: str | None = None


@dataclass(frozen=True)
class Measured:
    """A KPI's value for one scope.

    ``count`` is how many records or samples stand behind the value; ``share_meeting`` is, for a
    percentile KPI, the share of samples meeting its objective (0..1, the NFPA fractile); ``detail``
    holds what a detail view shows behind the number (``samples`` for a distribution, ``records``
    as ``[{"kind": "incident"|"request"|..., "id": ...}]``, the worst roads, ...).
    """

    value: float | None
    count: int = 0
    share_meeting: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MeasureContext:
    """What a measure may read: the database, the city (districts, roads, sites) and the parameters
    of its catalogue entry (objective, percentile, severity, AQI standard, ...)."""

    session: "Session"
    city: "City | None"
    params: Mapping[str, Any] = field(default_factory=dict)


Measure = Callable[[MeasureContext, Scope], Measured]

MEASURES: dict[str, Measure] = {}


def measure(key: str) -> Callable[[Measure], Measure]:
    """Register a measure under ``key`` (the catalogue entry's ``measure``)."""

    def register(function: Measure) -> Measure:
        if key in MEASURES and MEASURES[key] is not function:
            raise ValueError(f"a measure is already registered as {key!r}")
        MEASURES[key] = function
        return function

    return register
