"""What pages and the API read of the scorecards: small value objects, never ORM rows.

``values`` and ``series`` read the stored roll-ups (services/kpis/rollup.py) with each value's
target, baseline and standing (services/kpis/targets.py); ``detail`` reads one stored value with the
samples and records behind it (``kpi_behind``), measuring live only what is not stored yet. District
"city" is the whole city.

Comparisons: the previous period is ``shift(period, start, tz, -1)``; "the same period a year
before" is ``year_before(period, start, tz)`` (services/kpis/periods.py): the same date, ISO week
number, month or quarter of the previous year, not a fixed number of days.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Iterable

from sqlalchemy import select
from sqlmodel import Session

from services.kpis.catalogue import Catalogue, current_catalogue
from services.kpis.periods import PERIODS, buckets, check_period, period_bounds, shift, year_before  # noqa: F401
from services.kpis.measures.common import record
from services.kpis.registry import MEASURES, MeasureContext, Measured, Scope, combination_of, measure_scope
from services.kpis.targets import CITY, local_year, standing, target_of, targets_for
from services.models import KpiBehind, KpiRollup, utcnow


@dataclass(frozen=True)
class KpiValue:
    """One KPI's value for one district and period, with its target, baseline and standing."""

    kpi: str
    district: str
    period: str
    start: datetime
    end: datetime
    value: float | None
    count: int
    share_meeting: float | None
    target: float | None
    baseline: float | None
    standing: str | None  # very_good | good | fair | bad | very_bad


def values(session: Session, *, period: str, start: datetime | None = None, district: str | None = None,
           kpi: str | None = None, tz: str, catalogue: Catalogue | None = None,
           now: datetime | None = None) -> list[KpiValue]:
    """The stored values of one period (None: the current one), in catalogue order, "city" first."""
    catalogue = current_catalogue() if catalogue is None else catalogue
    start = period_bounds(check_period(period), start or now or utcnow(), tz)[0]
    query = select(KpiRollup).where(KpiRollup.period == period, KpiRollup.start == start)
    if district is not None:
        query = query.where(KpiRollup.district == district)
    if kpi is not None:
        query = query.where(KpiRollup.kpi == kpi)
    return values_of(session, catalogue, session.execute(query).scalars(), tz)


def series(session: Session, *, kpi: str, district: str, period: str, last: int, tz: str,
           until: datetime | None = None, catalogue: Catalogue | None = None) -> list[KpiValue]:
    """The ``last`` periods up to the one holding ``until`` (default: now), oldest first; a period
    without a stored value is there with value None."""
    catalogue = current_catalogue() if catalogue is None else catalogue
    final = period_bounds(check_period(period), until or utcnow(), tz)[0]
    first = shift(period, final, tz, -(max(last, 1) - 1))
    rows = {row.start: row for row in session.execute(select(KpiRollup).where(
        KpiRollup.kpi == kpi, KpiRollup.district == district, KpiRollup.period == period,
        KpiRollup.start >= first, KpiRollup.start <= final)).scalars()}
    stored = [rows.get(start) or KpiRollup(kpi=kpi, district=district, period=period, start=start, end=end,
                                           value=None, count=0, computed_at=start)
              for start, end in buckets(period, first, period_bounds(period, final, tz)[1], tz)]
    return values_of(session, catalogue, stored, tz)


def detail(session: Session, city, catalogue: Catalogue, *, kpi: str, district: str, period: str,
           start: datetime, tz: str | None = None) -> Measured:
    """The KPI's value for one district and period, with what stands behind it (samples, records): as the
    roll-up stored it, the samples and records its measure gave or, for a period added up from its days,
    theirs. A period not stored yet is measured live."""
    entry = catalogue.get(kpi)
    if entry is None:
        raise KeyError(f"no KPI {kpi!r} in the catalogue")
    start, end = period_bounds(check_period(period), start, tz or city.timezone)
    row = session.execute(select(KpiRollup.id, KpiRollup.value, KpiRollup.count, KpiRollup.share_meeting).where(
        KpiRollup.kpi == kpi, KpiRollup.district == district, KpiRollup.period == period,
        KpiRollup.start == start)).first()
    if row is None:
        scope = Scope(start, end, None if district == CITY else district)
        return measure_scope(MEASURES[entry.measure], MeasureContext(session, city, entry.params), scope)
    behind = session.execute(select(KpiBehind.samples, KpiBehind.records).where(KpiBehind.rollup_id == row.id)).all()
    if not behind and period != "day" and combination_of(entry.measure, entry.params):
        behind = session.execute(select(KpiBehind.samples, KpiBehind.records).join(
            KpiRollup, KpiRollup.id == KpiBehind.rollup_id).where(
            KpiRollup.kpi == kpi, KpiRollup.district == district, KpiRollup.period == "day",
            KpiRollup.start >= start, KpiRollup.start < end).order_by(KpiRollup.start)).all()
    samples = sorted(sample for found in behind for sample in found.samples)
    records = list(dict.fromkeys((kind, ident) for found in behind for kind, ident in found.records))
    return Measured(row.value, row.count, row.share_meeting,
                    {"samples": samples, "records": [record(kind, ident) for kind, ident in records]})


def values_of(session: Session, catalogue: Catalogue, rows: Iterable[KpiRollup], tz: str) -> list[KpiValue]:
    """Stored roll-up rows as value objects with target, baseline and standing (KPIs not in the catalogue left out)."""
    order = {kpi.key: index for index, kpi in enumerate(catalogue)}
    rows = sorted((row for row in rows if row.kpi in order),
                  key=lambda row: (order[row.kpi], row.district != CITY, row.district, row.start))
    stored = targets_for(session, catalogue, {local_year(row.start, tz) for row in rows})
    answer = []
    for row in rows:
        entry = catalogue.get(row.kpi)
        goal = target_of(stored, entry, row.district, local_year(row.start, tz))
        answer.append(KpiValue(row.kpi, row.district, row.period, row.start, row.end, row.value, row.count,
                               row.share_meeting, goal.target, goal.baseline,
                               standing(row.value, goal.target, goal.baseline, entry.direction)))
    return answer
