"""Behaviour of the MQTT edge parser (services.telemetry) against SPEC section 4."""
from __future__ import annotations

import copy
import json
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.telemetry import MAX_KEPT_REASONS, MAX_PAYLOAD_BYTES, REASON_NAMES, REASONS, ParseContext, parse_message

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "samples" / "sdm"
RECEIVED = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
UTC = timezone.utc


def in_helsinki(lon: float, lat: float) -> bool:
    return 24.5 <= lon <= 25.5 and 59.9 <= lat <= 60.5


HELSINKI = ParseContext(in_area=in_helsinki)
ANYWHERE = ParseContext()

FLOOD = {"id": "urn:ngsi-ld:FloodMonitoring:Pune-NoiseLevelObserved", "type": "FloodMonitoring",
         "alertLevel": 10.00, "measuredDistance": 3.22, "currentLevel": 0.98, "dangerLevel": 25.00,
         "observationDateTime": "2020-09-16T13:30:00+05:30", "referenceLevel": 4.2,
         "floodLevelStatus": "Normal", "stationID": "FWR013"}
WATER = {"id": "WaterObserved:MNCA-001", "type": "WaterObserved",
         "location": {"type": "Point", "coordinates": [43.664810, 7.196545]},
         "dateObserved": "2020-03-17T08:45:00.209Z", "flow": 12, "height": 3.52, "waterLevel": 2.4,
         "waterDischarge": 3}


def sample(name: str) -> dict:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def changed(entity: dict, drop: tuple[str, ...] = (), **changes) -> dict:
    result = {k: v for k, v in copy.deepcopy(entity).items() if k not in drop}
    result.update(changes)
    return result


def parse(topic: str, payload, context: ParseContext = ANYWHERE, received_at: datetime = RECEIVED):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_message(topic, raw, context, received_at)


def single_observation(topic: str, payload, context: ParseContext = ANYWHERE):
    result = parse(topic, payload, context)
    assert result.rejections == [] and len(result.observations) == 1, result
    return result.observations[0]


def reasons(result) -> list[str]:
    return [rejection.reason for rejection in result.rejections]


# ---------------------------------------------------------------- official examples as published

SAMPLE_TOPICS = {
    "AirQualityObserved": "city/telemetry/madrid-28079004",
    "TrafficFlowObserved": "city/telemetry/valladolid-60821110",
    "WeatherObserved": "city/telemetry/valladolid-weather",
    "Vehicle": "city/units/lorry-1/state",
    "Open311ServiceRequest": "city/reports",
    "Alert": "city/alerts/Alert:1",
}


def test_samples_folder_holds_exactly_the_examples_these_tests_cover():
    assert SAMPLES.is_dir(), SAMPLES
    assert {p.stem for p in SAMPLES.glob("*.json")} == set(SAMPLE_TOPICS)


@pytest.mark.parametrize("name", sorted(set(SAMPLE_TOPICS) - {"Alert"}))
def test_every_official_example_is_accepted_as_published(name):
    result = parse(SAMPLE_TOPICS[name], (SAMPLES / f"{name}.json").read_bytes())
    assert result.rejections == [] and not result.ignored
    assert len(result.observations) + len(result.reports) == 1


@pytest.mark.parametrize("name", sorted(set(SAMPLE_TOPICS) - {"Alert", "Open311ServiceRequest"}))
def test_spanish_examples_are_stored_but_flagged_out_of_area_for_helsinki(name):
    observation = single_observation(SAMPLE_TOPICS[name], sample(name), HELSINKI)
    assert "out_of_area" in observation.flags
    assert "out_of_area" not in single_observation(SAMPLE_TOPICS[name], sample(name)).flags


def test_air_quality_interval_uses_its_end_and_keeps_measures():
    observation = single_observation(SAMPLE_TOPICS["AirQualityObserved"], sample("AirQualityObserved"))
    assert observation.device_id == "Madrid-AmbientObserved-28079004-2016-03-15T11:00:00"  # its own id
    assert observation.entity_type == "AirQualityObserved"
    assert observation.observed_at == datetime(2016, 3, 15, 12, 0, tzinfo=UTC)
    assert (observation.lon, observation.lat) == pytest.approx((-3.712247222222222, 40.423852777777775))
    assert observation.values["relativeHumidity"] == pytest.approx(0.54)
    assert observation.values["co"] == 500 and observation.values["nox"] == 139
    assert observation.values["airQualityIndex"] == 65
    assert observation.values["typeOfLocation"] == "outdoor"
    assert observation.values["airQualityLevel"] == "moderate"
    assert observation.flags == () and observation.geometry is None


def test_traffic_flow_linestring_is_kept_and_naive_interval_end_read_as_utc():
    observation = single_observation(SAMPLE_TOPICS["TrafficFlowObserved"], sample("TrafficFlowObserved"))
    assert observation.observed_at == datetime(2016, 12, 7, 11, 15, tzinfo=UTC)
    assert observation.geometry["type"] == "LineString" and len(observation.geometry["coordinates"]) == 3
    assert -4.7374 < observation.lon < -4.7341 and 41.6538 < observation.lat < 41.6601
    assert observation.values["averageVehicleSpeed"] == pytest.approx(52.6)
    assert observation.values["occupancy"] == pytest.approx(0.76)
    assert observation.values["intensity"] == 197
    assert observation.values["reversedLane"] is False
    assert observation.values["laneDirection"] == "forward"


def test_weather_observation_reads_its_time_and_measures():
    observation = single_observation(SAMPLE_TOPICS["WeatherObserved"], sample("WeatherObserved"))
    assert observation.observed_at == datetime(2016, 11, 30, 7, 0, tzinfo=UTC)
    assert observation.values["atmosphericPressure"] == pytest.approx(938.9)
    assert observation.values["temperature"] == pytest.approx(3.3)
    assert observation.values["relativeHumidity"] == 1


def test_vehicle_state_offset_time_is_converted_to_utc():
    observation = single_observation(SAMPLE_TOPICS["Vehicle"], sample("Vehicle"))
    assert observation.device_id == "lorry-1" and observation.entity_type == "Vehicle"
    assert observation.observed_at == datetime(2021, 3, 11, 10, 21, 2, tzinfo=UTC)
    assert observation.values["speed"] == 50 and observation.values["bearing"] == 43
    assert observation.values["serviceStatus"] == "onRoute"
    assert observation.values["vehicleType"] == "lorry"
    assert observation.values["emergencyVehicleType"] == "ambulance"


def test_open311_example_becomes_a_citizen_report():
    result = parse("city/reports", sample("Open311ServiceRequest"))
    assert result.rejections == [] and len(result.reports) == 1
    report = result.reports[0]
    assert report.external_id == "638344"
    assert (report.service_code, report.service_name, report.status) == ("234", "Aceras", "closed")
    assert report.address == "Calle San Juan Bautista, 2"
    assert report.requested_at == datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC)
    assert report.updated_at == datetime(2010, 4, 14, 14, 37, 38, tzinfo=UTC) and report.closed
    assert not report.time_from_receive
    assert (report.lon, report.lat) == pytest.approx((-3.164485591715449, 40.62785133667262))


def test_alert_on_own_outgoing_topic_is_ignored_not_rejected():
    result = parse(SAMPLE_TOPICS["Alert"], sample("Alert"))
    assert result.ignored and result.rejections == [] and result.observations == []


def test_flood_monitoring_without_location_takes_the_registered_location_of_its_own_id():
    registered = {"Pune-NoiseLevelObserved": (24.94, 60.17)}  # the entity's id, not the topic's FWR013
    context = ParseContext(registered_location=registered.get)
    observation = single_observation("city/telemetry/FWR013", FLOOD, context)
    assert observation.device_id == "Pune-NoiseLevelObserved"
    assert (observation.lon, observation.lat) == (24.94, 60.17)
    assert "location_from_registry" in observation.flags
    assert observation.observed_at == datetime(2020, 9, 16, 8, 0, tzinfo=UTC)
    assert observation.values["currentLevel"] == pytest.approx(0.98)
    assert observation.values["floodLevelStatus"] == "Normal"


def test_flood_monitoring_without_any_location_is_rejected_missing_location():
    assert reasons(parse("city/telemetry/FWR013", FLOOD)) == ["missing_location"]


def test_water_observed_with_swapped_lat_lon_is_stored_but_flagged_out_of_area():
    observation = single_observation("city/telemetry/MNCA-001", WATER, HELSINKI)
    assert "out_of_area" in observation.flags
    assert observation.values["waterLevel"] == pytest.approx(2.4)
    assert observation.observed_at == datetime(2020, 3, 17, 8, 45, 0, 209000, tzinfo=UTC)


# ---------------------------------------------------------------- normalized forms

def to_ngsi_ld(entity: dict) -> dict:
    result = {"id": f"urn:ngsi-ld:{entity['type']}:{entity['id']}", "type": entity["type"],
              "@context": ["https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld"]}
    for name, value in entity.items():
        if name not in ("id", "type"):
            result[name] = {"type": "GeoProperty" if name == "location" else "Property", "value": value}
    return result


def _v2_type(name: str, value) -> str:
    if name == "location":
        return "geo:json"
    if name in ("dateObserved", "observationDateTime"):
        return "DateTime"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, (int, float)):
        return "Number"
    return "Text" if isinstance(value, str) else "StructuredValue"


def to_ngsi_v2(entity: dict) -> dict:
    result = {"id": entity["id"], "type": entity["type"]}
    for name, value in entity.items():
        if name not in ("id", "type"):
            result[name] = {"type": _v2_type(name, value), "value": value, "metadata": {}}
    return result


NORMALIZABLE = [(SAMPLE_TOPICS[n], sample(n)) for n in
                ("AirQualityObserved", "TrafficFlowObserved", "WeatherObserved", "Vehicle")]
NORMALIZABLE += [("city/telemetry/MNCA-001", WATER)]


@pytest.mark.parametrize("form", [to_ngsi_ld, to_ngsi_v2], ids=["ngsi-ld", "ngsi-v2"])
@pytest.mark.parametrize("topic,entity", NORMALIZABLE, ids=lambda v: v["type"] if isinstance(v, dict) else "")
def test_normalized_payload_parses_to_the_same_observation_as_key_values(form, topic, entity):
    assert single_observation(topic, form(entity), HELSINKI) == single_observation(topic, entity, HELSINKI)


def test_ngsi_ld_datetime_value_object_is_read_like_a_plain_string():
    # Smart Data Models' normalized examples write times as {"@type": "DateTime", "@value": ...}
    entity = to_ngsi_ld(sample("WeatherObserved"))
    entity["dateObserved"]["value"] = {"@type": "DateTime", "@value": "2016-11-30T07:00:00.00Z"}
    observation = single_observation(SAMPLE_TOPICS["WeatherObserved"], entity)
    assert observation.observed_at == datetime(2016, 11, 30, 7, 0, tzinfo=UTC)


# ---------------------------------------------------------------- tolerated deviations

def test_attribute_name_case_variants_are_read():
    air = changed(sample("AirQualityObserved"), drop=("typeOfLocation",), typeofLocation="indoor")
    assert single_observation("city/telemetry/a", air).values["typeOfLocation"] == "indoor"
    traffic = changed(sample("TrafficFlowObserved"), drop=("averageVehicleSpeed",), AVERAGEVEHICLESPEED=33)
    assert single_observation("city/telemetry/t", traffic).values["averageVehicleSpeed"] == 33


@pytest.mark.parametrize("text", ["52.6", "52,6", " 52.6 "])
def test_numbers_sent_as_strings_are_read_as_numbers(text):
    traffic = changed(sample("TrafficFlowObserved"), averageVehicleSpeed=text)
    assert single_observation("city/telemetry/t", traffic).values["averageVehicleSpeed"] == pytest.approx(52.6)


@pytest.mark.parametrize("topic,entity_id,expected", [
    ("city/telemetry/gateway-1", "urn:ngsi-ld:AirQualityObserved:Madrid-1", "Madrid-1"),
    ("city/telemetry/gateway-1", "Madrid-1", "Madrid-1"),
    ("city/telemetry/urn:ngsi-ld:AirQualityObserved:Madrid-1", None, "Madrid-1"),
    ("city/telemetry/Madrid-1", None, "Madrid-1"),
    ("city/units/urn:ngsi-ld:Vehicle:amb-7/state", None, "amb-7"),
    ("city/units/amb-7/state", None, "amb-7"),
])
def test_device_ids_with_or_without_urn_prefix_are_the_same_device(topic, entity_id, expected):
    entity = sample("Vehicle") if "/units/" in topic else sample("AirQualityObserved")
    entity = changed(entity, id=entity_id) if entity_id else changed(entity, drop=("id",))
    assert single_observation(topic, entity).device_id == expected


def test_gateway_topic_stores_each_entity_under_its_own_id():
    entities = [changed(AIR, id=f"urn:ngsi-ld:AirQualityObserved:sensor-{i}") for i in range(3)]
    entities.append(changed(AIR, drop=("id",)))
    result = parse("city/telemetry/gateway-7", entities)
    assert [o.device_id for o in result.observations] == ["sensor-0", "sensor-1", "sensor-2", "gateway-7"]


def test_vehicle_state_belongs_to_the_unit_of_its_topic_whatever_its_entity_id():
    # the unit registry, its commands and their replies are keyed by the topic's unit id
    vehicle = changed(sample("Vehicle"), id="urn:ngsi-ld:Vehicle:fleet-tracker-0042")
    assert single_observation("city/units/amb-7/state", vehicle).device_id == "amb-7"


@pytest.mark.parametrize("topic,entity_id,fragment", [
    ("city/telemetry/" + "d" * 129, None, "device id longer than 128"),
    ("city/telemetry/gateway-1", "s" * 129, "device id longer than 128"),
    ("city/telemetry/gateway-1", "urn:ngsi-ld:AirQualityObserved:" + "s" * 129, "device id longer than 128"),
    ("city/telemetry/gateway-1", "bad\u0000id", "control characters"),
    ("city/units/" + "u" * 200 + "/state", None, "unit id longer than 128"),
    ("city/units/" + "u" * 200 + "/cmdexe", None, "unit id longer than 128"),
])
def test_id_longer_than_its_column_or_with_control_characters_is_rejected_at_the_edge(topic, entity_id, fragment):
    if "/cmdexe" in topic:
        payload = {"cmdId": "c1", "result": "accepted"}
    else:
        entity = sample("Vehicle") if "/units/" in topic else sample("AirQualityObserved")
        payload = changed(entity, id=entity_id) if entity_id else changed(entity, drop=("id",))
    result = parse(topic, payload)
    assert reasons(result) == ["invalid_value"] and result.observations == [] and result.replies == []
    assert fragment in result.rejections[0].detail


def test_id_of_exactly_128_characters_is_accepted():
    assert single_observation("city/telemetry/g", changed(AIR, id="s" * 128)).device_id == "s" * 128


def test_expanded_type_uri_is_read_as_its_short_name():
    air = changed(sample("AirQualityObserved"),
                  type="https://smartdatamodels.org/dataModel.Environment/AirQualityObserved")
    assert single_observation("city/telemetry/a", air).entity_type == "AirQualityObserved"


def test_relative_humidity_in_percent_is_stored_as_a_fraction():
    weather = changed(sample("WeatherObserved"), relativeHumidity=54)
    assert single_observation("city/telemetry/w", weather).values["relativeHumidity"] == pytest.approx(0.54)


def test_missing_timestamp_takes_the_receive_time_and_is_flagged():
    observation = single_observation("city/telemetry/w", changed(sample("WeatherObserved"), drop=("dateObserved",)))
    assert observation.observed_at == RECEIVED
    assert "time_from_receive" in observation.flags


def test_array_of_entities_gives_one_observation_each():
    result = parse("city/telemetry/station-9", [sample("AirQualityObserved"), sample("WeatherObserved")])
    assert result.rejections == []
    assert [o.entity_type for o in result.observations] == ["AirQualityObserved", "WeatherObserved"]


def test_array_with_one_bad_entity_keeps_the_good_ones_and_records_one_rejection():
    bad = only_measure(sample("WeatherObserved"), temperature=500)
    result = parse("city/telemetry/station-9", [sample("AirQualityObserved"), bad, sample("WeatherObserved")])
    assert len(result.observations) == 2
    assert reasons(result) == ["out_of_range"]


# ---------------------------------------------------------------- one bad attribute, not a lost entity

@pytest.mark.parametrize("name,value,original", [
    ("precipitation", True, "invalid_value"),
    ("precipitation", "a lot", "invalid_value"),
    ("temperature", 500, "out_of_range"),
    ("relativeHumidity", {"unexpected": "object"}, "invalid_value"),
    ("temperature", {"type": "Property", "value": 12, "unitCode": "XYZ"}, "unknown_unit"),
])
def test_entity_with_one_unusable_attribute_is_stored_without_it_and_the_attribute_kept_as_partial(
        name, value, original):
    weather = changed(sample("WeatherObserved"), **{name: value})
    result = parse("city/telemetry/w", weather)
    (observation,) = result.observations
    assert name not in observation.values
    assert observation.values["atmosphericPressure"] == pytest.approx(938.9)  # the rest is kept
    assert reasons(result) == ["partial"]
    assert result.rejections[0].detail.startswith(f"{name} dropped ({REASON_NAMES[original].lower()}): ")


def test_entity_with_several_unusable_attributes_keeps_one_partial_reason_each():
    weather = changed(sample("WeatherObserved"), precipitation=False, temperature=-300)
    result = parse("city/telemetry/w", weather)
    assert len(result.observations) == 1 and reasons(result) == ["partial", "partial"]
    assert sorted(r.detail.split(" ")[0] for r in result.rejections) == ["precipitation", "temperature"]


@pytest.mark.parametrize("value,reason", [(400, "out_of_range"), (True, "invalid_value"), ("fast", "invalid_value")])
def test_entity_whose_only_value_is_unusable_is_rejected_whole_with_the_original_reason(value, reason):
    result = parse("city/telemetry/t", only_measure(TRAFFIC, averageVehicleSpeed=value))
    assert result.observations == [] and reasons(result) == [reason]
    assert "averageVehicleSpeed" in result.rejections[0].detail


def test_entity_whose_only_measure_is_unusable_but_which_carries_a_text_is_stored_with_the_text():
    flood = changed(FLOOD, location={"type": "Point", "coordinates": [24.94, 60.17]}, currentLevel="high",
                    alertLevel=None, dangerLevel=None, referenceLevel=None, measuredDistance=None)
    result = parse("city/telemetry/f", flood)
    (observation,) = result.observations
    assert observation.values == {"floodLevelStatus": "Normal", "stationID": "FWR013"}
    assert reasons(result) == ["partial"]


def test_message_keeps_at_most_a_bounded_number_of_reasons_but_counts_them_all():
    result = parse("city/telemetry/gw", [only_measure(AIR, pm25=-1)] * 1000)
    assert len(result.rejections) == MAX_KEPT_REASONS
    assert result.reason_counts == {"out_of_range": 1000} and result.rejection_count == 1000


def test_message_with_more_entities_than_the_cap_is_rejected_whole_without_reading_them():
    result = parse("city/telemetry/gw", [AIR] * 11, ParseContext(max_entities=10))
    assert reasons(result) == ["too_many_entities"] and result.observations == []
    assert "11 entities" in result.rejections[0].detail and "at most 10" in result.rejections[0].detail
    assert len(parse("city/telemetry/gw", [AIR] * 10, ParseContext(max_entities=10)).observations) == 10


# ---------------------------------------------------------------- rejections, one reason at a time

AIR, TRAFFIC = sample("AirQualityObserved"), sample("TrafficFlowObserved")


def only_measure(entity: dict, **measure) -> dict:
    """The entity with its identity, type, location and time, and nothing else but ``measure``."""
    kept = ("id", "type", "location", "dateObserved", "dateObservedFrom", "dateObservedTo", "observationDateTime")
    return {**{k: v for k, v in copy.deepcopy(entity).items() if k in kept}, **measure}

FUTURE = (RECEIVED + timedelta(days=3)).isoformat()
REJECTIONS = [
    # id, topic, payload, reason, fragment expected in the detail (or None)
    ("garbage", "city/telemetry/a", b"\x00\x13not json{", "not_json", None),
    ("invalid-utf8", "city/telemetry/a", b'{"type": "\xff\xfe"}', "not_json", "UTF-8"),
    ("too-large", "city/telemetry/a", b'{"x": "' + b"y" * MAX_PAYLOAD_BYTES + b'"}', "too_large", None),
    ("unknown-topic", "city/unknown/x", AIR, "wrong_topic", None),
    ("telemetry-without-id", "city/telemetry", AIR, "wrong_topic", None),
    ("outside-root", "town/telemetry/a", AIR, "wrong_topic", None),
    ("vehicle-on-telemetry", "city/telemetry/a", sample("Vehicle"), "wrong_topic", "Vehicle"),
    ("air-on-unit-state", "city/units/u1/state", AIR, "wrong_topic", "AirQualityObserved"),
    ("missing-type", "city/telemetry/a", changed(AIR, drop=("type",)), "unknown_type", None),
    ("type-foo", "city/telemetry/a", changed(AIR, type="Foo"), "unknown_type", "Foo"),
    ("no-location", "city/telemetry/a", changed(AIR, drop=("location",)), "missing_location", None),
    ("polygon", "city/telemetry/a", changed(AIR, location={"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}),
     "invalid_location", "Polygon"),
    ("outside-world", "city/telemetry/a", changed(AIR, location={"type": "Point", "coordinates": [200, 95]}),
     "invalid_location", None),
    ("one-position-line", "city/telemetry/a", changed(AIR, location={"type": "LineString", "coordinates": [[1, 2]]}),
     "invalid_location", "LineString"),
    ("speed-400", "city/telemetry/t", only_measure(TRAFFIC, averageVehicleSpeed=400), "out_of_range",
     "averageVehicleSpeed"),
    ("pm25-negative", "city/telemetry/a", only_measure(AIR, pm25=-3), "out_of_range", "pm25"),
    ("occupancy-150", "city/telemetry/t", only_measure(TRAFFIC, occupancy=150), "out_of_range", "occupancy"),
    ("number-abc", "city/telemetry/a", only_measure(AIR, pm25="abc"), "invalid_value", "pm25"),
    ("number-boolean", "city/telemetry/a", only_measure(AIR, pm25=True), "invalid_value", "pm25"),
    ("1001-entities", "city/telemetry/a", [AIR] * 1001, "too_many_entities", "1,001 entities"),
    ("reply-without-cmdId", "city/units/u1/cmdexe", {"result": "accepted"}, "invalid_value", "cmdId"),
    ("reply-maybe", "city/units/u1/cmdexe", {"cmdId": "c1", "result": "maybe"}, "invalid_value", "maybe"),
    ("report-without-service", "city/reports",
     changed(sample("Open311ServiceRequest"), drop=("service_code", "service_name")), "invalid_value", "service_code"),
    ("empty-array", "city/telemetry/a", [], "invalid_value", None),
    ("time-yesterday", "city/telemetry/a", changed(AIR, dateObserved="yesterday"), "invalid_timestamp", "dateObserved"),
    ("time-in-3-days", "city/telemetry/a", changed(AIR, dateObserved=FUTURE), "invalid_timestamp", "dateObserved"),
    ("unit-code-unknown", "city/telemetry/a", only_measure(AIR, pm25={"type": "Property", "value": 12, "unitCode": "XYZ"}),
     "unknown_unit", "pm25"),
    ("iot-agent-apikey-unknown", "/json/nokey/sensor-1/attrs", {"t": 15}, "unprovisioned", "nokey"),
]


@pytest.mark.parametrize("topic,payload,reason,fragment", [r[1:] for r in REJECTIONS], ids=[r[0] for r in REJECTIONS])
def test_unusable_message_is_rejected_with_its_reason(topic, payload, reason, fragment):
    result = parse(topic, payload)
    assert reasons(result) == [reason]
    assert result.observations == [] and result.reports == [] and result.replies == []
    assert result.rejections[0].detail
    if fragment:
        assert fragment in result.rejections[0].detail


def test_every_reason_code_is_exercised_by_a_rejection_test():
    # partial: the tests above; refused_by_database: tests/integration/test_ingest.py (the database's refusal);
    # request_refused: tests/integration/test_requests.py (an answer the request cannot take)
    assert {r[3] for r in REJECTIONS} | {"partial", "refused_by_database", "request_refused"} == set(REASONS)


# ---------------------------------------------------------------- command replies and reports

def test_command_reply_is_parsed_with_its_unit_and_time():
    result = parse("city/units/urn:ngsi-ld:Vehicle:amb-7/cmdexe",
                   {"cmdId": "c-42", "result": "arrived", "at": "2024-05-01T11:59:30+03:00"})
    assert result.rejections == []
    (reply,) = result.replies
    assert (reply.unit_id, reply.cmd_id, reply.result) == ("amb-7", "c-42", "arrived")
    assert reply.at == datetime(2024, 5, 1, 8, 59, 30, tzinfo=UTC)


BACKFILL = ParseContext(accept_recorded_at=True)


def test_a_back_filled_reply_and_report_are_received_when_recorded_where_the_demo_history_is_accepted():
    recorded = "2024-05-01T08:00:00Z"
    reply = {"cmdId": "c-42", "result": "arrived", "at": recorded, "recordedAt": recorded}
    report = {"service_request_id": "S42-1", "service_code": "POT", "lat": 60.17, "long": 24.94,
              "requested_datetime": recorded, "recordedAt": recorded}
    for context, received in ((BACKFILL, datetime(2024, 5, 1, 8, tzinfo=UTC)), (ANYWHERE, RECEIVED)):
        assert parse("city/units/amb-7/cmdexe", reply, context).replies[0].received_at == received
        assert parse("city/reports", report, context).reports[0].received_at == received


def test_a_recorded_at_in_the_future_or_unreadable_is_never_taken():
    later = (RECEIVED + timedelta(hours=1)).isoformat()
    assert parse("city/units/amb-7/cmdexe", {"cmdId": "c", "result": "accepted", "recordedAt": later},
                 BACKFILL).replies[0].received_at == RECEIVED
    refused = parse("city/units/amb-7/cmdexe", {"cmdId": "c", "result": "accepted", "recordedAt": "soon"}, BACKFILL)
    assert refused.replies == [] and refused.rejections[0].reason == "invalid_timestamp"


@pytest.mark.parametrize("topic", ["city/kpis/emergency.total_p90/city", "city/kpis/environment.pm25_mean/Kamppi/day"])
def test_own_kpi_topics_are_ignored_not_rejected(topic):
    """The scorecards publish KeyPerformanceIndicator messages under <root>/kpis/ (services/kpis/publish.py);
    the ingest reads <root>/# and must not count its own messages as wrong-topic rejections."""
    result = parse(topic, {"id": "KeyPerformanceIndicator:x", "type": "KeyPerformanceIndicator", "kpiValue": 1})
    assert result.ignored and result.rejections == [] and result.observations == []


def test_own_command_topic_is_ignored():
    result = parse("city/units/amb-7/cmd", {"cmdId": "c-42", "command": "dispatch"})
    assert result.ignored and result.rejections == [] and result.replies == []


def test_open311_with_lat_long_instead_of_location_is_accepted():
    report = changed(sample("Open311ServiceRequest"), drop=("location",), lat="60.17", long=24.94)
    (parsed,) = parse("city/reports", report).reports
    assert (parsed.lon, parsed.lat) == (24.94, 60.17)


@pytest.mark.parametrize("spelling", ["Open311_ServiceRequest", "Open311ServiceRequest"])
def test_open311_type_is_accepted_with_or_without_underscore(spelling):
    result = parse("city/reports", changed(sample("Open311ServiceRequest"), type=spelling))
    assert result.rejections == [] and len(result.reports) == 1


def test_report_without_any_id_gets_a_stable_content_hash_id():
    anonymous = changed(sample("Open311ServiceRequest"), drop=("id", "service_request_id"))
    first = parse("city/reports", anonymous).reports[0]
    again = parse("city/reports", anonymous, received_at=RECEIVED + timedelta(hours=1)).reports[0]
    other = parse("city/reports", changed(anonymous, description="another")).reports[0]
    assert first.external_id and first.external_id == again.external_id
    assert other.external_id != first.external_id


# ---------------------------------------------------------------- robustness

BASES = [(SAMPLE_TOPICS[n], sample(n)) for n in
         ("AirQualityObserved", "TrafficFlowObserved", "WeatherObserved", "Vehicle", "Open311ServiceRequest")]
BASES += [("city/telemetry/FWR013", FLOOD), ("city/telemetry/MNCA-001", WATER),
          ("city/units/u1/cmdexe", {"cmdId": "c1", "result": "accepted", "at": "2024-05-01T10:00:00Z"})]


def _random_value(rng: random.Random):
    return rng.choice([
        None, True, False, 0, -1, rng.uniform(-1e6, 1e6), rng.randint(-10**9, 10**9), "", "abc", "12,5",
        "NaN", "Infinity", "1e999", "2016-13-45T00:00:00", "2020-01-01T00:00:00Z/", [], {}, [1], [[1, 2]],
        {"type": "Property", "value": rng.random()}, {"type": "Point", "coordinates": [rng.uniform(-300, 300), 0]},
        {"type": "LineString", "coordinates": "x"}, {"value": 1}, "\u0000\ud7ff", rng.random(),
    ])


def _mutated(rng: random.Random) -> tuple[str, bytes]:
    topic, base = rng.choice(BASES)
    entity = copy.deepcopy(base)
    for _ in range(rng.randint(1, 4)):
        keys = list(entity)
        operation = rng.choice(["delete", "replace", "replace", "add", "wrap"])
        if operation == "delete" and keys:
            del entity[rng.choice(keys)]
        elif operation == "replace" and keys:
            entity[rng.choice(keys)] = _random_value(rng)
        elif operation == "add":
            entity[rng.choice(["pm25", "occupancy", "speed", "lat", "long", "TYPE", "at"])] = _random_value(rng)
        elif operation == "wrap":
            entity = [entity, _random_value(rng)] if rng.random() < 0.5 else [entity]
            break
    payload = json.dumps(entity).encode()
    if rng.random() < 0.25:
        payload = payload[: rng.randint(0, len(payload))]
    if rng.random() < 0.1:
        position = rng.randrange(len(payload) or 1)
        payload = payload[:position] + bytes([rng.randrange(256)]) + payload[position + 1:]
    if rng.random() < 0.05:
        topic = rng.choice(["city/telemetry/", "city/units//state", "city/alerts/x", "", "/"])
    return topic, payload


_RNG = random.Random(1)
FUZZ_CASES = [_mutated(_RNG) for _ in range(300)]


@pytest.mark.parametrize("topic,payload", FUZZ_CASES, ids=[f"case{i}" for i in range(len(FUZZ_CASES))])
def test_mutated_payload_never_raises_and_is_usable_or_carries_a_reason(topic, payload):
    result = parse_message(topic, payload, HELSINKI, RECEIVED)
    outcomes = len(result.observations) + len(result.reports) + len(result.replies) + len(result.rejections)
    assert result.ignored or outcomes >= 1
    assert all(r.reason in REASONS and r.detail for r in result.rejections)
    for observation in result.observations:
        assert observation.observed_at.utcoffset() == timedelta(0)
        assert -180 <= observation.lon <= 180 and -90 <= observation.lat <= 90


PATHOLOGICAL = [
    ("deeply-nested-array", "city/telemetry/a", b"[" * 100_000),
    ("integer-too-big-for-float", "city/telemetry/a", json.dumps(only_measure(AIR, pm25=0)).encode().replace(
        b'"pm25": 0', b'"pm25": 1' + b"0" * 400)),
    ("integer-with-5000-digits", "city/telemetry/a", b'{"type": "AirQualityObserved", "pm25": 1' + b"0" * 5000 + b"}"),
    ("year-1-with-positive-offset", "city/telemetry/a",
     json.dumps(changed(AIR, dateObserved="0001-01-01T00:00:00+05:30")).encode()),
    ("year-9999-with-negative-offset", "city/telemetry/a",
     json.dumps(changed(AIR, dateObserved="9999-12-31T23:00:00-05:00")).encode()),
]


@pytest.mark.parametrize("topic,payload", [p[1:] for p in PATHOLOGICAL], ids=[p[0] for p in PATHOLOGICAL])
def test_pathological_payload_is_rejected_with_a_reason_instead_of_raising(topic, payload):
    result = parse_message(topic, payload, ANYWHERE, RECEIVED)
    assert result.observations == [] and len(result.rejections) == 1
    assert result.rejections[0].reason in REASONS


def test_entity_cap_is_read_from_its_environment_variable():
    from services.config import Settings

    assert Settings.from_env({}).max_entities_per_message == 1000
    assert Settings.from_env({"CITYOPS_MAX_ENTITIES_PER_MESSAGE": "50"}).max_entities_per_message == 50
