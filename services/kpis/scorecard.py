"""What the scorecards page, its exports and the monthly report show, read once from the roll-ups.

``scorecard(...)`` answers one period of one district (or the city): every KPI's value with its
target, baseline and standing, the same KPI in the previous period and the same period a year
before, and the last ``SPARK`` periods for a sparkline; and the district x KPI matrix of the period.
Small value objects (services/kpis/query.py KpiValue), never ORM rows.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from services.i18n import _
from services.kpis.catalogue import Catalogue, Kpi
from services.kpis.periods import buckets, period_bounds, shift, year_before
from services.kpis.query import KpiValue, values, values_of
from services.kpis.targets import CITY
from services.models import KpiRollup

SPARK = 12  # periods in a card's sparkline
SHOWN_PERIODS = ("day", "week", "month", "quarter")


@dataclass(frozen=True)
class Card:
    kpi: Kpi
    now: KpiValue  # the chosen period (value None: no data)
    previous: KpiValue | None
    year_before: KpiValue | None
    trend: tuple[KpiValue, ...]  # the last SPARK periods up to the chosen one, oldest first

    @property
    def change(self) -> float | None:
        """The value minus the previous period's (None when either has no data)."""
        if self.now.value is None or self.previous is None or self.previous.value is None:
            return None
        return self.now.value - self.previous.value

    @property
    def change_is_better(self) -> bool | None:
        """Whether the change went the KPI's better way (None: no change to judge)."""
        if not self.change:
            return None
        return (self.change < 0) == self.kpi.lower_is_better


@dataclass(frozen=True)
class Scorecard:
    period: str
    start: datetime
    end: datetime
    district: str
    cards: tuple[Card, ...]
    districts: tuple[str, ...]  # the matrix's rows: city first, then every district
    matrix: dict[tuple[str, str], KpiValue]  # (district, kpi) -> the period's value

    def shown_rows(self) -> list[KpiValue]:
        """What an export holds: the cards' values, then the matrix's other districts."""
        rows = [card.now for card in self.cards]
        rows += [value for (district, _), value in self.matrix.items() if district != self.district]
        return rows


def standing_label(standing: str | None) -> str:
    return {"very_good": _("Very good"), "good": _("Good"), "fair": _("Fair"), "bad": _("Bad"),
            "very_bad": _("Very bad")}.get(standing, _("No standing"))


def period_label(period: str, start: datetime, tz: str) -> str:
    local = start.astimezone(ZoneInfo(tz))
    if period == "day":
        return local.strftime("%Y-%m-%d")
    if period == "week":
        year, week, _day = local.isocalendar()
        return _("Week {week}, {year}", week=week, year=year)
    if period == "month":
        return local.strftime("%Y-%m")
    return _("Q{quarter} {year}", quarter=(local.month - 1) // 3 + 1, year=local.year)


def number(value: float | None, unit: str) -> str:
    """A KPI's value for reading: its unit's precision, "no data" for None (never 0)."""
    if value is None:
        return _("no data")
    if unit == "count":
        return f"{value:,.0f}"
    if unit in ("ratio",):
        return f"{value:.2f}"
    digits = 0 if unit == "s" or abs(value) >= 100 else 1
    return f"{value:,.{digits}f} {unit}"


def period_starts(period: str, at: datetime, tz: str, count: int) -> list[datetime]:
    """The starts of the ``count`` periods up to the one holding ``at``, newest first (the picker)."""
    newest = period_bounds(period, at, tz)[0]
    return [shift(period, newest, tz, -back) for back in range(count)]


def scorecard(session: Session, catalogue: Catalogue, *, period: str, start: datetime, district: str,
              districts: list[str], tz: str) -> Scorecard:
    start, end = period_bounds(period, start, tz)
    first = shift(period, start, tz, -(SPARK - 1))
    trend = _stored(session, catalogue, period, first, end, district, tz)
    before = {value.kpi: value for value in values(session, period=period, start=year_before(period, start, tz),
                                                   district=district, tz=tz, catalogue=catalogue)}
    previous = shift(period, start, tz, -1)
    cards = []
    for kpi in catalogue:
        if district != CITY and not kpi.districts:
            continue
        series = tuple(trend[kpi.key])
        cards.append(Card(kpi, series[-1], series[-2] if len(series) > 1 and series[-2].start == previous else None,
                          before.get(kpi.key), series))
    matrix = {(value.district, value.kpi): value
              for value in values(session, period=period, start=start, tz=tz, catalogue=catalogue)}
    return Scorecard(period, start, end, district, tuple(cards), (CITY, *districts), matrix)


def _stored(session: Session, catalogue: Catalogue, period: str, first: datetime, end: datetime, district: str,
            tz: str) -> dict[str, list[KpiValue]]:
    """One district's values of every period in ``[first, end)`` by KPI, oldest first; a period
    without a stored value is there with value None (and the KPI's target)."""
    rows = {(row.kpi, row.start): row for row in session.execute(select(KpiRollup).where(
        KpiRollup.district == district, KpiRollup.period == period,
        KpiRollup.start >= first, KpiRollup.start < end)).scalars()}
    periods = list(buckets(period, first, end, tz))
    every = [rows.get((kpi.key, s)) or _Gap(kpi.key, district, period, s, e) for kpi in catalogue for s, e in periods]
    found: dict[str, list[KpiValue]] = defaultdict(list)
    for value in values_of(session, catalogue, every, tz):
        found[value.kpi].append(value)
    return found


@dataclass(frozen=True)
class _Gap:
    """A period without a stored value, read as a roll-up row (light: an ORM row costs ~1 ms to make)."""

    kpi: str
    district: str
    period: str
    start: datetime
    end: datetime
    value: None = None
    count: int = 0
    share_meeting: None = None
