"""The KPI measures: one function per KPI, registered under the key its catalogue entry names.

A measure answers one question for one period: the value of its KPI for the whole city and for each
district over the half-open period ``[start, end)``, in one call. It reads its rows once for the
period, with the district as a column, and groups them (``measures.common.per_district``). It reads
what CityOps recorded and nothing else. "No data" is a ``Measured`` whose value is None, never 0.
The answer maps ``CITY_WIDE`` (None) to the city's value and a district's name to its value: every
district of the city (``ctx.districts``) and any other a row names. Adding a KPI is one catalogue
entry and one function here::

    @measure("environment.pm25_mean")
    def pm25_mean(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
        rows = ...  # the period's readings, each with its district
        return per_district(ctx, rows, lambda row: row.district, lambda found, district: Measured(...))

A caller wanting one district's value (the detail view, a baseline) asks ``measure_scope``. A measure
whose week, month and quarter follow exactly from its days (a sum, or a mean over counted items) says
so when it registers (``combine=SUM`` / ``MEAN``): the roll-ups then combine its stored day values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Mapping

if TYPE_CHECKING:
    from sqlmodel import Session

    from services.city import City
    from services.kpis.scans import DayScans

CITY_WIDE = None  # the key of the city's value in a measure's answer


@dataclass(frozen=True)
class Period:
    """``[start, end)``; both instants aware, in UTC."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Scope:
    """One district (None: the whole city) over ``[start, end)``: what a caller wanting one value asks."""

    start: datetime
    end: datetime
    district: str | None = None

    @property
    def period(self) -> Period:
        return Period(self.start, self.end)


@dataclass(frozen=True)
class Measured:
    """A KPI's value for one district (or the city) and period.

    ``count`` is how many records or samples stand behind the value; ``share_meeting`` is, for a
    percentile KPI, the share of samples meeting its objective (0..1, the NFPA fractile); ``detail``
    holds what a detail view shows behind the number (``samples`` for a distribution, ``records``
    as ``[{"kind": "incident"|"request"|..., "id": ...}]``, the worst roads, ...).
    """

    value: float | None
    count: int = 0
    share_meeting: float | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


NO_DATA = Measured(None, 0)


def district_names(city) -> list[str]:
    """The districts of the city's basemap, in its order."""
    if city is None:
        return []
    return [feature["properties"].get("name") for feature in city.basemap("districts")["features"]
            if feature["properties"].get("name")]


@dataclass(frozen=True)
class MeasureContext:
    """What a measure may read: the database, the city (districts, roads, sites) and the parameters
    of its catalogue entry (objective, percentile, severity, AQI standard, ...)."""

    session: "Session"
    city: "City | None"
    params: Mapping[str, Any] = field(default_factory=dict)
    districts: tuple[str, ...] | None = None  # each has a value in every answer; None: the city's (its basemap)
    # rows that several measures of one period read (the incidents' timelines, the orders, the traffic
    # flows): the roll-up gives every measure of a period the same dict, so they are read once (common.once)
    shared: dict = field(default_factory=dict)
    # the roll-up's store of day scans (services/kpis/scans.py): a long period's additive scans from its days
    scans: "DayScans | None" = None

    def __post_init__(self):
        if self.districts is None:
            object.__setattr__(self, "districts", tuple(district_names(self.city)))


Answer = Mapping[str | None, Measured]
Measure = Callable[[MeasureContext, Period], Answer]

# How a KPI's value over a week, month or quarter follows exactly from its stored day values (the
# roll-ups then read no raw row for it); a measure registered without one is measured from its rows.
SUM = "sum"  # the days' values add up (hours above a level), and so do their counts
MEAN = "mean"  # a mean over ``count`` items (samples, orders, days): the days' values weighted by their counts
Combination = Callable[[Mapping[str, Any]], "str | None"]  # the catalogue entry's params -> SUM, MEAN or None

MEASURES: dict[str, Measure] = {}
COMBINATIONS: dict[str, Combination] = {}


def measure(key: str, combine: "str | Combination | None" = None) -> Callable[[Measure], Measure]:
    """Register a measure under ``key`` (the catalogue entry's ``measure``); ``combine`` (SUM, MEAN, or a
    function of the entry's params giving one of them or None) when its longer periods follow from its days."""

    def register(function: Measure) -> Measure:
        if key in MEASURES and MEASURES[key] is not function:
            raise ValueError(f"a measure is already registered as {key!r}")
        MEASURES[key] = function
        if combine is not None:
            COMBINATIONS[key] = combine if callable(combine) else lambda params: combine
        return function

    return register


def combination_of(key: str, params: Mapping[str, Any]) -> str | None:
    """SUM or MEAN when the measure ``key`` with these params combines its days exactly, else None."""
    how = COMBINATIONS.get(key)
    return None if how is None else how(params)


def measure_scope(function: Measure, ctx: MeasureContext, scope: Scope) -> Measured:
    """One district's (None: the city's) value of a measure: its answer for the scope's period, picked."""
    return function(ctx, scope.period).get(scope.district, NO_DATA)
