#!/usr/bin/env python
"""KPI roll-up benchmark: how long the scorecards' roll-ups take over a month of a busy city.

Run from the repository root:

    .venv/bin/python bench/kpis.py                   # 2,000 sensors, 10,000 incidents, 20,000 requests, 30 days
    .venv/bin/python bench/kpis.py --quick           # 200 sensors, 1,000 incidents, 2,000 requests, 7 days
    .venv/bin/python bench/kpis.py --scale 0.25      # 500 sensors, 2,500 incidents, 5,000 requests, 30 days
    .venv/bin/python bench/kpis.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

Setup (seeded, deterministic): a fresh database (SQLite in a temporary directory by default; a
PostgreSQL URL is used as given, into a schema of its own that is dropped afterwards) with the
Helsinki city (its five districts, road graph and units) and ``--sensors`` registered sensors cloned
from the city's own sites (traffic counters with their road edges and free-flow speeds, air
stations, flood and water gauges with their levels, weather stations, in the city's proportions),
each reporting once an hour for ``--days`` days (the simulator's coarse interval for history);
``--incidents`` incidents with their timeline (created, dispatched, unit accepted, on scene,
resolved), ``--requests`` citizen requests with their facts (received, accepted, resolved, closed,
some overdue and rated) and one alarm per 20 incidents, spread over the same days. Rows are
inserted directly (not through MQTT and commands: this measures the roll-ups, not the ingest).

Measured, with every measure registered in this checkout and the catalogue of CITYOPS_KPIS_FILE
(or ``--catalogue``):

1. the first roll-up run over the whole history (``--days``, 30: the issue's "30 days"), as a new
   installation's leader does it (``run_rollup`` without a time budget: every source read from the
   start, every hour of the last two days and every day, week, month and quarter);
2. one day's roll-up: its 24 hours and the day, then the week, month and quarter holding it (what a
   late reading for every hour of that day makes the incremental roll-up compute, the other days
   stored; the late readings are inserted and seen by ``mark_changes`` first, so the day is dirty);
3. a steady run: a minute of new readings, then ``run_rollup`` (the current periods of every kind,
   the KPIs of the sources that changed); then a refresh run (every KPI's current periods, as every
   five minutes);
4. the scorecards page's callbacks with a year of roll-ups (the year before the history filled with
   stored values): p95 per callback, posted as the browser does through the Flask test client
   (``--no-pages`` skips it, ``--repeat`` rounds).
With ``--per-kpi``, first one call of each measure (the city and every district) over one day.
``--scale 0.25`` takes a quarter of the sensors, incidents and requests (the days unchanged).
"""
from __future__ import annotations

import argparse
import math
import random
import shutil
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, delete, insert, text  # noqa: E402
from sqlmodel import Session  # noqa: E402

from services.city import City, load_city  # noqa: E402
from services.config import CITIES_DIR, Settings  # noqa: E402
from services.db import make_engine, migrate  # noqa: E402
from services.devices import register_city_devices  # noqa: E402
from services.kpis.catalogue import catalogue_of, load_catalogue  # noqa: E402
from services.kpis.periods import buckets, period_bounds  # noqa: E402
from services.kpis.registry import MEASURES, MeasureContext, Period  # noqa: E402
from services.kpis.rollup import (REFRESH, RollupContext, RollupReport, mark_changes, rollup_range,  # noqa: E402
                                  run_rollup)
from services.models import (Alarm, Incident, IncidentEvent, KpiDirtyBucket, KpiRollup, Observation,  # noqa: E402
                             WorkOrder, WorkOrderEvent)

END = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)  # "now": a Monday noon, the history before it
SERVICES = (("POT", "roads"), ("TRE", "parks"), ("WLK", "water"), ("DRN", "water"), ("LGT", "roads"))
SATISFACTION = ("very_satisfied", "satisfied", "basically_satisfied", "dissatisfied", None, None)


def synthetic_city(sensors: int, rng: random.Random) -> City:
    """Helsinki with ``sensors`` sensors cloned from its own sites, in its proportions of types."""
    city = load_city(CITIES_DIR / "helsinki")
    sites = city.devices
    devices = []
    for index in range(sensors):
        template = sites[index % len(sites)] if index < len(sites) else rng.choice(sites)
        devices.append({**template, "device_id": f"{template['device_id']}-b{index:05d}"})
    return City(folder=city.folder, meta=city.meta, sites={**city.sites, "devices": devices})


def reading(device: dict, hour: datetime, rng: random.Random) -> dict:
    local_hour = (hour.hour + 2) % 24
    peak = local_hour in (7, 8, 16, 17)
    kind = device["type"]
    if kind == "TrafficFlowObserved":
        ratio = rng.uniform(0.25, 0.8) if peak else rng.uniform(0.6, 1.05)
        return {"averageVehicleSpeed": round(float(device.get("free_flow_kmh") or 40) * ratio, 1),
                "intensity": rng.randint(50, 1500), "occupancy": round(rng.uniform(0.02, 0.6), 2)}
    if kind == "AirQualityObserved":
        pm25 = rng.lognormvariate(2.0, 0.6)
        return {"pm25": round(pm25, 1), "pm10": round(pm25 * 1.7, 1), "no2": round(rng.uniform(5, 60), 1),
                "o3": round(rng.uniform(20, 90), 1)}
    if kind in ("FloodMonitoring", "WaterObserved"):
        normal = float(device.get("normal_level") or 0.5)
        alert = float(device.get("alert_level") or normal + 1)
        level = normal + rng.uniform(0, 0.4) + (alert - normal + 0.1 if rng.random() < 0.01 else 0)
        return {"currentLevel" if kind == "FloodMonitoring" else "height": round(level, 2)}
    return {"temperature": round(rng.uniform(-5, 10), 1), "precipitation": round(rng.expovariate(2), 2)}


def insert_observations(engine, city: City, days: int, rng: random.Random) -> int:
    hours = [END - timedelta(hours=h) for h in range(days * 24, 0, -1)]
    total, batch = 0, []
    with engine.begin() as connection:
        for device in city.devices:
            for hour in hours:
                at = hour + timedelta(seconds=rng.randint(0, 3599))
                batch.append({"device_id": device["device_id"], "entity_type": device["type"], "observed_at": at,
                              "received_at": at + timedelta(seconds=2), "lon": device["lon"], "lat": device["lat"],
                              "values": reading(device, hour, rng)})
                if len(batch) >= 20_000:
                    connection.execute(insert(Observation), batch)
                    total, batch = total + len(batch), []
        if batch:
            connection.execute(insert(Observation), batch)
            total += len(batch)
    return total


def insert_incidents(engine, city: City, count: int, days: int, rng: random.Random) -> None:
    districts = [f["properties"]["name"] for f in city.basemap("districts")["features"]]
    units = [unit["unit_id"] for unit in city.units]
    incidents, events = [], []
    for number in range(1, count + 1):
        created = END - timedelta(seconds=rng.uniform(0, days * 86400))
        dispatched = created + timedelta(seconds=rng.uniform(20, 150))
        accepted = dispatched + timedelta(seconds=rng.uniform(15, 120))
        on_scene = accepted + timedelta(seconds=rng.uniform(90, 600))
        resolved = on_scene + timedelta(minutes=rng.uniform(10, 60))
        unit = rng.choice(units)
        incidents.append({"id": number, "category": rng.choice(("fire", "health", "traffic")), "priority": rng.randint(1, 4),
                          "status": "resolved", "source": "operator", "district": rng.choice(districts),
                          "lon": 24.944, "lat": 60.171, "unit_id": unit, "escalated": False, "created_by": "bench",
                          "created_at": created, "updated_at": resolved, "status_since": resolved,
                          "dispatched_at": dispatched, "on_scene_at": on_scene, "resolved_at": resolved, "version": 5})
        for kind, at, before, after in (("created", created, None, None), ("dispatched", dispatched, "new", "dispatched"),
                                        ("status", accepted, "dispatched", "en_route"),
                                        ("status", on_scene, "en_route", "on_scene"),
                                        ("status", resolved, "on_scene", "resolved")):
            events.append({"incident_id": number, "at": at, "kind": kind, "actor": "bench", "message": kind,
                           "status_before": before, "status_after": after, "unit_id": unit})
    with engine.begin() as connection:
        connection.execute(insert(Incident), incidents)
        for index in range(0, len(events), 20_000):
            connection.execute(insert(IncidentEvent), events[index:index + 20_000])
        alarms = [{"rule_id": "bench-rule", "rule_name": "Bench rule", "device_id": rng.choice(city.devices)["device_id"],
                   "district": rng.choice(districts), "category": "environment", "sub_category": "airPollution",
                   "severity": severity, "base_severity": severity, "active": False, "acknowledged": True,
                   "started_at": at, "raised_at": at, "last_raised_at": at, "updated_at": at,
                   "acknowledged_at": at + timedelta(seconds=rng.uniform(20, 900)), "acknowledged_by": "bench",
                   "cleared_at": at + timedelta(minutes=30), "revision": 3, "published_revision": 3}
                  for at, severity in ((END - timedelta(seconds=rng.uniform(0, days * 86400)),
                                        rng.choice(("medium", "high", "critical"))) for _ in range(count // 20))]
        connection.execute(insert(Alarm), alarms)


def insert_requests(engine, city: City, count: int, days: int, rng: random.Random) -> None:
    districts = [f["properties"]["name"] for f in city.basemap("districts")["features"]]
    orders, events = [], []
    for number in range(1, count + 1):
        code, department = rng.choice(SERVICES)
        received = END - timedelta(seconds=rng.uniform(0, days * 86400))
        accepted = received + timedelta(minutes=rng.uniform(5, 240))
        resolved = accepted + timedelta(hours=rng.uniform(1, 72))
        closed = resolved + timedelta(hours=rng.uniform(0, 24))
        done = closed < END
        orders.append({"id": number, "request_id": f"CO-{number:06d}", "source": "hotline", "service_code": code,
                       "department": department, "status": "closed" if done else "accepted",
                       "district": rng.choice(districts), "lon": 24.944, "lat": 60.171, "requested_at": received,
                       "received_at": received, "assigned_at": received + timedelta(minutes=2), "accepted_at": accepted,
                       "resolved_at": resolved if done else None, "closed_at": closed if done else None,
                       "response_due_at": received + timedelta(hours=2), "resolution_due_at": received + timedelta(days=3),
                       "overdue_alarmed": False, "transfer_count": int(rng.random() < 0.1), "reopen_count": 0,
                       "satisfaction": rng.choice(SATISFACTION) if done else None, "created_by": "bench",
                       "updated_at": closed if done else accepted, "version": 6})
        facts = [("received", received), ("assigned", received + timedelta(minutes=2)), ("accepted", accepted)]
        if accepted > received + timedelta(hours=2):
            facts.append(("overdue", received + timedelta(hours=2)))
        if done:
            facts += [("resolved", resolved), ("closed", closed)]
        events += [{"order_id": number, "at": at, "kind": kind, "actor": "bench", "message": kind,
                    "department": department, "service_code": code, "district": orders[-1]["district"],
                    "detail": {"phase": "response"} if kind == "overdue" else None, "published": True}
                   for kind, at in facts]
    with engine.begin() as connection:
        connection.execute(insert(WorkOrder), orders)
        for index in range(0, len(events), 20_000):
            connection.execute(insert(WorkOrderEvent), events[index:index + 20_000])


def timed(label: str, action):
    started = time.perf_counter()
    report = action()
    seconds = time.perf_counter() - started
    if isinstance(report, RollupReport):
        failed = f", skipped: {', '.join(sorted(report.failed))}" if report.failed else ""
        print(f"  {label:<44} {seconds:8.2f} s  ({report.periods} periods, {report.values} values, "
              f"{seconds / max(report.values, 1) * 1000:.1f} ms a value{failed})")
    else:
        print(f"  {label:<44} {seconds:8.2f} s")
    return report, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sensors", type=int, default=2000)
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="200 sensors, 1,000 incidents, 2,000 requests, 7 days")
    parser.add_argument("--database-url", help="default: SQLite in a temporary directory")
    parser.add_argument("--catalogue", type=Path, help="default: CITYOPS_KPIS_FILE (config/kpis.yaml)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--per-kpi", action="store_true", help="also time one call of each measure (one day)")
    parser.add_argument("--scale", type=float, help="sensors, incidents and requests times this (days unchanged)")
    parser.add_argument("--no-pages", dest="pages", action="store_false", help="skip the page callbacks")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of page callbacks (default 5)")
    args = parser.parse_args()
    if args.quick:
        args.sensors, args.incidents, args.requests, args.days = 200, 1000, 2000, 7
    if args.scale:
        args.sensors, args.incidents, args.requests = (max(1, round(n * args.scale)) for n in
                                                       (args.sensors, args.incidents, args.requests))
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="cityops-bench-kpis-"))
    url, schema = args.database_url or f"sqlite:///{folder / 'cityops.db'}", None
    if url.startswith("postgresql"):
        schema = f"bench_kpis_{uuid.uuid4().hex[:8]}"
        with create_engine(url, isolation_level="AUTOCOMMIT").connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        url = f"{url}?options=-csearch_path%3D{schema}"
    try:
        run(args, url, rng)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        if schema:
            with create_engine(args.database_url, isolation_level="AUTOCOMMIT").connect() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


def run(args, url: str, rng: random.Random) -> None:
    catalogue = load_catalogue(args.catalogue) if args.catalogue else catalogue_of(Settings.from_env())
    print(f"catalogue: {len(catalogue)} KPIs, {len(MEASURES)} measures registered; database: "
          f"{url.split(':')[0]}; {args.sensors} sensors hourly for {args.days} days, {args.incidents} incidents, "
          f"{args.requests} requests")
    engine = make_engine(url)
    migrate(engine)
    city = synthetic_city(args.sensors, rng)
    register_city_devices(engine, city)
    started = time.perf_counter()
    observations = insert_observations(engine, city, args.days, rng)
    insert_incidents(engine, city, args.incidents, args.days, rng)
    insert_requests(engine, city, args.requests, args.days, rng)
    print(f"  inserted {observations:,} observations and the records in {time.perf_counter() - started:.1f} s")
    tz = city.timezone
    ctx = RollupContext(engine, city, lambda: catalogue, tz)
    scopes = 1 + len(ctx.districts)
    print(f"  {scopes} scopes (the city and {scopes - 1} districts)")
    day_start, day_end = period_bounds("day", END - timedelta(days=3), tz)
    if args.per_kpi:
        per_kpi(engine, city, catalogue, day_start, day_end)
    timed(f"first run over {args.days} days (all history)", lambda: run_rollup(ctx, END, budget_s=float("inf")))
    late_readings(engine, ctx, city, day_start, rng)
    day, day_s = timed("one day: 24 hours and the day",
                       lambda: rollup_range(ctx, day_start, day_end, END, periods=("hour", "day")))
    wider, wider_s = timed("one day: its week, month and quarter",
                           lambda: rollup_range(ctx, day_start, day_end, END, periods=("week", "month", "quarter")))
    print(f"  {'one day, all that holds it':<44} {day_s + wider_s:8.2f} s")
    with engine.begin() as connection:  # what the incremental roll-up would have computed now
        connection.execute(delete(KpiDirtyBucket))
    with engine.begin() as connection:
        connection.execute(insert(Observation), [
            {"device_id": device["device_id"], "entity_type": device["type"], "observed_at": END + timedelta(seconds=30),
             "received_at": END + timedelta(seconds=31), "values": reading(device, END, rng)} for device in city.devices])
    timed("a steady run: a minute of new readings", lambda: run_rollup(ctx, END + timedelta(minutes=1)))
    timed("a refresh run: every KPI's current periods", lambda: run_rollup(ctx, END + REFRESH + timedelta(minutes=1)))
    if args.pages:
        year_of_rollups(engine, catalogue, ctx.districts, tz, END - timedelta(days=args.days), rng)
        page_callbacks(url, catalogue, tz, args.repeat)
    engine.dispose()


def late_readings(engine, ctx: RollupContext, city: City, day: datetime, rng: random.Random) -> None:
    """A late reading for every hour of the day, seen by the roll-up: the day is dirty (its stored scans
    are read again), as when a gateway's buffered readings arrive."""
    device = next(d for d in city.devices if d["type"] == "AirQualityObserved")
    with engine.begin() as connection:
        connection.execute(insert(Observation), [
            {"device_id": device["device_id"], "entity_type": device["type"],
             "observed_at": day + timedelta(hours=h, minutes=59, seconds=59), "received_at": END,
             "values": reading(device, day + timedelta(hours=h), rng)} for h in range(24)])
    mark_changes(ctx, END)


def year_of_rollups(engine, catalogue, districts: list[str], tz: str, history_start: datetime,
                    rng: random.Random) -> None:
    """Stored values for the year before the history (days, weeks, months, quarters), as a year-old
    installation has them; the history's own periods are the ones the roll-ups computed."""
    rows = []
    for period in ("day", "week", "month", "quarter"):
        first = period_bounds(period, END - timedelta(days=366), tz)[0]
        for start, end in buckets(period, first, history_start, tz):
            if end > history_start:
                break
            rows += [{"kpi": kpi.key, "district": district, "period": period, "start": start, "end": end,
                      "value": round(rng.uniform(1, 500), 2), "count": rng.randint(1, 500), "computed_at": end,
                      "published": True}
                     for kpi in catalogue for district in ["city", *districts]]
    with engine.begin() as connection:
        for index in range(0, len(rows), 20_000):
            connection.execute(insert(KpiRollup), rows[index:index + 20_000])
    print(f"  stored {len(rows):,} roll-up values for the year before the history")


def page_callbacks(url: str, catalogue, tz: str, repeat: int) -> None:
    """The scorecards page's callbacks, posted as the browser does (/_dash-update-component, a signed-in
    manager) through the Flask test client: the period picker, the cards and matrix of each period for
    the city and a district (a KPI selected or not), a KPI's detail (its trend, and the samples and
    records behind the value as the roll-up stored them). p95 per callback over ``repeat`` rounds."""
    from app import create_app
    from services.access.users import CreateUser
    from services.auth import Principal
    from services.kpis.registry import district_names
    from services.runtime import open_runtime
    from tests.dash_calls import callback_body

    origin = "http://localhost"
    runtime = open_runtime(Settings.from_env({}, database_url=url, city=str(CITIES_DIR / "helsinki"),
                                             mqtt_url="mqtt://127.0.0.1:1", data_dir=tempfile.mkdtemp()))
    app = create_app(runtime)
    CreateUser(runtime.engine, Principal.system("bench"), "bench-manager", "manager", "bench password 13")()
    client = app.server.test_client()
    signed_in = client.post("/login", data={"name": "bench-manager", "password": "bench password 13", "next": "/"},
                            headers={"Origin": origin})
    if signed_in.status_code != 303:
        raise SystemExit(f"the bench's manager could not sign in ({signed_in.status_code})")
    districts = ["city", district_names(runtime.city)[0]]
    keys = [kpi.key for kpi in catalogue]
    chosen = {period: period_bounds(period, END - timedelta(days=3), tz)[0].isoformat()
              for period in ("day", "week", "month", "quarter")}
    calls = []
    for period, start in chosen.items():
        calls.append(("pick_period", [period], []))
        for district in districts:
            calls.append(("show_scorecard", [start, district, None], [period]))
            calls.append(("show_scorecard", [start, district, keys[0]], [period]))
        for key in (keys[0], "environment.pm25_mean", "service.response_rate", "mobility.peak_congested_share"):
            if key in catalogue:
                calls.append(("pages.scorecards:show_detail", [key, start, "city"], [period]))
    took: dict[str, list[float]] = {}
    for _ in range(repeat):
        for name, values, states in calls:
            body = callback_body(app, name, values, states)
            started = time.perf_counter()
            answer = client.post("/_dash-update-component", json=body, headers={"Origin": origin})
            took.setdefault(name.split(":")[-1], []).append(time.perf_counter() - started)
            if answer.status_code not in (200, 204):
                raise SystemExit(f"{name} answered {answer.status_code}: {answer.get_data(as_text=True)[:300]}")
    every = [seconds for each in took.values() for seconds in each]
    print(f"  page callbacks, a year of roll-ups ({len(every)} calls):  p95 {p95(every) * 1000:6.0f} ms  "
          f"max {max(every) * 1000:6.0f} ms")
    for name, each in took.items():
        print(f"    {name:<42} p95 {p95(each) * 1000:6.0f} ms  ({len(each)} calls)")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def per_kpi(engine, city: City, catalogue, start: datetime, end: datetime) -> None:
    """One call of each KPI's measure (the city and every district) over one day: where the time goes."""
    print("  one call per KPI (the city and every district), one day:")
    with Session(engine) as session:
        for kpi in catalogue:
            measure = MEASURES.get(kpi.measure)
            if measure is None:
                continue
            started = time.perf_counter()
            measure(MeasureContext(session, city, kpi.params), Period(start, end))
            print(f"    {kpi.key:<44} {(time.perf_counter() - started) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
