"""Incident vocabulary: priorities and SDM severities, categories, Open311 mapping, input checks."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.commands import Refused
from services.incidents import (
    can_handle,
    input_from_report,
    read_incident_input,
    read_priority,
)
from services.telemetry import CitizenReportIn

IN_AREA = lambda lon, lat: 24.8 < lon < 25.1 and 60.1 < lat < 60.3


@pytest.mark.parametrize("raw, priority", [(1, 1), ("P2", 2), ("p3", 3), ("4", 4), ("critical", 1), ("high", 2),
                                           ("medium", 3), ("low", 4), ("informational", 4)])
def test_priority_reads_numbers_p_codes_and_sdm_severities(raw, priority):
    assert read_priority(raw) == priority


@pytest.mark.parametrize("raw", [0, 5, "P9", "urgent", True, None, 2.5])
def test_unknown_priority_is_refused(raw):
    with pytest.raises(Refused):
        read_priority(raw)


def test_capability_matches_category_or_category_and_sub_category():
    assert can_handle(["health", "traffic/carAccident"], "health", "heartAttack")
    assert can_handle(["health", "traffic/carAccident"], "traffic", "carAccident")
    assert not can_handle(["health", "traffic/carAccident"], "traffic", "trafficJam")
    assert can_handle(["security", "traffic"], "traffic", "trafficJam")
    assert not can_handle([], "fire", None)


def _report(code, name, description="x"):
    moment = datetime(2026, 11, 22, 8, tzinfo=UTC)
    return CitizenReportIn(external_id="r-9", service_code=code, service_name=name, description=description,
                           address="Aleksanterinkatu 1", lon=24.95, lat=60.17, status="open", requested_at=moment,
                           received_at=moment, time_from_receive=False)


@pytest.mark.parametrize("code, name, expected", [
    ("POT", "pothole", ("infrastructure", "pothole", 4)),
    ("DRN", "blocked drain", ("infrastructure", "blockedDrain", 3)),
    (None, "noise", ("security", "noise", 4)),
    ("234", "Aceras", ("infrastructure", "other", 4)),  # unknown service: P4, triaged by a dispatcher
])
def test_open311_service_maps_to_category_and_p3_p4(code, name, expected):
    data = input_from_report(_report(code, name))
    assert (data.category, data.sub_category, data.priority) == expected
    assert data.source == "citizen" and data.external_id == "open311:r-9"


def test_incident_input_accepts_geojson_or_lon_lat_and_names_the_bad_field():
    data = read_incident_input({"category": "fire", "subCategory": "buildingFire", "severity": "critical",
                                "location": {"type": "Point", "coordinates": [24.95, 60.17]}}, IN_AREA)
    assert (data.priority, data.lon, data.lat, data.source) == (1, 24.95, 60.17, "api")
    data = read_incident_input({"category": "naturalDisaster", "subCategory": "flood", "lon": "24.9", "lat": 60.2,
                                "source": "alarm"}, IN_AREA)
    assert (data.priority, data.source) == (3, "alarm")
    for body, field in (({"category": "fire", "lon": 2.3, "lat": 48.8}, "location"),
                        ({"category": "fire", "lon": True, "lat": 60.2}, "location"),
                        ({"category": "fire", "lon": 24.9, "lat": 60.2, "source": "rumour"}, "source"),
                        ({"category": "fire", "subCategory": "heartAttack", "lon": 24.9, "lat": 60.2}, "subCategory")):
        with pytest.raises(Refused) as error:
            read_incident_input(body, IN_AREA)
        assert error.value.field == field
