"""Periods in the site time zone: DST change days are 23 and 25 hours, weeks start on Monday,
months and quarters are whole local days; the previous period and the same period a year before."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from services.kpis.periods import buckets, local_dates, period_bounds, shift, year_before

UTC = timezone.utc
HELSINKI, SHANGHAI = "Europe/Helsinki", "Asia/Shanghai"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_day_the_clocks_go_forward_in_helsinki_is_23_hours_from_local_midnight():
    start, end = period_bounds("day", utc(2026, 3, 29, 12), HELSINKI)  # EET -> EEST at 03:00 local
    assert start == utc(2026, 3, 28, 22) and end == utc(2026, 3, 29, 21)  # midnight +02:00 .. midnight +03:00
    assert end - start == timedelta(hours=23)


def test_the_day_the_clocks_go_back_in_helsinki_is_25_hours():
    start, end = period_bounds("day", utc(2026, 10, 25, 12), HELSINKI)  # EEST -> EET at 04:00 local
    assert start == utc(2026, 10, 24, 21) and end == utc(2026, 10, 25, 22)
    assert end - start == timedelta(hours=25)


def test_shanghai_has_no_dst_so_every_day_is_24_hours_from_midnight_plus_eight():
    for day in (utc(2026, 3, 29, 12), utc(2026, 10, 25, 12)):
        start, end = period_bounds("day", day, SHANGHAI)
        assert start.hour == 16 and end - start == timedelta(hours=24)
    # 23:30 UTC on 31 March is already 1 April in Shanghai, and the second quarter
    assert period_bounds("day", utc(2026, 3, 31, 23, 30), SHANGHAI)[0] == utc(2026, 3, 31, 16)
    assert period_bounds("quarter", utc(2026, 3, 31, 23, 30), SHANGHAI) == (utc(2026, 3, 31, 16), utc(2026, 6, 30, 16))


def test_hours_of_the_dst_days_the_skipped_hour_is_no_period_and_the_repeated_hour_is_two():
    spring = list(buckets("hour", *period_bounds("day", utc(2026, 3, 29, 12), HELSINKI), HELSINKI))
    autumn = list(buckets("hour", *period_bounds("day", utc(2026, 10, 25, 12), HELSINKI), HELSINKI))
    assert len(spring) == 23 and len(autumn) == 25
    assert all(end - start == timedelta(hours=1) for start, end in spring + autumn)
    # 03:00-04:00 local happens twice on 25 October: 00:00 and 01:00 UTC, two periods
    assert period_bounds("hour", utc(2026, 10, 25, 0, 30), HELSINKI) == (utc(2026, 10, 25, 0), utc(2026, 10, 25, 1))
    assert period_bounds("hour", utc(2026, 10, 25, 1, 30), HELSINKI) == (utc(2026, 10, 25, 1), utc(2026, 10, 25, 2))


def test_a_week_runs_monday_to_monday_local_and_the_dst_week_is_an_hour_short():
    start, end = period_bounds("week", utc(2026, 3, 29, 12), HELSINKI)  # a Sunday
    assert start == utc(2026, 3, 22, 22) and end == utc(2026, 3, 29, 21)  # Monday 23 March 00:00 +02:00
    assert end - start == timedelta(days=7, hours=-1)
    assert local_dates("week", start, end, HELSINKI)[0].isoweekday() == 1


def test_months_and_quarters_are_their_local_days():
    assert period_bounds("month", utc(2026, 10, 31, 22, 30), HELSINKI) == (utc(2026, 10, 31, 22), utc(2026, 11, 30, 22))
    start, end = period_bounds("quarter", utc(2026, 2, 10), HELSINKI)
    assert (start, end) == (utc(2025, 12, 31, 22), utc(2026, 3, 31, 21))  # Q1 ends after the DST change
    assert local_dates("quarter", start, end, HELSINKI) == (datetime(2026, 1, 1).date(), datetime(2026, 3, 31).date())


def test_shift_moves_whole_local_periods_across_dst():
    day = period_bounds("day", utc(2026, 3, 30, 12), HELSINKI)[0]
    assert shift("day", day, HELSINKI, -1) == utc(2026, 3, 28, 22)  # the 23-hour day before
    assert shift("month", period_bounds("month", utc(2026, 4, 5), HELSINKI)[0], HELSINKI, -1) == utc(2026, 2, 28, 22)
    assert shift("quarter", utc(2025, 12, 31, 22), HELSINKI, -1) == utc(2025, 9, 30, 21)
    assert shift("hour", utc(2026, 10, 25, 1), HELSINKI, -1) == utc(2026, 10, 25, 0)


@pytest.mark.parametrize("period, at, expected", [
    ("day", utc(2028, 2, 29, 12), utc(2027, 2, 27, 22)),  # 29 February: the 28th the year before
    ("week", utc(2026, 12, 30, 12), utc(2025, 12, 21, 22)),  # ISO week 53 of 2026: week 52 of 2025 (Mon 22 Dec)
    ("month", utc(2026, 3, 15), utc(2025, 2, 28, 22)),
    ("quarter", utc(2026, 5, 1), utc(2025, 3, 31, 21)),
])
def test_the_same_period_a_year_before(period, at, expected):
    assert year_before(period, period_bounds(period, at, HELSINKI)[0], HELSINKI) == expected
