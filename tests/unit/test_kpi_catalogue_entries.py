"""config/kpis.yaml: every entry is complete, in both languages, and names a registered measure; the
statistics the measures share state their method (nearest-rank percentiles)."""
from __future__ import annotations

import re

import pytest
import yaml

import services.kpis.measures  # noqa: F401  (registers every measure)
from services.config import PROJECT_ROOT
from services.kpis.measures.common import nearest_rank, statistic_of, summarize
from services.kpis.registry import MEASURES

ENTRIES = yaml.safe_load((PROJECT_ROOT / "config" / "kpis.yaml").read_text(encoding="utf-8"))["kpis"]
DIMENSIONS = {"emergency", "service", "mobility", "environment", "flood", "operations"}
SOURCES = {"observations", "incidents", "requests", "alarms", "devices"}
CHINESE = re.compile(r"[\u4e00-\u9fff]")

# issue 13 point 1, KPI by KPI
REQUIRED = {
    "emergency.call_processing_p90", "emergency.call_processing_mean", "emergency.turnout_p90",
    "emergency.turnout_mean", "emergency.travel_p90", "emergency.travel_mean", "emergency.total_response_p90",
    "emergency.total_response_mean",
    "service.response_rate", "service.resolution_rate", "service.satisfaction_rate", "service.overdue_count",
    "service.transfers_per_order", "service.time_to_close_median",
    "mobility.peak_congested_share", "mobility.travel_time_index", "mobility.worst_roads_congested_hours",
    "environment.pm25_mean", "environment.pm10_mean", "environment.no2_mean", "environment.good_air_days",
    "environment.unhealthy_hours",
    "flood.station_hours_above_alert", "flood.alert_to_acknowledge_p90",
    "operations.alarm_ack_p90", "operations.ack_before_escalation", "operations.sensor_availability",
    "operations.road_coverage", "operations.air_station_districts",
}


def test_catalogue_holds_every_kpi_of_the_issue_once():
    keys = [entry["key"] for entry in ENTRIES]
    assert len(keys) == len(set(keys))
    assert REQUIRED <= set(keys), sorted(REQUIRED - set(keys))


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda entry: entry["key"])
def test_every_entry_names_a_registered_measure_and_speaks_both_languages(entry):
    assert entry["measure"] in MEASURES
    assert entry["dimension"] in DIMENSIONS and entry["key"].startswith(entry["dimension"] + ".")
    assert entry["direction"] in ("lower", "higher")
    for text in ("label", "method"):
        assert entry[text]["en"].strip() and CHINESE.search(entry[text]["zh"]), text
    assert entry["unit"] and entry["standard"].strip()
    assert set(entry["sources"]) <= SOURCES and entry["sources"]
    assert isinstance(entry["params"], dict) and isinstance(entry["districts"], bool)
    assert entry["target"] is None or isinstance(entry["target"], (int, float))
    if str(entry["params"].get("statistic", "")).startswith("p"):
        assert "nearest rank" in entry["method"]["en"] and "最近秩" in entry["method"]["zh"]


def test_nfpa_objectives_are_the_default_targets_of_the_response_fractiles():
    by_key = {entry["key"]: entry for entry in ENTRIES}
    for key, seconds in (("emergency.call_processing_p90", 64), ("emergency.turnout_p90", 80),
                         ("emergency.travel_p90", 240), ("emergency.total_response_p90", 384)):
        assert by_key[key]["target"] == seconds == by_key[key]["params"]["objective_s"]
        assert "NFPA" in by_key[key]["standard"]


def test_percentiles_are_nearest_rank_samples_that_really_occurred():
    twenty = list(range(1, 21))
    assert nearest_rank(twenty, 90) == 18  # rank ceil(18.0); interpolation would give 18.1
    assert nearest_rank([30, 90, 40], 90) == 90  # rank ceil(2.7) = 3
    assert nearest_rank(list(range(1, 11)), 50) == 5
    assert nearest_rank([7], 90) == 7
    assert nearest_rank(list(range(1, 71)), 90) == 63
    assert statistic_of({"statistic": "median"})([1, 2, 3, 10]) == 2.5
    assert statistic_of({"statistic": "mean"})([1, 2, 3, 10]) == 4
    with pytest.raises(ValueError):
        statistic_of({"statistic": "p0"})


def test_share_meeting_counts_samples_at_the_objective_and_no_samples_is_no_value():
    measured = summarize([60, 64, 65, 200], {"statistic": "p90", "objective_s": 64}, [])
    assert (measured.value, measured.count, measured.share_meeting) == (200, 4, 0.5)
    empty = summarize([], {"statistic": "p90", "objective_s": 64}, [])
    assert (empty.value, empty.count, empty.share_meeting) == (None, 0, None)


def test_emergency_response_counts_the_emergency_services_calls_and_blocked_drains_are_scored_apart():
    """NFPA's and ISO 37120's objectives are about emergency calls: a road crew's blocked drain (an incident
    too) queued for days behind two crews in a storm would be the emergency KPIs' worst, so it has its own."""
    calls = ["health", "fire", "traffic", "security", "naturalDisaster"]
    assert all(entry["params"]["incidents"] == calls for entry in ENTRIES if entry["dimension"] == "emergency")
    drains = next(entry for entry in ENTRIES if entry["key"] == "flood.drain_response_p90")
    assert (drains["measure"], drains["params"]["incidents"]) == ("emergency.total_response",
                                                                  ["infrastructure/blockedDrain"])
