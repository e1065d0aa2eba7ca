"""What the measures share: the period as an SQL filter, the answer per district, the statistics
(percentile method stated), hour buckets computed by the database, and the site's clock.

Percentiles are **nearest-rank** (NFPA 1710's fractile reading): the p-th percentile of n sorted samples
is the sample of rank ceil(p/100 * n), so it is always a time that really occurred. The median is the
middle sample, or the mean of the two middle ones for an even count (Python's ``statistics.median``).
"""
from __future__ import annotations

import math
import statistics
from datetime import UTC, date, datetime, timedelta
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from services.kpis.registry import CITY_WIDE, MEAN, NO_DATA, MeasureContext, Measured, Period
from services.models import Observation
from services.telemetry import DRILL_ATTRIBUTE

VALUES = Observation.__table__.c["values"]  # an observation's readings (JSON)
T = TypeVar("T")


# ---------------------------------------------------------------- the period, the districts

def within(column, period: Period):
    """``column`` in the half-open period ``[start, end)``."""
    return and_(column >= period.start, column < period.end)


def per_district(ctx: MeasureContext, rows: Iterable[T], district_of: Callable[[T], str | None],
                 compute: Callable[[list[T], str | None], Measured]) -> dict[str | None, Measured]:
    """A measure's answer from its period's rows: ``compute(rows, district)`` for the city (every row, one
    without a district too) and for each district on its own rows: every district of the city (with no
    rows if none names it) and any other a row names. Rows keep their order within a district."""
    rows = list(rows)
    groups: dict[str, list[T]] = {name: [] for name in ctx.districts}
    for row in rows:
        name = district_of(row)
        if name is not None:
            groups.setdefault(name, []).append(row)
    answer = {CITY_WIDE: compute(rows, CITY_WIDE)}
    answer.update((name, compute(members, name)) for name, members in groups.items())
    return answer


def once(ctx: MeasureContext, key: tuple, read: Callable[[], T]) -> T:
    """``read()``, or what it gave the last measure of the same period that asked for ``key`` (which
    must name everything the read depends on). The rows are shared: a measure does not change them."""
    if key not in ctx.shared:
        ctx.shared[key] = read()
    return ctx.shared[key]


def additive(ctx: MeasureContext, scan: str, source: str, period: Period,
             read: Callable[[Period], dict[str, list[float]]]) -> dict[str, list[float]]:
    """``read(period)``: per key, numbers that add up over the parts of a period; in the roll-up, a long
    period's complete days from their stored scans (services/kpis/scans.py). ``scan`` names the read and
    every parameter it depends on; ``source`` is what marks its days dirty (``observations``)."""
    if ctx.scans is None:
        return read(period)
    return ctx.scans.additive(ctx.session, scan, source, period, read)


def no_data(ctx: MeasureContext) -> dict[str | None, Measured]:
    """The answer of a period with nothing to measure: "no data" for the city and every district."""
    return {CITY_WIDE: NO_DATA, **{name: NO_DATA for name in ctx.districts}}


def not_drill_reading():
    """Leaves out the readings a drill altered (they carry its name, services/drills.py): no measured
    value of the city counts them."""
    return VALUES[DRILL_ATTRIBUTE].as_string().is_(None)


def site_zone(ctx: MeasureContext) -> ZoneInfo:
    return ZoneInfo(ctx.city.timezone if ctx.city is not None else "UTC")


def local_days(period: Period, zone: ZoneInfo) -> list[date]:
    """The site's calendar days the period touches."""
    first = period.start.astimezone(zone).date()
    last = (period.end - timedelta(microseconds=1)).astimezone(zone).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


# ---------------------------------------------------------------- statistics

def nearest_rank(samples: Sequence[float], percent: float) -> float:
    """The ``percent``-th percentile by the nearest-rank method (see the module docstring)."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(percent * len(ordered) / 100))
    return ordered[rank - 1]


def statistic_of(params: Mapping[str, Any]) -> Callable[[Sequence[float]], float]:
    """``statistic``: ``mean``, ``median`` or ``p<N>`` (nearest-rank percentile), default p90."""
    name = str(params.get("statistic", "p90"))
    if name == "mean":
        return statistics.fmean
    if name == "median":
        return statistics.median
    if name.startswith("p") and name[1:].isdigit() and 0 < int(name[1:]) <= 100:
        return lambda samples: nearest_rank(samples, int(name[1:]))
    raise ValueError(f"unknown statistic {name!r}: mean, median or p<1..100>")


def summarize(samples: Sequence[float], params: Mapping[str, Any], records: list[dict],
              **detail: Any) -> Measured:
    """The Measured of a duration KPI: ``params['statistic']`` of the samples, the share meeting
    ``params['objective_s']`` (a sample at the objective meets it), the samples and their records."""
    detail = {"samples": sorted(samples), "records": records, **detail}
    if not samples:
        return Measured(None, 0, None, detail)
    objective = params.get("objective_s")
    share = None if objective is None else sum(1 for s in samples if s <= objective) / len(samples)
    return Measured(statistic_of(params)(samples), len(samples), share, detail)


def mean_statistic(params: Mapping[str, Any]) -> str | None:
    """A duration KPI's longer periods follow from its days when its statistic is the mean (a percentile
    or a median does not: it is measured from the period's samples)."""
    return MEAN if str(params.get("statistic", "p90")) == "mean" else None


def percent(part: float, whole: float) -> float | None:
    return None if not whole else 100.0 * part / whole


def breakdown(rows: Iterable[Any], key: Callable[[Any], Any], value: Callable[[list], float | None]) -> dict:
    """``{group: {"value", "count"}}``: the same KPI computed on each group of ``rows`` (per service,
    per department, per severity); rows without a group go under ``"none"``."""
    groups: dict[str, list] = {}
    for row in rows:
        groups.setdefault(str(key(row) or "none"), []).append(row)
    return {name: {"value": value(members), "count": len(members)} for name, members in sorted(groups.items())}


def record(kind: str, ident: Any) -> dict:
    return {"kind": kind, "id": ident}


# ---------------------------------------------------------------- hours, counted by the database

class hour_index(FunctionElement):
    """Whole hours since the Unix epoch of a UTC timestamp column: ``floor(epoch / 3600)``. An hour bucket
    is a UTC clock hour, which is one of the site's clock hours wherever its offset is whole hours (every
    zone CityOps ships; a half-hour zone would see its hours shifted by 30 minutes)."""

    type = Integer()
    inherit_cache = True


@compiles(hour_index, "sqlite")
def _hour_index_sqlite(element, compiler, **kw):
    return f"(CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER) / 3600)"


@compiles(hour_index, "postgresql")
def _hour_index_postgresql(element, compiler, **kw):
    return f"CAST(floor(extract(epoch FROM {compiler.process(element.clauses, **kw)}) / 3600) AS INTEGER)"


def hour_start(index: int) -> datetime:
    return datetime.fromtimestamp(index * 3600, UTC)


def number(json_column, key: str):
    """A number inside a JSON column, as SQL (NULL where absent)."""
    return json_column[key].as_float()
