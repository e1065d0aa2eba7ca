"""Periods in the site time zone: hour, day, week (ISO, from Monday), month, quarter.

A period is ``[start, end)`` with both instants aware, in UTC, found from the local calendar, so
a day is 23 or 25 hours long on a DST change day and a month is exactly its local days. An hour
is the local clock hour: on the night the clocks go back, the repeated hour is two periods
(``fold`` keeps them apart); on the night they go forward, the hour that does not exist is none.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Iterator
from zoneinfo import ZoneInfo

PERIODS = ("hour", "day", "week", "month", "quarter")
FREQUENCY = {"hour": "hourly", "day": "daily", "week": "weekly", "month": "monthly", "quarter": "quarterly"}


def check_period(period: str) -> str:
    if period not in PERIODS:
        raise ValueError(f"unknown period {period!r} (one of {', '.join(PERIODS)})")
    return period


def period_bounds(period: str, at: datetime, tz: str) -> tuple[datetime, datetime]:
    """The period of kind ``period`` holding the instant ``at``, as aware UTC ``(start, end)``."""
    check_period(period)
    if at.tzinfo is None:
        raise ValueError("a naive datetime has no instant; give it a time zone")
    zone = ZoneInfo(tz)
    local = at.astimezone(zone)
    if period == "hour":
        start = local.replace(minute=0, second=0, microsecond=0)  # keeps fold: the repeated hour stays itself
        start_utc = start.astimezone(timezone.utc)
        if start_utc > at:  # a zone whose offset is not whole hours (never for a normal instant)
            start_utc -= timedelta(hours=1)
        return start_utc, start_utc + timedelta(hours=1)
    first = _first_day(period, local.date())
    return _midnight(first, zone), _midnight(_add(period, first, 1), zone)


def shift(period: str, start: datetime, tz: str, by: int) -> datetime:
    """The start of the period ``by`` periods away from the one starting at ``start`` (-1: the previous)."""
    check_period(period)
    if period == "hour":
        return period_bounds("hour", start, tz)[0] + timedelta(hours=by)
    zone = ZoneInfo(tz)
    first = _first_day(period, start.astimezone(zone).date())
    return _midnight(_add(period, first, by), zone)


def year_before(period: str, start: datetime, tz: str) -> datetime:
    """The start of the same period a year before: the same date (29 February: the 28th), the same
    ISO week number (week 53: week 52), the same month, the same quarter, the same local hour."""
    check_period(period)
    zone = ZoneInfo(tz)
    local = start.astimezone(zone)
    if period in ("month", "quarter"):
        return shift(period, start, tz, -12 if period == "month" else -4)
    if period == "week":
        year, week, _ = local.date().isocalendar()
        weeks_then = date(year - 1, 12, 28).isocalendar()[1]  # 28 December is always in the last ISO week
        return _midnight(date.fromisocalendar(year - 1, min(week, weeks_then), 1), zone)
    day = local.date()
    then = day.replace(year=day.year - 1) if not (day.month == 2 and day.day == 29) else date(day.year - 1, 2, 28)
    if period == "day":
        return _midnight(then, zone)
    return period_bounds("hour", datetime.combine(then, local.time().replace(tzinfo=None), zone), tz)[0]


def buckets(period: str, start: datetime, end: datetime, tz: str) -> Iterator[tuple[datetime, datetime]]:
    """Every period of kind ``period`` that overlaps ``[start, end)``, oldest first."""
    first, last = period_bounds(period, start, tz)
    while first < end:
        yield first, last
        first, last = last, period_bounds(period, last, tz)[1]


def local_dates(period: str, start: datetime, end: datetime, tz: str) -> tuple[date, date]:
    """The period's first and last local day (both included), as calendars and SDM show it."""
    zone = ZoneInfo(tz)
    return start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()


def _first_day(period: str, day: date) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _add(period: str, first: date, by: int) -> date:
    if period == "day":
        return first + timedelta(days=by)
    if period == "week":
        return first + timedelta(weeks=by)
    months = by * (3 if period == "quarter" else 1)
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day (where midnight does not exist, the instant the day begins)."""
    return datetime.combine(day, time(0), zone).astimezone(timezone.utc)
