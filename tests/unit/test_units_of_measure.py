"""UN/CEFACT unit codes (issue 15, point 4): a value with a unitCode is stored in the measure's unit;
an unknown code, or one of another quantity, is a rejection of that value with its reason."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from services.telemetry import ParseContext, parse_message
from services.units_of_measure import UNIT_CODES, UnitError, convert

RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
HERE = {"type": "Point", "coordinates": [24.94, 60.17]}


def ld(value, code):
    return {"type": "Property", "value": value, "unitCode": code}


def v2(value, code):
    return {"type": "Number", "value": value, "metadata": {"unitCode": {"type": "Text", "value": code}}}


def parse(entity: dict):
    return parse_message("city/telemetry/d1", json.dumps(entity).encode(), ParseContext(), RECEIVED)


def stored_values(entity_type: str, **attributes) -> dict:
    result = parse({"id": "d1", "type": entity_type, "location": HERE, "dateObserved": "2024-05-01T11:00:00Z",
                    **attributes})
    assert result.rejections == [], result.rejections
    return result.observations[0].values


@pytest.mark.parametrize("entity_type,attribute,sent,expected", [
    ("AirQualityObserved", "co", ld(0.5, "GP"), 500.0),  # mg/m³ -> µg/m³
    ("AirQualityObserved", "co", v2(0.5, "GP"), 500.0),  # NGSI v2 metadata.unitCode
    ("AirQualityObserved", "no2", ld(40, "GQ"), 40.0),
    ("AirQualityObserved", "co2", ld(410, "59"), 410.0),  # ppm
    ("WeatherObserved", "windSpeed", ld(36, "KMH"), 10.0),  # km/h -> m/s
    ("TrafficFlowObserved", "averageVehicleSpeed", ld(50, "KMH"), 50.0),
    ("TrafficFlowObserved", "averageVehicleSpeed", ld(10, "MTS"), 36.0),  # m/s -> km/h
    ("FloodMonitoring", "currentLevel", ld(1.98, "MTR"), 1.98),
    ("FloodMonitoring", "currentLevel", ld(198, "CMT"), 1.98),
    ("FloodMonitoring", "currentLevel", ld(1980, "MMT"), 1.98),
    ("WeatherObserved", "precipitation", ld(5, "MMT"), 5.0),
    ("WeatherObserved", "precipitation", ld(0.5, "CMT"), 5.0),
    ("WeatherObserved", "snowHeight", ld(0.2, "MTR"), 20.0),  # m -> cm
    ("WeatherObserved", "temperature", ld(12.5, "CEL"), 12.5),
    ("WeatherObserved", "temperature", ld(300.15, "KEL"), 27.0),
    ("WeatherObserved", "temperature", ld(50, "FAH"), 10.0),
    ("WeatherObserved", "relativeHumidity", ld(54, "P1"), 0.54),  # percent -> fraction
    ("WeatherObserved", "relativeHumidity", ld(0.9, "P1"), 0.009),  # stated percent: no 0..1 guess
    ("WeatherObserved", "relativeHumidity", ld(0.54, "C62"), 0.54),
    ("WeatherObserved", "atmosphericPressure", ld(101325, "PAL"), 1013.25),
    ("WeatherObserved", "windDirection", ld(90, "DD"), 90.0),
])
def test_value_with_a_unit_code_is_stored_in_the_measures_unit(entity_type, attribute, sent, expected):
    assert stored_values(entity_type, **{attribute: sent})[attribute] == pytest.approx(expected)


def test_co_sent_in_mg_per_m3_is_not_stored_1000_times_too_low():
    assert stored_values("AirQualityObserved", CO=ld(2.1, "GP"))["co"] == pytest.approx(2100.0)


@pytest.mark.parametrize("sent,fragment", [
    (ld(12, "XYZ"), "'XYZ' is not one CityOps knows"),
    (v2(12, "NOPE"), "'NOPE'"),
    (ld(12, "CEL"), "CEL (degree Celsius) cannot be converted to m/s"),  # another quantity
    (ld(12, 7), "is not one CityOps knows"),
])
def test_unknown_or_wrong_unit_code_is_a_rejection_of_that_value_with_its_reason(sent, fragment):
    result = parse({"id": "d1", "type": "WeatherObserved", "location": HERE, "windSpeed": sent})
    # with wt-ingest's partial entities (issue 8) the entity is kept without the value, reason "partial"
    assert [r.reason for r in result.rejections] in (["unknown_unit"], ["partial"])
    assert "windSpeed" in result.rejections[0].detail and fragment in result.rejections[0].detail
    assert all("windSpeed" not in o.values for o in result.observations)


def test_converted_value_outside_the_range_says_what_was_sent_and_what_it_is():
    result = parse({"id": "d1", "type": "AirQualityObserved", "location": HERE, "co": ld(500, "GP")})
    assert [r.reason for r in result.rejections] in (["out_of_range"], ["partial"])  # partial: wt-ingest, issue 8
    assert "co=500 GP (milligram per cubic metre) = 500000 µg/m³" in result.rejections[0].detail


def test_value_with_percent_sign_is_read_as_percent():
    assert stored_values("WeatherObserved", relativeHumidity="45%")["relativeHumidity"] == pytest.approx(0.45)


def test_every_unit_code_converts_to_a_stored_unit():
    for code in UNIT_CODES:
        converted = [unit for unit in ("µg/m³", "ppm", "°C", "1", "m/s", "km/h", "m", "cm", "mm", "°", "hPa",
                                       "lx", "W/m²", "s", "m³/s") if _converts(code, unit)]
        assert converted, f"{code} converts to no unit CityOps stores"


def _converts(code: str, unit: str) -> bool:
    try:
        convert(1.0, code, unit)
        return True
    except UnitError:
        return False
