"""What the console, the alarm strip and the tables show: words, units, timers that say what they count."""
from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from plotly.utils import PlotlyJSONEncoder

from components.alarm_strip import _chip
from components.alarm_table import alarm_table
from components.dispatch_panels import incident_detail, queue_table, unit_board
from services.incidents import IncidentView

NOW = datetime(2026, 12, 1, 21, 38, 5, tzinfo=timezone.utc)


def rendered(component) -> str:
    return json.dumps(component, cls=PlotlyJSONEncoder, ensure_ascii=False)


def incident(**changes) -> IncidentView:
    fields = dict(id=7, category="health", sub_category="breathingProblems", priority=1, status="new",
                  source="operator", description=None, address="Mannerheimintie 5", district=None, lon=24.94,
                  lat=60.17, unit_id=None, escalated=False, escalation_reason=None, created_by="e2e-dispatcher",
                  created_at=NOW - timedelta(seconds=245), updated_at=NOW, status_since=NOW - timedelta(seconds=245),
                  dispatched_at=None, on_scene_at=None, resolved_at=None, closed_at=None, external_id=None, version=1)
    return IncidentView(**{**fields, **changes})


def alarm(**changes) -> SimpleNamespace:
    fields = dict(id=5, acknowledged=False, severity="medium", escalated=False, escalation_level=0,
                  description="Road below 30% of free-flow speed at …", rule_id="traffic-jam",
                  rule_name="Road below 30% of free-flow speed", device_name="Mannerheimintie northbound counter",
                  device_id="traffic-12", metric="averageVehicleSpeed/free_flow_kmh", value=0.11, threshold=0.3,
                  last_raised_at=NOW - timedelta(seconds=65), raised_at=NOW - timedelta(seconds=65), repeat_count=0,
                  drill=None, active=True, district="Kallio", assignee=None, incident_id=None)
    return SimpleNamespace(**{**fields, **changes})


def test_the_queue_shows_what_happened_in_words_and_timers_that_say_what_they_count():
    text = rendered(queue_table([incident()], None, NOW))
    assert "Breathing problems" in text and "breathingProblems" not in text
    assert "waiting 4 min 05 s" in text
    assert '"data-counts": "waiting"' in text  # assets/dispatch.js keeps the words while it ticks


def test_the_unit_board_names_what_the_vehicle_says_and_what_its_timer_counts():
    unit = SimpleNamespace(unit_id="amb-1", name="Ambulance 1", kind="ambulance", base_name="Base", status="on_scene",
                           status_since=NOW - timedelta(seconds=180), incident_id=7, speed_kmh=None,
                           service_status="onRoute")
    text = rendered(unit_board([unit], NOW))
    assert "On route" in text and "onRoute" not in text
    assert "on scene 3 min" in text


def test_a_resolved_incident_shows_how_long_each_step_took():
    handled = incident(status="closed", dispatched_at=NOW - timedelta(seconds=200),
                       on_scene_at=NOW - timedelta(seconds=20), resolved_at=NOW, closed_at=NOW)
    text = rendered(incident_detail(handled, [], [], None, NOW, "Europe/Helsinki"))
    for step, took in (("Call to dispatch", "45 s"), ("Dispatch to on scene", "3 min"),
                       ("On scene to resolved", "20 s"), ("Call to resolved", "4 min 05 s")):
        assert f'"{step}"' in text and f'"{took}"' in text, step
    assert replace(handled, dispatched_at=None).step_durations()[0][0] == "On scene to resolved"


def test_an_alarm_chip_names_its_device_and_its_value_in_its_unit():
    text = rendered(_chip(alarm(), NOW))
    assert "Mannerheimintie northbound counter" in text and "11 % of free flow" in text
    other = rendered(_chip(alarm(device_name="Kaivokatu eastbound counter", value=0.22), NOW))
    assert "Kaivokatu eastbound counter" in other and "22 % of free flow" in other


def test_the_alarm_table_shows_value_and_limit_in_their_units():
    text = rendered(alarm_table([alarm()], "Europe/Helsinki", NOW))
    assert "11 % of free flow (limit 30 %)" in text and "0.11 / 0.3" not in text
    assert "2026-12-01 23:37" in text
