"""The scorecards' engine on SQLite and PostgreSQL: roll-ups per district and period, incremental
recomputation of only the periods late or changed records fall in, "no data" as None, a failing
measure skipped, targets edited by a manager (audited) and refused to an operator, the API in JSON
and CSV with its 400s, and each value as a retained KeyPerformanceIndicator on a real broker.

The measures here are the tests' own (registered below), over a catalogue file of the tests' own:
  test.pm25_mean      mean PM2.5 of the district's air stations' observations in the period
  test.dispatch_mean  mean seconds from an incident's creation to its dispatch, incidents created in the period
  test.broken         always raises
"""
from __future__ import annotations

import csv
import io
import logging
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import yaml
from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask
from sqlalchemy import select, update
from sqlmodel import Session

from api.core import register_api
from services.access.principal import Principal
from services.auth import create_token
from services.city import load_city
from services.commands import Refused
from services.db import make_engine, migrate, session_scope
from services.kpis.catalogue import load_catalogue
from services.kpis.jobs import schedule as schedule_kpi_jobs
from services.kpis.publish import publish_current, retained_publisher
from services.kpis.query import detail, series, values
from services.kpis.registry import SUM, Measured, measure
from services.kpis.rollup import REFRESH, RollupContext, mark_changes, rollup_range, run_rollup
from services.kpis.targets import SetKpiTarget
from services.models import AuditEntry, Device, Incident, IncidentEvent, KpiBehind, KpiRollup, Observation
from services.runtime import open_runtime
from tests.integration.support import make_settings, retained_messages

UTC = timezone.utc
TZ = "Europe/Helsinki"
NOW = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)  # a Wednesday, 14:00 in Helsinki
CALLS: list[tuple[str, datetime, datetime, str | None]] = []
MANAGER = Principal("max", "manager", kind="user")
DISPATCHER = Principal("dora", "dispatcher", kind="user")


def _per_district(ctx, rows, value) -> dict:
    """The answer of a test measure: ``value(rows)`` for the city and for each district's rows."""
    answer = {None: value(rows)}
    for district in ctx.districts:
        answer[district] = value([row for row in rows if row.district == district])
    return answer


def _readings(column, period):
    """``column`` of the period's readings, each with its device's district."""
    return (select(column, Device.district).join(Device, Device.id == Observation.device_id)
            .where(Observation.observed_at >= period.start, Observation.observed_at < period.end))


@measure("test.pm25_mean")
def pm25_mean(ctx, period):
    CALLS.append(("test.pm25_mean", period.start, period.end, None))
    rows = ctx.session.execute(_readings(Observation.values, period)).all()

    def mean(found):
        readings = [row.values["pm25"] if isinstance(row.values, dict) else yaml.safe_load(row.values)["pm25"]
                    for row in found]
        return Measured(sum(readings) / len(readings) if readings else None, len(readings))

    return _per_district(ctx, rows, mean)


@measure("test.dispatch_mean")
def dispatch_mean(ctx, period):
    CALLS.append(("test.dispatch_mean", period.start, period.end, None))
    rows = ctx.session.execute(
        select(Incident.id, Incident.created_at, Incident.dispatched_at, Incident.district)
        .where(Incident.created_at >= period.start, Incident.created_at < period.end,
               Incident.dispatched_at.is_not(None))).all()

    def mean(found):
        seconds = [(row.dispatched_at - row.created_at).total_seconds() for row in found]
        return Measured(sum(seconds) / len(seconds) if seconds else None, len(seconds),
                        detail={"samples": seconds, "records": [{"kind": "incident", "id": row.id} for row in found]})

    return _per_district(ctx, rows, mean)


@measure("test.dispatched", combine=SUM)
def dispatched(ctx, period):
    """How many incidents were dispatched, with the incidents: a sum, so its longer periods follow from its days."""
    CALLS.append(("test.dispatched", period.start, period.end, None))
    rows = ctx.session.execute(select(Incident.id, Incident.district).where(
        Incident.created_at >= period.start, Incident.created_at < period.end,
        Incident.dispatched_at.is_not(None))).all()
    return _per_district(ctx, rows, lambda found: Measured(
        float(len(found)) if found else None, len(found),
        detail={"records": [{"kind": "incident", "id": row.id} for row in found]}))


@measure("test.readings", combine=SUM)
def readings(ctx, period):
    """How many readings: a sum, so its longer periods follow from its days."""
    CALLS.append(("test.readings", period.start, period.end, None))
    rows = ctx.session.execute(_readings(Observation.id, period)).all()
    return _per_district(ctx, rows, lambda found: Measured(float(len(found)) if found else None, len(found)))


@measure("test.broken")
def broken(ctx, period):
    raise ZeroDivisionError("a measure with a bug")


def kpi_entry(key, measure_key, sources, unit, target, dimension="environment") -> dict:
    return {"key": key, "label": {"en": f"Label of {key}", "zh": f"{key} 的名称"}, "dimension": dimension,
            "unit": unit, "direction": "lower", "measure": measure_key, "method": {"en": "mean", "zh": "平均"},
            "standard": "test", "target": target, "sources": sources}


def write_catalogue(folder, broken=False):
    entries = [kpi_entry("test.pm25_mean", "test.pm25_mean", ["observations"], "ug/m3", 10),
               kpi_entry("test.dispatch_mean", "test.dispatch_mean", ["incidents"], "s", 60, "emergency")]
    if broken:
        entries.insert(0, kpi_entry("test.broken", "test.broken", ["alarms"], "count", None, "operations"))
    path = folder / "kpis.yaml"
    path.write_text(yaml.safe_dump({"kpis": entries}, allow_unicode=True))
    return path


def add_fixture(engine) -> None:
    """Air: West 10 and 20 today, East 30 yesterday. Incidents (created -> dispatched): West 60 s and
    East 120 s today, West 30 s on Thursday 5 March (last week)."""
    with session_scope(engine) as session:
        session.add(Device(id="air-w", type="AirQualityObserved", district="West"))
        session.add(Device(id="air-e", type="AirQualityObserved", district="East"))
        session.flush()
        for device, at, pm25 in (("air-w", datetime(2026, 3, 11, 9, 0, tzinfo=UTC), 10.0),
                                 ("air-w", datetime(2026, 3, 11, 9, 30, tzinfo=UTC), 20.0),
                                 ("air-e", datetime(2026, 3, 10, 10, 0, tzinfo=UTC), 30.0)):
            session.add(observation(device, at, pm25, received=at + timedelta(seconds=5)))
        for district, created, seconds in (("West", datetime(2026, 3, 11, 8, 0, tzinfo=UTC), 60),
                                           ("East", datetime(2026, 3, 11, 10, 0, tzinfo=UTC), 120),
                                           ("West", datetime(2026, 3, 5, 8, 0, tzinfo=UTC), 30)):
            session.add(Incident(category="fire", district=district, lon=24.94, lat=60.17, status="dispatched",
                                 created_at=created, updated_at=created + timedelta(seconds=seconds),
                                 status_since=created, dispatched_at=created + timedelta(seconds=seconds)))


def observation(device, at, pm25, received) -> Observation:
    return Observation(device_id=device, entity_type="AirQualityObserved", observed_at=at, received_at=received,
                       values={"pm25": pm25})


@pytest.fixture
def rollup(database_url, tiny_city, tmp_path):
    engine = make_engine(database_url)
    migrate(engine)
    add_fixture(engine)
    catalogue = load_catalogue(write_catalogue(tmp_path))
    ctx = RollupContext(engine, load_city(tiny_city), lambda: catalogue, TZ)
    CALLS.clear()
    yield ctx
    engine.dispose()


def stored(ctx, period, start, kpi) -> dict[str, float | None]:
    with Session(ctx.engine) as session:
        return {value.district: value.value for value in values(session, period=period, start=start, kpi=kpi, tz=TZ,
                                                                  catalogue=ctx.catalogue)}


def past_calls(kpi: str) -> set[tuple[datetime, datetime]]:
    """The periods a measure was asked for that are not current at NOW."""
    return {(start, end) for key, start, end, _ in CALLS if key == kpi and end <= NOW}


def test_each_kpi_is_stored_for_the_city_and_each_district_per_period_with_none_for_no_data(rollup):
    report = run_rollup(rollup, NOW)
    assert not report.failed and report.dirty_left == 0
    assert stored(rollup, "day", NOW, "test.pm25_mean") == {"city": 15.0, "West": 15.0, "East": None}
    assert stored(rollup, "day", NOW, "test.dispatch_mean") == {"city": 90.0, "West": 60.0, "East": 120.0}
    yesterday = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert stored(rollup, "day", yesterday, "test.pm25_mean") == {"city": 30.0, "West": None, "East": 30.0}
    # 11:00-12:00 local had no reading (no data, never 0); 09:00 UTC is 11:00 local and had two
    assert stored(rollup, "hour", datetime(2026, 3, 11, 9, 15, tzinfo=UTC), "test.pm25_mean")["West"] == 15.0
    assert stored(rollup, "week", NOW, "test.pm25_mean") == {"city": 20.0, "West": 15.0, "East": 30.0}
    assert stored(rollup, "quarter", NOW, "test.dispatch_mean")["West"] == 45.0  # (60 + 30) / 2
    with Session(rollup.engine) as session:
        empty = values(session, period="day", start=datetime(2026, 3, 9, 12, tzinfo=UTC), tz=TZ,
                       catalogue=rollup.catalogue)
        trend = series(session, kpi="test.pm25_mean", district="city", period="day", last=3, tz=TZ, until=NOW,
                       catalogue=rollup.catalogue)
    assert empty == []  # a day nothing fell in was never computed: the page shows no data
    assert [point.value for point in trend] == [None, 30.0, 15.0]
    assert [point.start for point in trend] == [datetime(2026, 3, 8, 22, tzinfo=UTC) + timedelta(days=d)
                                                for d in range(3)]


def test_a_late_observation_recomputes_only_its_day_and_week_and_only_the_kpis_it_feeds(rollup):
    run_rollup(rollup, NOW)
    CALLS.clear()
    later = NOW + timedelta(minutes=2)
    late = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)  # Friday last week, 12:00 local; older than the hour horizon
    with session_scope(rollup.engine) as session:
        session.add(observation("air-w", late, 40.0, received=later - timedelta(seconds=5)))
    run_rollup(rollup, later)
    day, week = (datetime(2026, 3, 5, 22, tzinfo=UTC), datetime(2026, 3, 6, 22, tzinfo=UTC)), \
        (datetime(2026, 3, 1, 22, tzinfo=UTC), datetime(2026, 3, 8, 22, tzinfo=UTC))
    assert past_calls("test.pm25_mean") == {day, week}  # this month and quarter are current: computed anyway
    assert past_calls("test.dispatch_mean") == set()  # fed by incidents only
    assert stored(rollup, "day", late, "test.pm25_mean") == {"city": 40.0, "West": 40.0, "East": None}
    with Session(rollup.engine) as session:
        yesterday = session.execute(select(KpiRollup.computed_at).where(
            KpiRollup.period == "day", KpiRollup.start == datetime(2026, 3, 9, 22, tzinfo=UTC))).scalars().all()
    assert yesterday and set(yesterday) == {NOW}  # untouched since the first run


def test_a_changed_incident_recomputes_the_periods_it_falls_in(rollup):
    run_rollup(rollup, NOW)
    thursday = datetime(2026, 3, 5, 12, tzinfo=UTC)
    assert stored(rollup, "day", thursday, "test.dispatch_mean")["West"] == 30.0
    CALLS.clear()
    later = NOW + timedelta(minutes=2)
    with session_scope(rollup.engine) as session:  # re-opened and dispatched again, 90 s after its creation
        session.execute(update(Incident).where(Incident.created_at == datetime(2026, 3, 5, 8, tzinfo=UTC))
                        .values(dispatched_at=datetime(2026, 3, 5, 8, 1, 30, tzinfo=UTC), updated_at=later))
    run_rollup(rollup, later)
    assert past_calls("test.dispatch_mean") == {
        (datetime(2026, 3, 4, 22, tzinfo=UTC), datetime(2026, 3, 5, 22, tzinfo=UTC)),
        (datetime(2026, 3, 1, 22, tzinfo=UTC), datetime(2026, 3, 8, 22, tzinfo=UTC))}
    assert past_calls("test.pm25_mean") == set()
    assert stored(rollup, "day", thursday, "test.dispatch_mean")["West"] == 90.0


def test_a_new_fact_of_an_incident_recomputes_its_periods_even_when_the_incident_row_is_untouched(rollup):
    run_rollup(rollup, NOW)
    CALLS.clear()
    later = NOW + timedelta(minutes=2)
    with session_scope(rollup.engine) as session:
        (thursday_id,) = session.execute(select(Incident.id).where(
            Incident.created_at == datetime(2026, 3, 5, 8, tzinfo=UTC))).scalars().all()
        session.add(IncidentEvent(incident_id=thursday_id, at=later, kind="note", actor="dora", message="late note"))
    run_rollup(rollup, later)
    assert past_calls("test.dispatch_mean") == {
        (datetime(2026, 3, 4, 22, tzinfo=UTC), datetime(2026, 3, 5, 22, tzinfo=UTC)),
        (datetime(2026, 3, 1, 22, tzinfo=UTC), datetime(2026, 3, 8, 22, tzinfo=UTC))}


def test_the_current_periods_are_recomputed_every_run(rollup):
    run_rollup(rollup, NOW)
    later = NOW + timedelta(minutes=1)
    with session_scope(rollup.engine) as session:
        session.add(observation("air-e", NOW + timedelta(seconds=30), 50.0, received=later))
    run_rollup(rollup, later)
    assert stored(rollup, "day", later, "test.pm25_mean") == {"city": 80 / 3, "West": 15.0, "East": 50.0}


def test_hourly_values_older_than_35_days_are_deleted_and_longer_periods_kept(rollup):
    run_rollup(rollup, NOW)
    run_rollup(rollup, NOW + timedelta(days=35, hours=1))  # NOW's hour is now 35 days and an hour old
    with Session(rollup.engine) as session:
        kept = set(session.execute(select(KpiRollup.period).where(KpiRollup.start < NOW - timedelta(hours=1))).scalars())
        hours = session.execute(select(KpiRollup.start).where(KpiRollup.period == "hour")).scalars().all()
    assert kept == {"day", "week", "month", "quarter"} and min(hours) >= NOW + timedelta(hours=1)


def test_the_current_values_of_unchanged_sources_wait_for_the_refresh_and_are_then_recomputed(rollup):
    run_rollup(rollup, NOW)
    CALLS.clear()
    run_rollup(rollup, NOW + REFRESH - timedelta(seconds=1))  # nothing changed since: no KPI needed
    assert CALLS == []
    run_rollup(rollup, NOW + REFRESH)
    current = {(key, start) for key, start, end, _ in CALLS if start <= NOW + REFRESH < end}
    assert {key for key, _ in current} == {"test.pm25_mean", "test.dispatch_mean"} and len(current) == 2 * 5


def test_a_failing_measure_is_logged_and_skipped_and_the_others_are_stored(database_url, tiny_city, tmp_path, caplog):
    engine = make_engine(database_url)
    migrate(engine)
    add_fixture(engine)
    catalogue = load_catalogue(write_catalogue(tmp_path, broken=True))
    ctx = RollupContext(engine, load_city(tiny_city), lambda: catalogue, TZ)
    with caplog.at_level(logging.ERROR, logger="cityops.kpis"):
        report = run_rollup(ctx, NOW)
    assert "test.broken" in report.failed
    assert any("test.broken" in record.getMessage() and record.exc_info for record in caplog.records)
    assert stored(ctx, "day", NOW, "test.dispatch_mean")["city"] == 90.0
    with Session(engine) as session:
        assert not session.execute(select(KpiRollup).where(KpiRollup.kpi == "test.broken")).first()
    engine.dispose()


def test_each_measure_is_asked_once_per_period_for_the_city_and_every_district(rollup):
    run_rollup(rollup, NOW)
    asked = [(key, start, end) for key, start, end, _ in CALLS]
    assert asked and len(asked) == len(set(asked))  # not once per district
    assert stored(rollup, "day", NOW, "test.dispatch_mean") == {"city": 90.0, "West": 60.0, "East": 120.0}


def test_a_summed_kpis_week_is_combined_from_its_stored_days_unless_one_is_missing_or_dirty(database_url, tiny_city,
                                                                                              tmp_path):
    engine = make_engine(database_url)
    migrate(engine)
    add_fixture(engine)  # readings: West two on Wednesday 11 March, East one on Tuesday 10
    path = tmp_path / "kpis.yaml"
    path.write_text(yaml.safe_dump({"kpis": [kpi_entry("test.readings", "test.readings", ["observations"], "count",
                                                       None)]}, allow_unicode=True))
    catalogue = load_catalogue(path)
    ctx = RollupContext(engine, load_city(tiny_city), lambda: catalogue, TZ)
    monday, week = datetime(2026, 3, 8, 22, tzinfo=UTC), (datetime(2026, 3, 8, 22, tzinfo=UTC),
                                                          datetime(2026, 3, 15, 22, tzinfo=UTC))
    try:
        CALLS.clear()
        rollup_range(ctx, monday, NOW, NOW, periods=("week",))  # no day stored yet: the week reads its rows
        assert [(start, end) for key, start, end, _ in CALLS] == [week]
        rollup_range(ctx, monday, NOW, NOW, periods=("day",))  # Monday (no data) to Wednesday (today)
        CALLS.clear()
        with session_scope(engine) as session:  # what the rows say now; the stored days do not know it yet
            session.add(observation("air-e", datetime(2026, 3, 9, 10, tzinfo=UTC), 5.0, received=NOW))
        rollup_range(ctx, monday, NOW, NOW, periods=("week",))
        assert CALLS == []  # every day stored, none dirty: the days' values added up
        assert stored(ctx, "week", NOW, "test.readings") == {"city": 3.0, "West": 2.0, "East": 1.0}
        mark_changes(ctx, NOW + timedelta(minutes=2))  # the late reading marks Monday dirty: the week reads its rows
        rollup_range(ctx, monday, NOW, NOW, periods=("week",))
        assert [(start, end) for key, start, end, _ in CALLS] == [week]
        assert stored(ctx, "week", NOW, "test.readings") == {"city": 4.0, "West": 2.0, "East": 2.0}
    finally:
        engine.dispose()


def test_a_manager_sets_target_and_baseline_audited_and_the_standing_follows(rollup):
    run_rollup(rollup, NOW)
    change = SetKpiTarget(rollup.engine, rollup.city, rollup.catalogue, MANAGER, "test.dispatch_mean", "city", 2026,
                          {"target": 60, "baseline": 120}, TZ)
    view = change()
    assert (view.target, view.baseline, view.updated_by) == (60.0, 120.0, "max")
    with Session(rollup.engine) as session:
        (city,) = [v for v in values(session, period="day", start=NOW, kpi="test.dispatch_mean", tz=TZ,
                                     catalogue=rollup.catalogue) if v.district == "city"]
        audit = session.execute(select(AuditEntry).where(AuditEntry.action == "kpi.target")).scalar_one()
    # 90 s is half way from the baseline 120 s to the target 60 s: good
    assert (city.value, city.target, city.baseline, city.standing) == (90.0, 60.0, 120.0, "good")
    assert audit.actor == "max" and audit.target == "kpi:test.dispatch_mean/city/2026" and audit.before is None
    # West has no row of its own: the catalogue's target (60) and no baseline; 60 s meets it
    with Session(rollup.engine) as session:
        west = [v for v in values(session, period="day", start=NOW, kpi="test.dispatch_mean", district="West", tz=TZ,
                                  catalogue=rollup.catalogue)]
    assert [(v.target, v.baseline, v.standing) for v in west] == [(60.0, None, "very_good")]


def test_a_baseline_period_without_a_value_is_measured(rollup):
    today = (datetime(2026, 3, 10, 22, tzinfo=UTC), datetime(2026, 3, 11, 22, tzinfo=UTC))
    view = SetKpiTarget(rollup.engine, rollup.city, rollup.catalogue, MANAGER, "test.dispatch_mean", "East", 2026,
                        {"baseline_from": today[0], "baseline_to": today[1]}, TZ)()
    assert view.baseline == 120.0 and view.baseline_from == today[0]


def test_an_operator_may_not_edit_targets_and_bad_input_is_refused(rollup):
    with pytest.raises(Refused) as caught:
        SetKpiTarget(rollup.engine, rollup.city, rollup.catalogue, DISPATCHER, "test.dispatch_mean", "city", 2026,
                     {"target": 1})()
    assert caught.value.status == 403
    for kpi, district, changes, field in (("nope.kpi", "city", {}, "kpi"), ("test.pm25_mean", "Mars", {}, "district"),
                                          ("test.pm25_mean", "city", {"target": "low"}, "target")):
        with pytest.raises(Refused) as caught:
            SetKpiTarget(rollup.engine, rollup.city, rollup.catalogue, MANAGER, kpi, district, 2026, changes)()
        assert (caught.value.status, caught.value.field) == (422, field)
    with Session(rollup.engine) as session:
        assert session.execute(select(AuditEntry).where(AuditEntry.action == "kpi.target")).first() is None


def test_detail_measures_live_with_the_records_behind_the_value(rollup):
    with Session(rollup.engine) as session:
        measured = detail(session, rollup.city, rollup.catalogue, kpi="test.dispatch_mean", district="city",
                          period="day", start=NOW, tz=TZ)
    assert measured.value == 90.0 and sorted(measured.detail["samples"]) == [60.0, 120.0]
    assert {record["kind"] for record in measured.detail["records"]} == {"incident"}


def test_the_detail_reads_what_stands_behind_a_stored_value_and_a_summed_period_from_its_days(
        database_url, tiny_city, tmp_path):
    engine = make_engine(database_url)
    migrate(engine)
    add_fixture(engine)  # incidents today (West 60 s, East 120 s) and last week
    with session_scope(engine) as session:  # and one on Monday: the week has two days of incidents
        monday_incident = datetime(2026, 3, 9, 10, tzinfo=UTC)
        session.add(Incident(category="fire", district="East", lon=24.94, lat=60.17, status="dispatched",
                             created_at=monday_incident, updated_at=monday_incident, status_since=monday_incident,
                             dispatched_at=monday_incident + timedelta(seconds=45)))
    path = tmp_path / "kpis.yaml"
    path.write_text(yaml.safe_dump({"kpis": [
        kpi_entry("test.dispatch_mean", "test.dispatch_mean", ["incidents"], "s", 60, "emergency"),
        kpi_entry("test.dispatched", "test.dispatched", ["incidents"], "count", None, "emergency")]}))
    catalogue = load_catalogue(path)
    ctx = RollupContext(engine, load_city(tiny_city), lambda: catalogue, TZ)
    monday = datetime(2026, 3, 8, 22, tzinfo=UTC)

    def shown(kpi, period, district="city"):
        with Session(engine) as session:
            return detail(session, ctx.city, catalogue, kpi=kpi, district=district, period=period, start=NOW, tz=TZ)

    def incidents(measured):
        return sorted(found["id"] for found in measured.detail["records"] if found["kind"] == "incident")

    try:
        rollup_range(ctx, monday, NOW, NOW, periods=("day",))
        rollup_range(ctx, monday, NOW, NOW, periods=("week",))
        CALLS.clear()
        today = shown("test.dispatch_mean", "day")
        assert (today.value, today.count, today.detail["samples"], incidents(today)) == (90.0, 2, [60.0, 120.0], [1, 2])
        assert shown("test.dispatch_mean", "day", "East").detail["samples"] == [120.0]
        week = shown("test.dispatch_mean", "week")  # a mean of durations: measured for the week, its own samples
        assert week.detail["samples"] == [45.0, 60.0, 120.0] and incidents(week) == [1, 2, 4]
        summed = shown("test.dispatched", "week")  # added up from its days: their incidents
        assert (summed.value, incidents(summed)) == (3.0, [1, 2, 4])
        assert CALLS == []  # read, not measured again
        with Session(engine) as session:
            weeks = session.execute(select(KpiRollup.kpi).join(KpiBehind, KpiBehind.rollup_id == KpiRollup.id)
                                    .where(KpiRollup.period == "week", KpiRollup.district == "city")).scalars().all()
        assert weeks == ["test.dispatch_mean"]  # the summed week keeps none of its own
        with session_scope(engine) as session:  # what the detail shows is what the roll-up stored
            session.execute(update(KpiBehind).where(KpiBehind.rollup_id.in_(select(KpiRollup.id).where(
                KpiRollup.kpi == "test.dispatch_mean", KpiRollup.period == "day", KpiRollup.district == "city")))
                .values(samples=[1.0, 2.0]))
        assert shown("test.dispatch_mean", "day").detail["samples"] == [1.0, 2.0]
        rollup_range(ctx, monday, NOW, NOW, periods=("day",))  # an unchanged value keeps its stored detail
        assert shown("test.dispatch_mean", "day").detail["samples"] == [1.0, 2.0]
        with session_scope(engine) as session:  # a changed incident: the day measured again, its detail rewritten
            session.execute(update(Incident).where(Incident.id == 2).values(
                dispatched_at=datetime(2026, 3, 11, 10, 3, tzinfo=UTC)))
        rollup_range(ctx, monday, NOW, NOW, periods=("day",))
        assert shown("test.dispatch_mean", "day").detail["samples"] == [60.0, 180.0]
        CALLS.clear()
        assert shown("test.dispatch_mean", "month").value == 78.75 and CALLS  # not stored yet: measured live
    finally:
        engine.dispose()


# ---------------------------------------------------------------- the API and MQTT

@pytest.fixture
def served(database_url, broker, tiny_city, tmp_path):
    runtime = open_runtime(make_settings(database_url, broker, tiny_city, kpis_file=write_catalogue(tmp_path)))
    add_fixture(runtime.engine)
    server = Flask("kpis-test")
    register_api(server)
    keys = {role: create_token(runtime.engine, f"{role}-app", role) for role in ("manager", "dispatcher", "display")}
    yield server.test_client(), keys, runtime
    runtime.engine.dispose()


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def test_the_api_lists_the_values_of_a_period_as_json_and_csv(served):
    client, keys, runtime = served
    run_rollup(RollupContext.of(runtime), NOW)
    answer = client.get("/api/v1/kpis?period=day&start=2026-03-11T12:00:00Z&kpi=test.dispatch_mean",
                        headers=bearer(keys["display"]))
    assert answer.status_code == 200
    rows = answer.get_json()
    assert [(row["district"], row["value"]) for row in rows] == [("city", 90.0), ("East", 120.0), ("West", 60.0)]
    assert rows[0] == {"kpi": "test.dispatch_mean", "label": "Label of test.dispatch_mean", "unit": "s",
                       "district": "city", "period": "day", "from": "2026-03-10T22:00:00Z",
                       "to": "2026-03-11T22:00:00Z", "value": 90.0, "target": 60.0, "baseline": None,
                       "standing": "bad", "count": 2, "share_meeting": None}  # 50 % over the target
    chinese = client.get("/api/v1/kpis?start=2026-03-11T12:00:00Z&district=East&lang=zh",
                         headers=bearer(keys["display"])).get_json()
    assert {row["label"] for row in chinese} == {"test.pm25_mean 的名称", "test.dispatch_mean 的名称"}
    assert {(row["kpi"], row["value"]) for row in chinese} == {("test.pm25_mean", None), ("test.dispatch_mean", 120.0)}
    exported = client.get("/api/v1/kpis?period=week&start=2026-03-11T12:00:00Z&district=city&format=csv",
                          headers=bearer(keys["display"]))
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    table = list(csv.reader(io.StringIO(exported.get_data(as_text=True))))
    assert table[0][:11] == ["kpi", "label", "unit", "district", "period", "from", "to", "value", "target",
                             "baseline", "standing"]
    assert [row[0] for row in table[1:]] == ["test.pm25_mean", "test.dispatch_mean"]
    assert table[1][7] == "20.0" and table[1][9] == ""  # no baseline: an empty cell


@pytest.mark.parametrize("query, field", [
    ("period=year", "period"), ("kpi=nope.kpi", "kpi"), ("district=Atlantis", "district"),
    ("format=pdf", "format"), ("start=yesterday", "start"),
])
def test_the_api_answers_400_naming_the_bad_parameter(served, query, field):
    client, keys, _ = served
    answer = client.get(f"/api/v1/kpis?{query}", headers=bearer(keys["display"]))
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == field


def test_targets_are_read_by_anyone_and_set_by_a_manager_only(served):
    client, keys, _ = served
    body = {"kpi": "test.pm25_mean", "district": "West", "year": 2026, "target": 8, "baseline": 14}
    refused = client.put("/api/v1/kpis/targets", json=body, headers=bearer(keys["dispatcher"]))
    assert refused.status_code == 403
    saved = client.put("/api/v1/kpis/targets", json=body, headers=bearer(keys["manager"]))
    assert saved.status_code == 200 and saved.get_json()["target"] == 8.0 and saved.get_json()["baseline"] == 14.0
    listed = client.get("/api/v1/kpis/targets?year=2026&district=West&kpi=test.pm25_mean",
                        headers=bearer(keys["display"])).get_json()
    assert [(t["target"], t["baseline"], t["default_target"]) for t in listed["targets"]] == [(8.0, 14.0, 10.0)]
    bad = client.put("/api/v1/kpis/targets", json={**body, "district": "Atlantis"}, headers=bearer(keys["manager"]))
    assert bad.status_code == 422 and bad.get_json()["error"]["field"] == "district"


def test_each_current_value_is_a_retained_key_performance_indicator_on_the_broker(served, broker):
    _, _, runtime = served
    now = datetime.now(UTC)
    with session_scope(runtime.engine) as session:
        session.add(Incident(category="fire", district="West", lon=24.94, lat=60.17, status="dispatched",
                             created_at=now - timedelta(seconds=50), updated_at=now, status_since=now,
                             dispatched_at=now - timedelta(seconds=5)))
    ctx = RollupContext.of(runtime)
    run_rollup(ctx, now)
    root = runtime.settings.topic_root
    publish = retained_publisher(runtime.settings.mqtt)
    sent = publish_current(runtime.engine, ctx.catalogue, runtime.city.name, TZ, root, publish, now)
    assert sent == 2 * 3 * 5  # 2 KPIs x (city, West, East) x 5 period kinds
    messages = retained_messages(broker, f"{root}/kpis/#", expected=2 * 3 * 6)
    assert len(messages) == 2 * 3 * 6, sorted(messages)
    entity, retained = messages[f"{root}/kpis/test.dispatch_mean/West"]
    assert retained and entity["type"] == "KeyPerformanceIndicator"
    assert entity["id"] == "urn:ngsi-ld:KeyPerformanceIndicator:cityops:test.dispatch_mean:West:day"
    assert entity["kpiValue"] == 45.0 and entity["currentStanding"] == "veryGood"  # 45 s meets the 60 s target
    local_today = now.astimezone(ZoneInfo(TZ)).date()
    assert entity["calculationPeriod"] == {"from": local_today.isoformat(), "to": local_today.isoformat()}
    assert (entity["calculationFrequency"], entity["calculationMethod"]) == ("daily", "automatic")
    assert entity["area"] == "West" and entity["businessTarget"] == "<= 60 s" and entity["dateCreated"]
    monthly, _ = messages[f"{root}/kpis/test.dispatch_mean/city/month"]
    assert monthly["calculationFrequency"] == "monthly" and monthly["area"] == "Tiny"
    assert publish_current(runtime.engine, ctx.catalogue, runtime.city.name, TZ, root, publish, now) == 0


def test_the_ingest_roles_job_rolls_up_and_publishes_on_the_leading_process_only(served, broker):
    _, _, runtime = served
    leading = {"now": False}
    scheduler = BackgroundScheduler(timezone="UTC")
    schedule_kpi_jobs(runtime, scheduler, lambda: leading["now"])
    job = scheduler.get_job("kpi-rollup")
    job.func()  # not the leader: nothing
    with Session(runtime.engine) as session:
        assert session.execute(select(KpiRollup)).first() is None
    leading["now"] = True
    job.func()
    root = runtime.settings.topic_root
    messages = retained_messages(broker, f"{root}/kpis/+/city", expected=2)
    assert {topic.split("/")[-2] for topic in messages} == {"test.pm25_mean", "test.dispatch_mean"}
