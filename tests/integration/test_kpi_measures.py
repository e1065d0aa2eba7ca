"""Every KPI of config/kpis.yaml on small hand-built records (rows inserted directly), on SQLite and
PostgreSQL. Each expected value is computed by hand in the comments; percentiles are nearest-rank
(rank = ceil(p/100 x n) of the sorted samples).

The site is Europe/Helsinki: UTC+2 in winter, UTC+3 in summer; 2026-03-29 is a 23-hour day (clocks go
from 03:00 to 04:00), 2026-10-25 a 25-hour day.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import func, select
from sqlmodel import Session

import services.kpis.measures  # noqa: F401  (registers every measure)
from services.city import load_city
from services.config import PROJECT_ROOT
from services.auth import Principal
from services.db import session_scope
from services.dispatch import CreateIncident, DispatchContext, DispatchUnit, apply_reply
from services.kpis.catalogue import load_catalogue
from services.kpis.registry import MEASURES, MeasureContext, Measured, Scope, measure_scope
from services.kpis.rollup import RollupContext, mark_changes, rollup_range
from services.models import (Alarm, AlarmEvent, AuditEntry, Device, Incident, IncidentEvent, KpiDayScan, KpiRollup,
                             Observation, WorkOrder, WorkOrderEvent)
from services.telemetry import CommandReplyIn
from services.units import seed_units

HELSINKI = ZoneInfo("Europe/Helsinki")
CATALOGUE = {entry["key"]: entry for entry in
             yaml.safe_load((PROJECT_ROOT / "config" / "kpis.yaml").read_text(encoding="utf-8"))["kpis"]}


def T(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    """A UTC instant in 2026 (March unless told)."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def local_day(day: int, month: int = 3, district: str | None = None, days: int = 1) -> Scope:
    """The site's calendar day(s) from 2026-<month>-<day>, as a UTC scope."""
    start = datetime(2026, month, day, tzinfo=HELSINKI)
    end = (start.replace(tzinfo=None) + timedelta(days=days)).replace(tzinfo=HELSINKI)
    return Scope(start.astimezone(UTC), end.astimezone(UTC), district)


# ---------------------------------------------------------------- a city and a database

@pytest.fixture
def city(tiny_city):
    """The tiny city with three districts (West, East, and Harbour, which has no sensor) and five roads:
    Testikatu both ways (primary, 500 m each, West), Itäkatu (secondary, 500 m, East), a residential
    street (300 m, East, not a major road) and Satamatie (primary, 400 m, Harbour)."""
    def box(x0, y0, x1, y1):
        return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}

    (tiny_city / "basemap" / "districts.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": name}, "geometry": geometry} for name, geometry in (
            ("West", box(24.935, 60.164, 24.944, 60.179)), ("East", box(24.944, 60.164, 24.954, 60.179)),
            ("Harbour", box(24.935, 60.160, 24.954, 60.164)))]}))
    (tiny_city / "road_graph.json").write_text(json.dumps({
        "nodes": [[1, 24.936, 60.17], [2, 24.942, 60.17], [3, 24.946, 60.17], [4, 24.952, 60.17],
                  [5, 24.946, 60.175], [6, 24.940, 60.162], [7, 24.948, 60.162]],
        "edges": [[1, 1, 2, 500.0, 40, "primary", "Testikatu", [[24.936, 60.17], [24.942, 60.17]]],
                  [2, 2, 1, 500.0, 40, "primary", "Testikatu", [[24.942, 60.17], [24.936, 60.17]]],
                  [3, 3, 4, 500.0, 50, "secondary", "Itäkatu", [[24.946, 60.17], [24.952, 60.17]]],
                  [4, 3, 5, 300.0, 30, "residential", "Sivukatu", [[24.946, 60.17], [24.946, 60.175]]],
                  [5, 6, 7, 400.0, 40, "primary", "Satamatie", [[24.940, 60.162], [24.948, 60.162]]]]}))
    return load_city(tiny_city)


@pytest.fixture
def db(migrated_engine):
    return migrated_engine


def add(engine, *rows) -> None:
    with session_scope(engine) as session:
        session.add_all(rows)


def kpi(engine, city, key: str, scope: Scope, **params) -> Measured:
    """The catalogue entry ``key`` computed for ``scope``: its measure with its params (``params`` on top)."""
    entry = CATALOGUE[key]
    with Session(engine) as session:
        return measure_scope(MEASURES[entry["measure"]], MeasureContext(session, city, {**entry["params"], **params}),
                             scope)


def device(device_id: str, device_type: str, district: str | None, interval_s: int = 60, registered: bool = True,
           **meta) -> Device:
    return Device(id=device_id, type=device_type, district=district, registered=registered, interval_s=interval_s,
                  meta=meta or None)


def observation(device_id: str, entity_type: str, at: datetime, **values) -> Observation:
    return Observation(device_id=device_id, entity_type=entity_type, observed_at=at, received_at=at, values=values)


# ---------------------------------------------------------------- emergency response

def incident(ident: int, district: str, created: datetime, drill: str | None = None,
             kind: tuple[str, str] = ("fire", "other")) -> Incident:
    return Incident(id=ident, category=kind[0], sub_category=kind[1], district=district, lon=24.94, lat=60.17,
                    created_at=created, updated_at=created, status_since=created, drill=drill)


def event(incident_id: int, at: datetime, kind: str, status_after: str | None = None,
          unit: str | None = None) -> IncidentEvent:
    return IncidentEvent(incident_id=incident_id, at=at, kind=kind, actor="test", message=kind,
                         status_after=status_after, unit_id=unit)


@pytest.fixture
def response_records(db):
    add(db,
        # 1 (West): call 08:00:00, A dispatched 08:00:40, A accepted 08:01:40, A on scene 08:05:00
        #   processing 40, turnout 60, travel 200, total 300
        incident(1, "West", T(10, 8)),
        event(1, T(10, 8), "created", "new"), event(1, T(10, 8, 0, 40), "dispatched", unit="A"),
        event(1, T(10, 8, 1, 40), "status", "en_route", "A"), event(1, T(10, 8, 5), "status", "on_scene", "A"),
        # 2 (West): call 09:00, B dispatched 09:01:30 and rejected, C dispatched 09:03:00, accepted 09:03:50,
        #   on scene 09:08:00: processing 90 (first dispatch), turnout 50 (C's own dispatch), travel 250, total 480
        incident(2, "West", T(10, 9)),
        event(2, T(10, 9, 1, 30), "dispatched", unit="B"), event(2, T(10, 9, 2), "escalated", "new", "B"),
        event(2, T(10, 9, 3), "dispatched", unit="C"), event(2, T(10, 9, 3, 50), "status", "en_route", "C"),
        event(2, T(10, 9, 8), "status", "on_scene", "C"),
        # 3 (East): call 10:00, dispatched 10:00:30, then cancelled: processing 30 only
        incident(3, "East", T(10, 10)),
        event(3, T(10, 10, 0, 30), "dispatched", unit="D"), event(3, T(10, 10, 1), "status", "cancelled"),
        # 6 (West): call 11:00, A dispatched 11:00:20, accepted 11:01:00, recalled 11:02; B dispatched 11:03:00
        #   arrives 11:06:00 without having accepted: processing 20, turnout 40 (A), no travel (B never
        #   accepted; A's acceptance is not B's), total 360
        incident(6, "West", T(10, 11)),
        event(6, T(10, 11, 0, 20), "dispatched", unit="A"), event(6, T(10, 11, 1), "status", "en_route", "A"),
        event(6, T(10, 11, 2), "escalated", "new", "A"), event(6, T(10, 11, 3), "dispatched", unit="B"),
        event(6, T(10, 11, 6), "status", "on_scene", "B"),
        # 4: a drill, 5: the day before (outside the scope)
        incident(4, "East", T(10, 10), drill="flood-drill"), event(4, T(10, 10, 0, 5), "dispatched", unit="E"),
        incident(5, "West", T(9, 8)), event(5, T(9, 8, 0, 1), "dispatched", unit="A"),
        # 7 (West): a blocked drain, a road crew's job: reported 12:00, R dispatched 12:30, accepted 12:31, on
        #   scene 13:10: not an emergency call (processing 1,800 would be the emergency KPIs' worst); the drain
        #   KPI's total 4,200 s
        incident(7, "West", T(10, 12), kind=("infrastructure", "blockedDrain")),
        event(7, T(10, 12, 30), "dispatched", unit="R"), event(7, T(10, 12, 31), "status", "en_route", "R"),
        event(7, T(10, 13, 10), "status", "on_scene", "R"))


def test_response_intervals_follow_each_incidents_timeline(db, city, response_records):
    day = local_day(10)
    # processing samples [40, 90, 30, 20]: p90 = rank ceil(3.6) = 4th of [20, 30, 40, 90] = 90; mean 45;
    #   within 64 s: 3 of 4
    processing = kpi(db, city, "emergency.call_processing_p90", day)
    assert processing.value == 90 and processing.count == 4
    assert processing.share_meeting == 0.75
    assert processing.detail["samples"] == [20, 30, 40, 90]
    assert {r["id"] for r in processing.detail["records"]} == {1, 2, 3, 6}
    assert all(r["kind"] == "incident" for r in processing.detail["records"])
    assert kpi(db, city, "emergency.call_processing_mean", day).value == 45
    # turnout [60, 50, 40]: p90 = rank ceil(2.7) = 3rd = 60; mean 50; all within 80 s
    turnout = kpi(db, city, "emergency.turnout_p90", day)
    assert (turnout.value, turnout.share_meeting) == (60, 1.0)
    assert kpi(db, city, "emergency.turnout_mean", day).value == 50
    # travel [200, 250] (none for 6): p90 = rank 2 = 250, one of two within 240 s
    travel = kpi(db, city, "emergency.travel_p90", day)
    assert (travel.value, travel.count, travel.share_meeting) == (250, 2, 0.5)
    assert kpi(db, city, "emergency.travel_mean", day).value == 225
    # total [300, 480, 360]: p90 = rank 3 = 480 (two of three within 384 s), mean 380
    total = kpi(db, city, "emergency.total_response_p90", day)
    assert (total.value, total.count) == (480, 3)
    assert total.share_meeting == pytest.approx(2 / 3)
    assert kpi(db, city, "emergency.total_response_mean", day).value == 380
    # per district: West [40, 90, 20], East [30] (the drill's 5 s is not there)
    assert kpi(db, city, "emergency.call_processing_p90", local_day(10, district="West")).value == 90
    east = kpi(db, city, "emergency.call_processing_mean", local_day(10, district="East"))
    assert (east.value, east.count) == (30, 1)
    assert kpi(db, city, "emergency.travel_p90", local_day(10, district="East")).value is None
    # the blocked drain is scored apart: one sample of 4,200 s, outside its hour
    drains = kpi(db, city, "flood.drain_response_p90", day)
    assert (drains.value, drains.count, drains.share_meeting) == (4200, 1, 0.0)
    assert [r["id"] for r in drains.detail["records"]] == [7]


def test_response_intervals_read_the_facts_the_dispatch_commands_record(db):
    """The same facts written by the product itself: a call, a dispatch, the unit's accepted and arrived
    replies (services/dispatch.py), not rows shaped by hand."""
    helsinki = load_city(PROJECT_ROOT / "cities" / "helsinki")
    seed_units(db, helsinki)
    ctx = DispatchContext(db, helsinki, "city", lambda topic, payload: True)
    dispatcher = Principal("dispatcher-a", "dispatcher")
    call = T(10, 8)
    incident = CreateIncident(ctx, dispatcher, {
        "category": "health", "subCategory": "heartAttack", "priority": "P1", "description": "collapsed",
        "location": {"type": "Point", "coordinates": [24.9410, 60.1695]}}).validate().run(now=call)
    sent = DispatchUnit(ctx, dispatcher, incident.id).validate().run(now=call + timedelta(seconds=30))
    for result, seconds in (("accepted", 90), ("arrived", 330)):
        at = call + timedelta(seconds=seconds)
        assert apply_reply(ctx, CommandReplyIn(sent.unit_id, sent.cmd_id, result, at, at)) == result
    # processing 30 s, turnout 90 - 30 = 60 s, travel 330 - 90 = 240 s, total 330 s
    day = local_day(10, district=incident.district)
    assert [kpi(db, helsinki, key, day).value for key in (
        "emergency.call_processing_p90", "emergency.turnout_p90", "emergency.travel_p90",
        "emergency.total_response_p90")] == [30, 60, 240, 330]


# ---------------------------------------------------------------- citizen service (12345)

def order(ident: int, service: str, department: str | None, status: str, received: datetime, **fields) -> WorkOrder:
    return WorkOrder(id=ident, request_id=f"r-{ident}", source="hotline", service_code=service, department=department,
                     status=status, district=fields.pop("district", "West"), lon=24.94, lat=60.17,
                     requested_at=received, received_at=received, created_by="test", updated_at=received, **fields)


def fact(order_id: int, at: datetime, kind: str, service: str, department: str | None, **detail) -> WorkOrderEvent:
    return WorkOrderEvent(order_id=order_id, at=at, kind=kind, actor="test", message=kind, service_code=service,
                          department=department, district="West", detail=detail or None)


@pytest.fixture
def request_records(db):
    r = T(10, 6)  # every order below was received at 06:00 UTC on the 10th (08:00 in Helsinki)
    add(db,
        # 1: answered 1 h after receipt, due at 2 h: on time; closed after 10 h; satisfied
        order(1, "pothole", "roads", "closed", r, accepted_at=r + timedelta(hours=1),
              response_due_at=r + timedelta(hours=2), closed_at=r + timedelta(hours=10), satisfaction="satisfied"),
        # 2: answered at 3 h, due at 2 h: late; one transfer; closed after 5 h; basically satisfied; its
        #    resolution clock went overdue at 4 h
        order(2, "pothole", "roads", "closed", r, accepted_at=r + timedelta(hours=3),
              response_due_at=r + timedelta(hours=2), closed_at=r + timedelta(hours=5), transfer_count=1,
              satisfaction="basically_satisfied"),
        fact(2, r + timedelta(hours=4), "overdue", "pothole", "roads", phase="resolution"),
        # 3: never answered, its response clock found overdue at 3 h: late; two transfers
        order(3, "streetlight", "power", "assigned", r, response_due_at=r + timedelta(hours=2), transfer_count=2),
        fact(3, r + timedelta(hours=3), "overdue", "streetlight", "power", phase="response"),
        # 4: not answered yet and not overdue: its response is still running (not counted in the rate)
        order(4, "streetlight", "power", "received", r, response_due_at=r + timedelta(days=2)),
        # 5: a duplicate merged into 1 (left out, except its citizen's rating)
        order(5, "pothole", "roads", "merged", r, merged_into=1, satisfaction="satisfied"),
        # 6: a drill (left out everywhere)
        order(6, "pothole", "roads", "closed", r, accepted_at=r, closed_at=r + timedelta(hours=1), drill="d",
              satisfaction="dissatisfied"),
        fact(6, r + timedelta(hours=1), "overdue", "pothole", "roads", phase="response"),
        # 7: answered at 4 h, after its response clock went overdue at 2 h 1 min, then reopened: its fresh
        #    response_due_at (2 days) no longer shows the first limit, the overdue fact does: late; dissatisfied
        order(7, "graffiti", "roads", "reopened", r, accepted_at=r + timedelta(hours=4),
              response_due_at=r + timedelta(days=2), reopen_count=1, satisfaction="dissatisfied"),
        fact(7, r + timedelta(hours=2, minutes=1), "overdue", "graffiti", "roads", phase="response"),
        # 8: received the day before (outside the scope)
        order(8, "pothole", "roads", "received", T(9, 6), transfer_count=5))


def test_12345_rates_count_the_periods_requests_per_service_and_department(db, city, request_records):
    day = local_day(10)
    # response: settled 1 (on time), 2, 3, 7 (late); 4 still running -> 1 of 4 = 25 %
    response = kpi(db, city, "service.response_rate", day)
    assert response.value == 25.0
    assert response.detail["by_service"]["pothole"] == {"value": 50.0, "count": 2}
    assert response.detail["by_service"]["streetlight"] == {"value": 0.0, "count": 2}  # 3 late, 4 running
    assert response.detail["by_department"]["roads"]["value"] == pytest.approx(100 / 3)  # 1 of 1, 2, 7
    assert {r["id"] for r in response.detail["records"]} == {1, 2, 3, 4, 7}
    # resolution: 1 and 2 closed of 1, 2, 3, 4, 7 -> 40 %
    assert kpi(db, city, "service.resolution_rate", day).value == 40.0
    # satisfaction: rated 1 (satisfied), 2 (basically), 5 (satisfied, merged), 7 (dissatisfied) -> 3 of 4
    assert kpi(db, city, "service.satisfaction_rate", day).value == 75.0
    # transfers: (0 + 1 + 2 + 0 + 0) / 5 orders = 0.6
    transfers = kpi(db, city, "service.transfers_per_order", day)
    assert transfers.value == pytest.approx(0.6)
    assert transfers.detail["by_department"]["power"] == {"value": 1.0, "count": 2}
    # time to close: 10 h and 5 h -> median of an even count = mean of the two = 7.5 h
    assert kpi(db, city, "service.time_to_close_median", day).value == 7.5
    # overdue during the day: orders 2, 3 and 7 (the drill's 6 not) -> 3; roads 2 (2, 7), power 1
    overdue = kpi(db, city, "service.overdue_count", day)
    assert overdue.value == 3
    assert overdue.detail["by_department"] == {"power": {"value": 1, "count": 1}, "roads": {"value": 2, "count": 2}}
    # East received nothing and saw nothing overdue: no data, not 0
    for key in ("service.response_rate", "service.resolution_rate", "service.satisfaction_rate",
                "service.transfers_per_order", "service.time_to_close_median", "service.overdue_count"):
        assert kpi(db, city, key, local_day(10, district="East")).value is None, key


def test_overdue_count_is_zero_for_a_period_with_requests_none_overdue(db, city):
    add(db, order(1, "pothole", "roads", "received", T(12, 6)))
    measured = kpi(db, city, "service.overdue_count", local_day(12))
    assert (measured.value, measured.count) == (0.0, 0)


# ---------------------------------------------------------------- mobility

@pytest.fixture
def traffic_records(db):
    add(db,
        device("traffic-w", "TrafficFlowObserved", "West", interval_s=300, edge_ids=[1, 2], free_flow_kmh=40),
        device("traffic-e", "TrafficFlowObserved", "East", edge_ids=[3], free_flow_kmh=50),
        # on Tuesday 10 March (UTC+2) the peaks 07-09 and 16-18 are 05-07 and 14-16 UTC
        observation("traffic-w", "TrafficFlowObserved", T(10, 5, 30), averageVehicleSpeed=10.0),  # congested, TTI 4
        observation("traffic-w", "TrafficFlowObserved", T(10, 6, 30), averageVehicleSpeed=40.0),  # free flow, TTI 1
        observation("traffic-w", "TrafficFlowObserved", T(10, 12), averageVehicleSpeed=5.0),  # congested, off peak
        observation("traffic-e", "TrafficFlowObserved", T(10, 14, 30), averageVehicleSpeed=50.0),  # TTI 1
        observation("traffic-e", "TrafficFlowObserved", T(10, 15, 30), averageVehicleSpeed=25.0),  # TTI 2, not jammed
        observation("traffic-e", "TrafficFlowObserved", T(10, 15, 45), averageVehicleSpeed=2.0, drill="jam"),  # out
        # Friday 27 March (UTC+2): 04:30 UTC is 06:30 local, before the peak; Monday 30 March (UTC+3,
        # after the DST change): 04:30 UTC is 07:30 local, in the peak
        observation("traffic-w", "TrafficFlowObserved", T(27, 4, 30), averageVehicleSpeed=8.0),
        observation("traffic-w", "TrafficFlowObserved", T(30, 4, 30), averageVehicleSpeed=8.0))


def test_congested_share_and_travel_time_index_weigh_roads_by_length(db, city, traffic_records):
    day = local_day(10)
    # congested share in the peaks: Testikatu (1000 m) 1 of 2 = 50 %, Itäkatu (500 m) 0 of 2
    #   -> (1000 x 50 + 500 x 0) / 1500 = 33.33 %
    share = kpi(db, city, "mobility.peak_congested_share", day)
    assert share.value == pytest.approx(100 / 3)
    assert share.count == 4
    # travel time index in the peaks: Testikatu (4 + 1) / 2 = 2.5, Itäkatu (1 + 2) / 2 = 1.5
    #   -> (1000 x 2.5 + 500 x 1.5) / 1500 = 2.1667
    assert kpi(db, city, "mobility.travel_time_index", day).value == pytest.approx(3250 / 1500)
    assert kpi(db, city, "mobility.travel_time_index", local_day(10, district="East")).value == pytest.approx(1.5)
    # worst roads, all hours: Testikatu's 2 congested observations x 300 s = 600 s = 1/6 h; Itäkatu none
    worst = kpi(db, city, "mobility.worst_roads_congested_hours", day)
    assert worst.value == pytest.approx(1 / 6)
    assert [(r["device_id"], r["length_m"]) for r in worst.detail["worst_roads"]] == [("traffic-w", 1000.0)]


def test_peak_hours_follow_the_site_clock_across_the_dst_change(db, city, traffic_records):
    # the same UTC time, 04:30: 06:30 on Friday 27 March (no peak sample), 07:30 on Monday 30 March
    assert kpi(db, city, "mobility.peak_congested_share", local_day(27)).value is None
    assert kpi(db, city, "mobility.peak_congested_share", local_day(30)).value == 100.0
    # a Saturday has no peak hours at all: no data
    assert kpi(db, city, "mobility.travel_time_index", local_day(14)).value is None


def test_ten_worst_roads_keep_the_worst_and_sum_their_hours(db, city):
    add(db, *(device(f"t{n:02d}", "TrafficFlowObserved", "West", interval_s=3600, edge_ids=[1], free_flow_kmh=40)
              for n in range(12)))
    # sensor t<n> has n congested hourly observations: the ten worst are t11 .. t02, 11 + 10 + ... + 2 = 65 h
    add(db, *(observation(f"t{n:02d}", "TrafficFlowObserved", T(10, hour), averageVehicleSpeed=5.0)
              for n in range(12) for hour in range(n)))
    worst = kpi(db, city, "mobility.worst_roads_congested_hours", local_day(10))
    assert worst.value == 65.0
    assert [r["device_id"] for r in worst.detail["worst_roads"]] == [f"t{n:02d}" for n in range(11, 1, -1)]


# ---------------------------------------------------------------- environment

@pytest.fixture
def air_records(db):
    add(db,
        device("air-1", "AirQualityObserved", "West"), device("air-2", "AirQualityObserved", "West"),
        # 10 March: air-1 at 08 h: pm25 10, 20, 30 (mean 20), pm10 20, 40, 30 (30), no2 30, 50, 40 (40)
        observation("air-1", "AirQualityObserved", T(10, 8, 10), pm25=10.0, pm10=20.0, no2=30.0),
        observation("air-1", "AirQualityObserved", T(10, 8, 40), pm25=20.0, pm10=40.0, no2=50.0),
        observation("air-1", "AirQualityObserved", T(10, 8, 50), pm25=30.0, pm10=30.0, no2=40.0),
        # air-2 at 09 h: pm25 40, pm10 60, no2 20; at 10 h pm25 100 (US EPA 174: Unhealthy)
        observation("air-2", "AirQualityObserved", T(10, 9), pm25=40.0, pm10=60.0, no2=20.0),
        observation("air-2", "AirQualityObserved", T(10, 10), pm25=100.0),
        # a drill's smog on air-1 (left out of every value)
        observation("air-1", "AirQualityObserved", T(10, 11), pm25=500.0, pm10=900.0, no2=900.0, drill="smog"),
        # 11 March: clean air
        observation("air-1", "AirQualityObserved", T(11, 8), pm25=5.0, pm10=10.0, no2=10.0))


def test_pollutant_means_average_the_stations_means(db, city, air_records):
    day = local_day(10)
    # PM2.5: air-1 20, air-2 (40 + 100) / 2 = 70 -> (20 + 70) / 2 = 45 (the readings' mean would be 200 / 5 = 40)
    pm25 = kpi(db, city, "environment.pm25_mean", day)
    assert pm25.value == 45.0 and pm25.count == 5
    assert pm25.detail["by_station"] == {"air-1": 20.0, "air-2": 70.0}
    # PM10: air-1 30, air-2 60 -> 45 (the readings' mean would be 37.5); NO2: 40, 20 -> 30
    assert kpi(db, city, "environment.pm10_mean", day).value == 45.0
    assert kpi(db, city, "environment.no2_mean", day).value == 30.0
    # East has no air station: no data
    for key in ("environment.pm25_mean", "environment.good_air_days", "environment.unhealthy_hours"):
        assert kpi(db, city, key, local_day(10, district="East")).value is None, key


def test_air_quality_days_and_unhealthy_hours_follow_the_standard(db, city, air_records):
    two_days = local_day(10, days=2)
    # unhealthy hours (US EPA, level 4 from AQI 151): only air-2's 10 h (PM2.5 100 -> 174) -> 1 hour
    unhealthy = kpi(db, city, "environment.unhealthy_hours", two_days, standard="us-epa-2024")
    assert unhealthy.value == 1.0
    assert unhealthy.detail["by_station"] == {"air-2": 1}
    # 10 March: air-1 daily PM2.5 20, air-2 (40 + 100) / 2 = 70 -> the city's day 45; PM10 (30 + 60) / 2 = 45,
    #   NO2 (40 + 20) / 2 = 30. US EPA: PM2.5 45 is in 35.5-55.4, level 3 (USG): not good.
    #   China HJ 633: PM2.5 45 in 35-75 is 良 (level 2), PM10 45 优, NO2 30 优: good.
    # 11 March: PM2.5 5, PM10 10, NO2 10: good in both.
    epa = kpi(db, city, "environment.good_air_days", two_days, standard="us-epa-2024")
    assert (epa.value, epa.count) == (50.0, 2)
    assert epa.detail["days"] == {"2026-03-10": 3, "2026-03-11": 1}
    assert kpi(db, city, "environment.good_air_days", two_days, standard="cn-hj633-2012").value == 100.0
    # HJ 633's unhealthy level (中度污染, 151+) is PM2.5 above 115: none of these hours
    assert kpi(db, city, "environment.unhealthy_hours", two_days, standard="cn-hj633-2012").value == 0.0


# ---------------------------------------------------------------- flood resilience

def test_station_hours_above_alert_count_each_stations_clock_hours(db, city):
    add(db,
        device("flood-1", "FloodMonitoring", "East", interval_s=30, alert_level=1.2),
        device("water-2", "WaterObserved", "West", interval_s=30, alert_level=1.0),
        # flood-1: 08 h reaches 1.25 and 1.3 (one hour), 09 h stays below, 10 h is exactly at 1.2 -> 2 hours
        observation("flood-1", "FloodMonitoring", T(10, 8, 10), currentLevel=1.1),
        observation("flood-1", "FloodMonitoring", T(10, 8, 20), currentLevel=1.25),
        observation("flood-1", "FloodMonitoring", T(10, 8, 50), currentLevel=1.3),
        observation("flood-1", "FloodMonitoring", T(10, 9, 5), currentLevel=1.19),
        observation("flood-1", "FloodMonitoring", T(10, 10), currentLevel=1.2),
        observation("flood-1", "FloodMonitoring", T(10, 12), currentLevel=3.0, drill="storm-surge"),  # left out
        # water-2: 0.9 is below its registered 1.0 but above the 0.8 its reading reports -> 1 hour
        observation("water-2", "WaterObserved", T(10, 8), height=0.9, alertLevel=0.8))
    measured = kpi(db, city, "flood.station_hours_above_alert", local_day(10))
    assert measured.value == 3.0
    assert measured.detail["by_station"] == {"flood-1": 2, "water-2": 1}
    assert kpi(db, city, "flood.station_hours_above_alert", local_day(10, district="East")).value == 2.0
    assert kpi(db, city, "flood.station_hours_above_alert", local_day(10, district="Harbour")).value is None
    assert kpi(db, city, "flood.station_hours_above_alert", local_day(11)).value is None


@pytest.mark.parametrize("day, month, hours", [(29, 3, 23), (25, 10, 25), (10, 3, 24)])
def test_station_hours_of_a_dst_day_are_its_23_or_25_hours(db, city, day, month, hours):
    scope = local_day(day, month)
    add(db, device("flood-1", "FloodMonitoring", "East", interval_s=1800, alert_level=1.2))
    # a reading above the alert level every 30 minutes of the site's day (and one just after it)
    moments = [scope.start + timedelta(minutes=30 * n) for n in range(2 * hours + 1)]
    add(db, *(observation("flood-1", "FloodMonitoring", at, currentLevel=1.5) for at in moments))
    assert kpi(db, city, "flood.station_hours_above_alert", scope).value == hours


# ---------------------------------------------------------------- alarms

def alarm(ident: int, severity: str, district: str, raised: datetime, acked: datetime | None = None,
          rule: str = "air-unhealthy", started: datetime | None = None, drill: str | None = None) -> Alarm:
    return Alarm(id=ident, rule_id=rule, rule_name=rule, device_id=f"dev-{ident}", district=district,
                 category="environment", sub_category="x", severity=severity, base_severity=severity,
                 started_at=started or raised, raised_at=raised, last_raised_at=raised, acknowledged_at=acked,
                 acknowledged=acked is not None, updated_at=raised, drill=drill)


def escalation(alarm_id: int, at: datetime) -> AlarmEvent:
    return AlarmEvent(alarm_id=alarm_id, at=at, kind="escalated", actor="system")


@pytest.fixture
def alarm_records(db):
    add(db,
        # 1: water alert, the level crossed at 07:58, raised 08:00, acknowledged 08:02 (120 s; 240 s from the crossing)
        alarm(1, "high", "West", T(10, 8), T(10, 8, 2), rule="water-alert", started=T(10, 7, 58)),
        # 2: critical, escalated 09:05 and again 09:12, acknowledged 09:10 (600 s): after its first escalation
        alarm(2, "critical", "West", T(10, 9), T(10, 9, 10)),
        # 3: escalated 10:15, never acknowledged; 4: a drill; 5: medium, acknowledged in 30 s
        alarm(3, "high", "East", T(10, 10)), alarm(4, "high", "East", T(10, 10), T(10, 10, 0, 30), drill="d"),
        alarm(5, "medium", "East", T(10, 11), T(10, 11, 0, 30)),
        # 6: still waiting, neither acknowledged nor escalated
        alarm(6, "high", "West", T(10, 12)))
    add(db, escalation(2, T(10, 9, 5)), escalation(2, T(10, 9, 12)), escalation(3, T(10, 10, 15)))


def test_alarm_acknowledgement_times_by_severity_and_before_escalation(db, city, alarm_records):
    day = local_day(10)
    # acknowledged: 120, 600, 30 -> p90 = rank 3 = 600; 3 and 6 not acknowledged
    ack = kpi(db, city, "operations.alarm_ack_p90", day)
    assert (ack.value, ack.count) == (600, 3)
    assert ack.detail["unacknowledged"] == 2
    assert ack.detail["by_severity"] == {"critical": {"value": 600, "count": 1}, "high": {"value": 120, "count": 1},
                                         "medium": {"value": 30, "count": 1}}
    assert kpi(db, city, "operations.alarm_ack_critical_p90", day).value == 600
    assert kpi(db, city, "operations.alarm_ack_high_p90", day).value == 120
    # water alert from the crossing: 08:02 - 07:58 = 240 s, within the 660 s objective
    flood = kpi(db, city, "flood.alert_to_acknowledge_p90", day)
    assert (flood.value, flood.share_meeting) == (240, 1.0)
    # before escalation: settled 1 (yes), 2 (acknowledged after its first escalation), 3 (escalated), 5 (yes)
    #   -> 2 of 4 = 50 %; 6 still waits
    before = kpi(db, city, "operations.ack_before_escalation", day)
    assert (before.value, before.count) == (50.0, 4)
    assert kpi(db, city, "operations.ack_before_escalation", local_day(10, district="East")).value == 50.0
    assert kpi(db, city, "operations.alarm_ack_p90", local_day(11)).value is None


# ---------------------------------------------------------------- sensors

def test_sensor_availability_expects_23_hours_of_reports_on_the_spring_dst_day(db, city):
    day = local_day(29)  # 23 hours
    assert day.end - day.start == timedelta(hours=23)
    add(db,
        device("air-1", "AirQualityObserved", "West", interval_s=60),  # expects 23 x 60 = 1380
        device("flood-1", "FloodMonitoring", "East", interval_s=30),  # expects 2760
        device("traffic-w", "TrafficFlowObserved", "West", interval_s=60),  # expects 1380
        device("amb-1", "Vehicle", None, interval_s=5),  # a vehicle is not a sensor
        device("stray", "AirQualityObserved", "West", registered=False))  # nor an unregistered device
    minute = [day.start + timedelta(seconds=60 * n) for n in range(1380)]
    half_minute = [day.start + timedelta(seconds=30 * n) for n in range(2760)]
    add(db, *(observation("air-1", "AirQualityObserved", at, pm25=1.0) for at in minute),
        *(observation("flood-1", "FloodMonitoring", at, currentLevel=0.1) for at in minute),  # half its reports
        # traffic-w reports twice as often as registered: counted up to its 1380
        *(observation("traffic-w", "TrafficFlowObserved", at, averageVehicleSpeed=30.0) for at in half_minute),
        *(observation("stray", "AirQualityObserved", at, pm25=1.0) for at in minute[:10]))
    # (1380 + 1380 + 1380) / (1380 + 2760 + 1380) = 4140 / 5520 = 75 % (a 24-hour day would give 71.875 %)
    measured = kpi(db, city, "operations.sensor_availability", day)
    assert measured.value == 75.0
    assert measured.detail["expected"] == 5520
    assert measured.detail["by_sensor"] == {"air-1": 100.0, "flood-1": 50.0, "traffic-w": 100.0}
    assert kpi(db, city, "operations.sensor_availability", local_day(29, district="East")).value == 50.0
    assert kpi(db, city, "operations.sensor_availability", local_day(29, district="Harbour")).value is None


def test_sensor_availability_expects_one_report_an_hour_in_the_demos_played_past(db, city):
    """The demo plays its past with every sensor reporting once an hour (services/simulator/history.py, audited
    with its window): there, an hourly sensor is not 59 sixtieths absent."""
    from services.simulator.history import FINISHED, HISTORY_ACTOR

    day = local_day(10)
    played_until = day.start + timedelta(hours=12)
    add(db, device("air-1", "AirQualityObserved", "West", interval_s=60),
        device("flood-1", "FloodMonitoring", "East", interval_s=60),
        AuditEntry(at=played_until, actor=HISTORY_ACTOR, action=FINISHED, target="city:Tiny", before=None,
                   after={"from": (day.start - timedelta(days=3)).isoformat(), "to": played_until.isoformat(),
                          "every": "PT1H"}))
    hourly = [day.start + timedelta(hours=n) for n in range(12)]
    minute = [played_until + timedelta(minutes=n) for n in range(720)]
    add(db, *(observation("air-1", "AirQualityObserved", at, pm25=1.0) for at in hourly + minute),
        *(observation("flood-1", "FloodMonitoring", at, currentLevel=0.1) for at in hourly[:6] + minute))
    # expected of each: 12 hourly reports in the played half, 720 in the live half; flood-1 missed 6 hours
    measured = kpi(db, city, "operations.sensor_availability", day)
    assert measured.detail["expected"] == 2 * 732
    assert measured.detail["by_sensor"] == {"air-1": 100.0, "flood-1": pytest.approx(100 * 726 / 732)}
    # a live-only day keeps the sensor's own interval
    add(db, *(observation("air-1", "AirQualityObserved", day.end + timedelta(hours=n), pm25=1.0) for n in range(24)))
    assert kpi(db, city, "operations.sensor_availability", local_day(11)).detail["by_sensor"]["air-1"] == \
        pytest.approx(100 * 24 / 1440)


def test_sensor_availability_expects_the_report_of_the_played_pasts_last_part_hour(db, city):
    """The play ends on the minute where the live back-fill begins (no hour without a reading between the two);
    its last, part hour has its report, made at the hour, and the live minutes after it their own interval."""
    from services.simulator.history import FINISHED, HISTORY_ACTOR

    day = local_day(10)
    played_until = day.start + timedelta(hours=12, minutes=40)
    add(db, device("air-1", "AirQualityObserved", "West", interval_s=60),
        device("flood-1", "FloodMonitoring", "East", interval_s=60),
        AuditEntry(at=played_until, actor=HISTORY_ACTOR, action=FINISHED, target="city:Tiny", before=None,
                   after={"from": (day.start - timedelta(days=3)).isoformat(), "to": played_until.isoformat(),
                          "every": "PT1H"}))
    hourly = [day.start + timedelta(hours=n) for n in range(13)]  # 00:00 ... 12:00
    live = [played_until + timedelta(minutes=n) for n in range(680)]  # 12:40 ... 23:59
    add(db, *(observation("air-1", "AirQualityObserved", at, pm25=1.0) for at in hourly + live),
        *(observation("flood-1", "FloodMonitoring", at, currentLevel=0.1) for at in hourly[:12] + live))
    # expected of each: 13 hourly reports (12 h 40 min played) and 680 live ones; flood-1 missed 12:00's
    measured = kpi(db, city, "operations.sensor_availability", day)
    assert measured.detail["expected"] == 2 * 693
    assert measured.detail["by_sensor"] == {"air-1": 100.0, "flood-1": pytest.approx(100 * 692 / 693)}


def test_monitoring_coverage_of_major_roads_and_districts(db, city):
    add(db,
        device("traffic-w", "TrafficFlowObserved", "West", edge_ids=[1, 2], free_flow_kmh=40),
        device("traffic-e", "TrafficFlowObserved", "East", edge_ids=[3], free_flow_kmh=50),
        device("air-1", "AirQualityObserved", "West"),
        observation("traffic-w", "TrafficFlowObserved", T(10, 8), averageVehicleSpeed=30.0),
        observation("air-1", "AirQualityObserved", T(10, 8), pm25=3.0),
        observation("traffic-e", "TrafficFlowObserved", T(11, 8), averageVehicleSpeed=30.0))  # not on the 10th
    day = local_day(10)
    # major roads: Testikatu 2 x 500 (West), Itäkatu 500 (East), Satamatie 400 (Harbour); the residential
    # street is not one. Reported on the 10th: traffic-w (Testikatu) -> 1000 / 1900 = 52.6 %
    coverage = kpi(db, city, "operations.road_coverage", day)
    assert coverage.value == pytest.approx(100 * 1000 / 1900)
    assert kpi(db, city, "operations.road_coverage", local_day(10, district="West")).value == 100.0
    # East's sensor was silent that day: its roads were not watched (a real 0); on the 11th they were
    assert kpi(db, city, "operations.road_coverage", local_day(10, district="East")).value == 0.0
    assert kpi(db, city, "operations.road_coverage", local_day(11, district="East")).value == 100.0
    # districts with an air station that reported: West of West, East, Harbour -> 33.3 %
    districts = kpi(db, city, "operations.air_station_districts", day)
    assert districts.value == pytest.approx(100 / 3)
    assert districts.detail["without_station"] == ["East", "Harbour"]


# ---------------------------------------------------------------- no data is None, never 0

def test_every_kpi_of_an_empty_period_has_no_value(db, city, response_records, request_records, alarm_records):
    # records exist on the 10th; the 20th has none of anything (no sensor registered either)
    empty = local_day(20)
    for key in CATALOGUE:
        measured = kpi(db, city, key, empty)
        assert measured.value is None, f"{key}: {measured.value}"


# ---------------------------------------------------------------- a long period from its days' scans

NOT_COMBINED = ("mobility.peak_congested_share", "mobility.travel_time_index", "mobility.worst_roads_congested_hours",
                "environment.pm25_mean", "operations.sensor_availability")


def _stored_week(engine, week: Scope) -> dict[str, float | None]:
    with engine.connect() as connection:
        return dict(connection.execute(select(KpiRollup.kpi, KpiRollup.value).where(
            KpiRollup.period == "week", KpiRollup.start == week.start, KpiRollup.district == "city")).all())


def test_a_week_of_the_kpis_that_do_not_combine_adds_up_its_days_stored_scans(db, city, traffic_records, air_records,
                                                                              tmp_path):
    """The stations' sums, the roads' flows and the sensors' reports are scans of raw rows that add up over days
    (services/kpis/scans.py): the roll-up keeps each complete day's and reads a week from them, with the values
    one read of the week gives, until a late reading marks its day dirty."""
    path = tmp_path / "kpis.yaml"
    path.write_text(yaml.safe_dump({"kpis": [CATALOGUE[key] for key in NOT_COMBINED]}, allow_unicode=True))
    catalogue = load_catalogue(path)
    ctx = RollupContext(db, city, lambda: catalogue, "Europe/Helsinki")
    week, now = local_day(9, days=7), T(20, 12)  # Monday 9 to Sunday 15 March, long over
    live = {key: kpi(db, city, key, week).value for key in NOT_COMBINED}  # one read of the week
    assert all(value is not None for value in live.values()), live

    rollup_range(ctx, week.start, week.end, now, periods=("day",))  # the days, each scan kept
    with db.connect() as connection:
        kept = connection.execute(select(KpiDayScan.scan, func.count()).where(
            KpiDayScan.start >= week.start, KpiDayScan.start < week.end).group_by(KpiDayScan.scan)).all()
    # (the availability of a day in which nothing was observed is no data, read from no scan: only the 10th's
    # and the 11th's reports are kept; the week reads the other days' and keeps them)
    assert dict(kept) == {"air sums pm25": 7, "traffic flows below 0.5 peak 07:00-09:00,16:00-18:00": 7,
                          "reports received": 2}

    # a late reading the roll-up has not seen yet: the week added up from the stored days does not know it
    add(db, observation("air-2", "AirQualityObserved", T(10, 13), pm25=310.0),
        observation("traffic-e", "TrafficFlowObserved", T(10, 14, 40), averageVehicleSpeed=5.0))
    rollup_range(ctx, week.start, week.end, now, periods=("week",))
    assert _stored_week(db, week) == pytest.approx(live)

    # once it is seen, its day is dirty: read again, and the week has the values one read of it gives now
    mark_changes(ctx, now)
    rollup_range(ctx, week.start, week.end, now, periods=("week",))
    after = {key: kpi(db, city, key, week).value for key in NOT_COMBINED}
    assert after["environment.pm25_mean"] != live["environment.pm25_mean"]
    assert after["mobility.peak_congested_share"] != live["mobility.peak_congested_share"]
    assert _stored_week(db, week) == pytest.approx(after)
