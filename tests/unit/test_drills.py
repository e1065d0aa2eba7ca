"""Drills played by the simulator (Helsinki, seed 42): what they do to the readings, their calls,
their marker, their end; the control message; the ingest's parser keeping the marker; the CLI."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

import manage
from services.city import load_city
from services.config import CITIES_DIR
from services.drills import start_message
from services.simulator import CitySimulator
from services.simulator.drills import DRILLS, UnknownDrill, read_control
from services.telemetry import ParseContext, parse_message

START = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def helsinki():
    return load_city(CITIES_DIR / "helsinki")


def _plain(body: dict) -> dict:
    """Key-values form, whichever form the device sent (one sends NGSI-LD normalized)."""
    plain = {k: v.get("value") if isinstance(v, dict) and "value" in v else v for k, v in body.items()}
    return {k: v.get("@value") if isinstance(v, dict) and "@value" in v else v for k, v in plain.items()}


def _run(city, drill: str | None, minutes: float = 40) -> tuple[CitySimulator, list[dict]]:
    sim = CitySimulator(city, seed=42, start=START)
    sim.advance(START + timedelta(minutes=5))
    if drill:
        sim.start_drill(drill)
    return sim, [_plain(m.json()) | {"_topic": m.topic} for m in sim.advance(START + timedelta(minutes=minutes))]


def test_storm_drill_lifts_every_water_gauge_past_danger_and_marks_what_it_touches(helsinki):
    _, bodies = _run(helsinki, "storm")
    floods = [b for b in bodies if b["type"] == "FloodMonitoring"]
    late = [b for b in floods if b["observationDateTime"] >= "2026-11-23T06:25:00Z"]
    assert late and all(float(b["currentLevel"]) > float(b["dangerLevel"]) and b["floodLevelStatus"] == "Danger"
                        for b in late)
    assert all(b.get("drill") == "storm" for b in floods)
    rain = [float(b["precipitation"]) for b in bodies if b["type"] == "WeatherObserved"
            and b["dateObserved" if "dateObserved" in b else "observationDateTime"] >= "2026-11-23T06:25:00Z"]
    assert rain and min(rain) >= 55
    assert not any("drill" in b for b in bodies if b["type"] in ("Vehicle", "TrafficFlowObserved"))
    calls = [b for b in bodies if b["type"] == "Open311ServiceRequest" and b.get("drill") == "storm"]
    assert [c["service_code"] for c in calls] == ["flooding", "DRN"]


def test_without_a_drill_nothing_is_marked_and_no_gauge_reaches_danger(helsinki):
    _, bodies = _run(helsinki, None)
    assert not any("drill" in b for b in bodies)
    assert not any(b["floodLevelStatus"] == "Danger" for b in bodies if b["type"] == "FloodMonitoring")


@pytest.mark.parametrize("name, entity_type, attribute, direction", [
    ("rush-hour-crash", "TrafficFlowObserved", "averageVehicleSpeed", -1),
    ("mass-casualty", "TrafficFlowObserved", "averageVehicleSpeed", -1),
    ("pollution", "AirQualityObserved", "pm25", +1),
])
def test_each_drill_moves_its_readings_the_way_its_scenario_says(helsinki, name, entity_type, attribute, direction):
    _, quiet = _run(helsinki, None)
    _, drilled = _run(helsinki, name)
    key = lambda b: (b["_topic"], b["id"], str(b.get("dateObserved")))  # noqa: E731
    normal = {key(b): float(b[attribute]) for b in quiet if b["type"] == entity_type}
    marked = [b for b in drilled if b["type"] == entity_type and b.get("drill") == name]
    assert marked
    moved = [direction * (float(b[attribute]) - normal[key(b)]) for b in marked
             if str(b.get("dateObserved")) >= "2026-11-23T06:25"]
    assert moved and min(moved) >= 0 and max(moved) > 10


@pytest.mark.parametrize("name, callers", [("rush-hour-crash", 4), ("mass-casualty", 5)])
def test_accident_drills_call_for_several_units_at_one_scene(helsinki, name, callers):
    _, bodies = _run(helsinki, name)
    calls = [b for b in bodies if b["type"] == "Open311ServiceRequest" and b.get("drill") == name]
    assert len(calls) == callers and len({c["service_request_id"] for c in calls}) == callers
    assert all(c["description"].startswith("DRILL ") for c in calls)
    lons = [c["location"]["coordinates"][0] for c in calls]
    assert max(lons) - min(lons) < 0.001  # one scene


def test_a_stopped_drill_touches_nothing_more(helsinki):
    sim, _ = _run(helsinki, "storm", minutes=20)
    sim.stop_drill()
    later = [_plain(m.json()) for m in sim.advance(START + timedelta(minutes=30))]
    assert not any("drill" in b for b in later)


def test_a_drill_ends_by_itself_after_its_length(helsinki):
    sim = CitySimulator(helsinki, seed=42, start=START)
    sim.start_drill("pollution")
    sim.advance(START + timedelta(minutes=DRILLS["pollution"].minutes))
    assert sim.drills.running is None


def test_an_unknown_drill_is_refused_with_the_known_names(helsinki):
    sim = CitySimulator(helsinki, seed=42, start=START)
    with pytest.raises(UnknownDrill, match="storm"):
        sim.start_drill("earthquake")


def test_the_control_message_round_trips_and_an_empty_one_means_stop():
    body = start_message("storm", "cli:test", START)
    order = read_control(json.dumps(body).encode())
    assert (order.name, order.started_at, order.until) == ("storm", START, START + timedelta(minutes=60))
    assert read_control(b"") is None and read_control(b"{not json") is None and read_control(b"[]") is None


def test_the_ingest_keeps_the_drill_marker_of_a_reading_and_of_a_call():
    context = ParseContext(root="city")
    now = datetime.now(timezone.utc)
    reading = {"id": "urn:ngsi-ld:FloodMonitoring:flood-1", "type": "FloodMonitoring", "currentLevel": 2.5,
               "observationDateTime": "2026-11-23T06:00:00Z", "drill": "storm",
               "location": {"type": "Point", "coordinates": [24.94, 60.17]}}
    parsed = parse_message("city/telemetry/flood-1", json.dumps(reading).encode(), context, now)
    assert parsed.observations[0].values["drill"] == "storm"
    normalized = {key: value if key in ("id", "type") else
                  {"type": "GeoProperty" if key == "location" else "Property", "value": value}
                  for key, value in reading.items()}
    parsed = parse_message("city/telemetry/flood-1", json.dumps(normalized).encode(), context, now)
    assert parsed.observations[0].values["drill"] == "storm"
    call = {"service_request_id": "DRILL-storm-1", "service_code": "flooding", "drill": "storm",
            "lat": 60.17, "long": 24.94, "requested_datetime": "2026-11-23T06:00:00Z"}
    parsed = parse_message("city/reports", json.dumps(call).encode(), context, now)
    assert parsed.reports[0].drill == "storm"


def test_drill_list_names_every_scenario(capsys):
    manage.main(["drill", "list"])
    out = capsys.readouterr().out
    assert all(name in out for name in DRILLS) and "Storm with flooding" in out


def test_drill_start_of_an_unknown_name_fails_with_the_known_ones(capsys):
    with pytest.raises(SystemExit) as exit_info:
        manage.main(["drill", "start", "earthquake"])
    assert "storm" in str(exit_info.value.code)


def _rendered(component) -> str:
    from plotly.utils import PlotlyJSONEncoder

    return json.dumps(component, cls=PlotlyJSONEncoder)


def test_drill_incidents_and_alarms_show_a_drill_badge_and_real_ones_do_not():
    from types import SimpleNamespace

    from components.alarm_strip import _chip
    from components.dispatch_panels import queue_table
    from services.incidents import IncidentView

    now = datetime.now(timezone.utc)
    fields = dict(category="health", sub_category="injury", priority=3, status="new", source="citizen",
                  description=None, address="drill scene", district=None, lon=24.94, lat=60.17, unit_id=None,
                  escalated=False, escalation_reason=None, created_by="citizen-report", created_at=now, updated_at=now,
                  status_since=now, dispatched_at=None, on_scene_at=None, resolved_at=None, closed_at=None,
                  external_id=None, version=1)
    drill, real = IncidentView(id=1, drill="mass-casualty", **fields), IncidentView(id=2, **fields)
    assert _rendered(queue_table([drill], None, now)).count("DRILL") == 1
    assert "DRILL" not in _rendered(queue_table([real], None, now))

    alarm = SimpleNamespace(id=5, acknowledged=False, severity="critical", escalated=False, description="d",
                            rule_name="Water level at danger level", device_name="gauge", device_id="flood-1",
                            last_raised_at=now, repeat_count=0, drill="storm", metric="water_level", value=2.1)
    assert "DRILL" in _rendered(_chip(alarm, now))
    assert "DRILL" not in _rendered(_chip(SimpleNamespace(**{**vars(alarm), "drill": None}), now))
