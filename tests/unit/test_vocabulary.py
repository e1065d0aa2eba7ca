"""The one vocabulary: words for codes, labels and units, durations and dates, colours (services/vocabulary.py)."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from types import SimpleNamespace

from services.config import PROJECT_ROOT
from services.vocabulary import (
    PRIORITY_COLOURS,
    alarm_value,
    attribute,
    css_variables,
    duration,
    for_javascript,
    incident_kind,
    site_time,
    values_summary,
    words,
)

NOW = datetime(2026, 12, 1, 21, 38, 5, tzinfo=timezone.utc)


def test_a_duration_reads_in_at_most_two_units_in_one_format():
    assert [duration(s) for s in (0, 45, 245, 900, 4320, 3 * 86400 + 4 * 3600, 86400)] == [
        "0 s", "45 s", "4 min 05 s", "15 min", "1 h 12 min", "3 d 04 h", "1 d"]
    assert duration(64.9) == "1 min 04 s"  # whole seconds, never rounded up into the next
    assert duration(-3) == "0 s" and duration(None) == "—"


def test_a_time_is_shown_iso_like_in_the_site_time_zone():
    assert site_time(NOW, "Europe/Helsinki") == "2026-12-01 23:38"
    assert site_time(NOW, "Europe/Helsinki", seconds=True) == "2026-12-01 23:38:05"
    assert site_time(NOW, "UTC") == "2026-12-01 21:38"
    assert site_time(None, "UTC") == "never"


def test_codes_read_as_words():
    assert words("breathingProblems") == "Breathing problems"
    assert words("onRoute") == "On route"
    assert words("out_of_service") == "Out of service"
    assert words("pm25") == "PM2.5"
    assert incident_kind("health", "breathingProblems") == "Breathing problems"
    assert incident_kind("fire", "other") == "Fire (other)"
    assert incident_kind("naturalDisaster", None) == "Natural disaster"


def test_every_attribute_is_shown_with_its_label_and_unit():
    assert attribute("averageVehicleSpeed", 35.5) == "Average speed 35.5 km/h"
    assert attribute("occupancy", 0.62) == "Occupancy 62 %"  # stored as a ratio, shown as a percentage
    assert attribute("currentLevel", 1.2) == "Water level 1.20 m"
    assert attribute("intensity", 12.0) == "Vehicles 12"
    assert attribute("pm25", 8.04) == "PM2.5 8 µg/m³"
    assert values_summary({"averageVehicleSpeed": 35.5, "intensity": 12, "congested": True}) == \
        "Average speed 35.5 km/h, Vehicles 12"


def test_alarm_values_are_in_their_own_units_not_bare_ratios():
    assert alarm_value("averageVehicleSpeed/free_flow_kmh", 0.11, 0.3) == "11 % of free flow (limit 30 %)"
    assert alarm_value("water_level", 1.3212, 1.2) == "1.32 m (limit 1.20 m)"
    assert alarm_value("precipitation", 32.1, 30) == "32.1 mm/h (limit 30 mm/h)"
    assert alarm_value("silent_s", 725, 180) == "silent 12 min 05 s (limit 3 min)"
    assert alarm_value("aqi_level", 4, 4) == "AQI band 4 (limit 4)"
    assert alarm_value("water_level", None) == "—"


def test_a_traffic_jam_alarm_keeps_that_its_value_is_a_share_of_free_flow():
    from services.rules import alarm_metric, parse_rules

    rules = parse_rules((PROJECT_ROOT / "config" / "rules.yaml").read_text()).by_id
    assert alarm_metric(rules["traffic-jam"]) == "averageVehicleSpeed/free_flow_kmh"
    assert alarm_metric(rules["water-alert"]) == "water_level"


def test_one_priority_colour_table_serves_the_console_the_map_and_the_browser():
    from components.dispatch_map import legend
    from services.dispatch_layers import incident_feature

    incident = SimpleNamespace(id=1, lon=24.94, lat=60.17, label="#1", updated_at=NOW, category="health",
                               sub_category=None, priority=1, severity="critical", status="new", created_at=NOW,
                               status_since=NOW, escalated=False, unit_id=None, description=None, address=None)
    assert incident_feature(incident)["properties"]["colour"] == PRIORITY_COLOURS[1]
    assert for_javascript()["priorityColours"]["1"] == PRIORITY_COLOURS[1]
    assert css_variables()["--prio-1"] == PRIORITY_COLOURS[1]
    assert PRIORITY_COLOURS[1] in str(legend())
    # the browser's code and stylesheets take the colours from the vocabulary, never a table of their own
    for asset in ("map.js", "dispatch.js", "dispatch.css"):
        text = (PROJECT_ROOT / "assets" / asset).read_text().lower()
        assert not [colour for colour in PRIORITY_COLOURS.values() if colour in text], asset
        assert not re.search(r"\bpriority\s*=\s*\{", text), asset
