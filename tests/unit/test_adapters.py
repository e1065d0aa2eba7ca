"""Foreign feed formats as plug-in adapters (issue 15, points 2, 3, 5, 6, 7): broker notifications,
GeoJSON entities, IoT Agent JSON and UltraLight devices, Digitraffic road weather."""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from services import adapters
from services.adapters.digitraffic import load_config
from services.adapters.iot_agent import ProvisioningError, Provisioning, device_from, service_group_from
from services.config import Settings
from services.ingest import Ingest
from services.telemetry import ParseContext, parse_message

RECEIVED = datetime(2025, 5, 1, 12, 0, tzinfo=timezone.utc)
HERE = {"type": "Point", "coordinates": [24.94, 60.17]}
AIR = {"id": "urn:ngsi-ld:AirQualityObserved:air-1", "type": "AirQualityObserved", "location": HERE,
       "dateObserved": "2024-05-01T11:00:00Z", "no2": 22.0}


def parse(topic: str, payload, context: ParseContext = ParseContext()):
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return parse_message(topic, raw, context, RECEIVED)


def reasons(result) -> list[str]:
    return [r.reason for r in result.rejections]


# ---------------------------------------------------------------- FIWARE notifications, GeoJSON

def test_orion_v2_notification_is_unwrapped_to_its_entities_normalized_or_key_values():
    normalized = {"id": "air-2", "type": "AirQualityObserved",
                  "location": {"type": "geo:json", "value": HERE},
                  "dateObserved": {"type": "DateTime", "value": "2024-05-01T11:00:00Z"},
                  "no2": {"type": "Number", "value": 30, "metadata": {}}}
    result = parse("city/telemetry/orion", {"subscriptionId": "5f1", "data": [AIR, normalized]})
    assert result.rejections == []
    assert [o.values["no2"] for o in result.observations] == [22.0, 30.0]


def test_ngsi_ld_notification_is_unwrapped_to_its_entities():
    notification = {"id": "urn:ngsi-ld:Notification:1", "type": "Notification", "subscriptionId": "urn:x",
                    "notifiedAt": "2024-05-01T11:00:01Z", "data": [AIR]}
    result = parse("city/telemetry/broker", notification)
    assert result.rejections == [] and result.observations[0].values == {"no2": 22.0}


def test_notification_of_service_requests_on_the_reports_topic_gives_reports():
    request = {"id": "sr-1", "type": "service_requests", "service_code": "171", "location": HERE,
               "requested_datetime": "2024-05-01T10:00:00Z"}
    result = parse("city/reports", {"subscriptionId": "s", "data": [request]})
    assert result.rejections == [] and result.reports[0].service_code == "171"


def test_notification_without_entities_is_rejected_with_its_reason():
    assert reasons(parse("city/telemetry/orion", {"subscriptionId": "s", "data": []})) == ["invalid_value"]
    assert reasons(parse("city/telemetry/orion", {"subscriptionId": "s"})) == ["invalid_value"]


def test_geojson_feature_collection_gives_one_entity_per_feature_located_by_its_geometry():
    features = [{"type": "Feature", "id": f"urn:ngsi-ld:AirQualityObserved:air-{i}",
                 "geometry": {"type": "Point", "coordinates": [lon, 60.17]},
                 "properties": {"type": "AirQualityObserved", "dateObserved": "2024-05-01T11:00:00Z", "no2": i}}
                for i, lon in ((1, 24.95), (2, 24.96))]
    result = parse("city/telemetry/gw", {"type": "FeatureCollection", "features": features})
    assert result.rejections == []
    assert [(o.lon, o.values["no2"]) for o in result.observations] == [(24.95, 1.0), (24.96, 2.0)]


def test_ngsi_v2_attributes_without_type_are_unwrapped():
    entity = {"id": "w1", "type": "WeatherObserved", "location": {"value": HERE},
              "dateObserved": {"value": "2024-05-01T11:00:00Z"}, "temperature": {"value": 3.3, "metadata": {}}}
    observation = parse("city/telemetry/w1", entity).observations[0]
    assert observation.values == {"temperature": 3.3} and (observation.lon, observation.lat) == (24.94, 60.17)


@pytest.mark.parametrize("report_type", ["service_requests", "Open311ServiceRequest", "Open311_ServiceRequest"])
def test_current_and_past_open311_type_names_are_citizen_reports(report_type):
    request = {"id": "sr-1", "type": report_type, "service_code": "171", "location": HERE}
    assert parse("city/reports", request).reports[0].external_id == "sr-1"


def test_older_compass_convention_minus_180_to_180_is_stored_as_0_to_360():
    entity = {"id": "w1", "type": "WeatherObserved", "location": HERE, "windDirection": -45}
    assert parse("city/telemetry/w1", entity).observations[0].values["windDirection"] == 315.0


# ---------------------------------------------------------------- IoT Agent JSON and UltraLight 2.0

GROUP = {"apikey": "k1", "entity_type": "WeatherObserved",
         "attributes": [{"object_id": "t", "name": "temperature"}, {"object_id": "h", "name": "relativeHumidity"}],
         "static_attributes": [{"name": "location", "value": HERE}]}
DEVICES = [{"apikey": "k1", "device_id": "dev1", "entity_name": "urn:ngsi-ld:WeatherObserved:roof-1"},
           {"apikey": "k1", "device_id": "dev2", "attributes": [{"object_id": "t", "name": "windSpeed"}],
            "static_attributes": [{"name": "location", "value": {"type": "Point", "coordinates": [24.95, 60.18]}}]}]


def iot(group: dict = GROUP, devices: list = DEVICES) -> ParseContext:
    provisioning = Provisioning(None, [service_group_from(group)], [device_from(d) for d in devices])
    return ParseContext(adapters={"iot_agent_json": provisioning})


@pytest.mark.parametrize("topic,payload", [
    ("/json/k1/dev1/attrs", b'{"t": 15, "h": 70}'),
    ("/k1/dev1/attrs", b'{"t": 15, "h": 70}'),  # the unprefixed topic, JSON
    ("/ul/k1/dev1/attrs", b"t|15|h|70"),
    ("/k1/dev1/attrs", b"t|15|h|70"),  # the unprefixed topic, UltraLight
])
def test_provisioned_device_measures_become_its_entity(topic, payload):
    result = parse(topic, payload, iot())
    assert result.rejections == []
    [observation] = result.observations
    assert observation.device_id == "roof-1" and observation.entity_type == "WeatherObserved"
    assert observation.values == {"temperature": 15.0, "relativeHumidity": 0.7}
    assert (observation.lon, observation.lat) == (24.94, 60.17) and "time_from_receive" in observation.flags


def test_device_mapping_and_static_attributes_override_the_groups():
    observation = parse("/json/k1/dev2/attrs", {"t": 4.5}, iot()).observations[0]
    assert observation.device_id == "dev2" and observation.values == {"windSpeed": 4.5}
    assert (observation.lon, observation.lat) == (24.95, 60.18)


def test_single_attribute_topic_takes_the_payload_as_its_value_or_timestamped_readings():
    assert parse("/json/k1/dev1/attrs/h", b"70", iot()).observations[0].values == {"relativeHumidity": 0.7}
    readings = [{"timestamp": "2025-01-26T12:00:00Z", "value": 44}, {"timestamp": "2025-01-27T09:00:00Z", "value": 33}]
    observations = parse("/json/k1/dev1/attrs/h", readings, iot()).observations
    assert [(o.observed_at.day, o.values["relativeHumidity"]) for o in observations] == [(26, 0.44), (27, 0.33)]


def test_time_instant_and_ultralight_group_times_are_the_observation_times():
    json_result = parse("/json/k1/dev1/attrs", {"t": 1, "TimeInstant": "2024-05-01T10:00:00Z"}, iot())
    assert json_result.observations[0].observed_at == datetime(2024, 5, 1, 10, tzinfo=timezone.utc)
    ul_result = parse("/ul/k1/dev1/attrs", b"2024-05-01T10:00:00Z|t|1#2024-05-01T10:05:00Z|t|2", iot())
    assert [(o.observed_at.minute, o.values["temperature"]) for o in ul_result.observations] == [(0, 1.0), (5, 2.0)]


def test_unprovisioned_apikey_or_device_is_kept_as_a_rejection_with_its_reason():
    unknown_key = parse("/ul/other/dev1/attrs", b"t|1", iot())
    assert reasons(unknown_key) == ["unprovisioned"] and "'other'" in unknown_key.rejections[0].detail
    unknown_device = parse("/json/k1/dev9/attrs", {"t": 1}, iot())
    assert reasons(unknown_device) == ["unprovisioned"] and "'dev9'" in unknown_device.rejections[0].detail


def test_group_with_autoprovision_takes_an_unlisted_device_with_the_groups_mapping():
    observation = parse("/ul/k1/dev9/attrs", b"t|12", iot({**GROUP, "autoprovision": True})).observations[0]
    assert observation.device_id == "dev9" and observation.values == {"temperature": 12.0}


@pytest.mark.parametrize("payload,reason", [
    (b"t|1|", "invalid_timestamp"),  # an odd field count starts with the time: "t" is none
    (b"|1", "invalid_value"), (b"", "invalid_value"), (b"\xff\xfe", "not_json"),
])
def test_malformed_ultralight_is_rejected_with_its_reason(payload, reason):
    assert reasons(parse("/ul/k1/dev1/attrs", payload, iot())) == [reason]


def test_provisioning_refuses_a_type_cityops_does_not_read_and_says_which_field():
    with pytest.raises(ProvisioningError) as refused:
        service_group_from({**GROUP, "entity_type": "Motion"})
    assert refused.value.field == "entity_type"


def test_ingest_subscribes_to_the_iot_agent_topics_as_well_shared_when_grouped():
    engine = create_engine("sqlite://")
    plain = Ingest(Settings.from_env({}), engine, context=ParseContext()).subscriptions
    assert plain[0] == "city/#" and {"/json/+/+/attrs/#", "/+/+/attrs/#", "/ul/+/+/attrs"} <= set(plain)
    shared = Ingest(Settings.from_env({}, ingest_shared_group="g"), engine, context=ParseContext()).subscriptions
    assert all(topic.startswith("$share/g/") for topic in shared)


# ---------------------------------------------------------------- Digitraffic road weather (the worked example)

def digitraffic(tmp_path: Path) -> ParseContext:
    path = tmp_path / "digitraffic.yaml"
    path.write_text("stations:\n  - {id: 1158, name: Testitie, lon: 24.95, lat: 60.175}\n"
                    "sensors:\n  - {id: 1, name: ILMA, attribute: temperature, unit_code: CEL}\n"
                    "  - {id: 16, name: KESKITUULI, attribute: windSpeed, unit_code: MTS}\n")
    return ParseContext(adapters={"digitraffic": load_config(path)})


def test_digitraffic_weather_reading_is_a_weather_observation_at_its_station(tmp_path):
    result = parse("city/digitraffic/weather-v2/1158/1", {"value": -2.2, "time": 1548232500}, digitraffic(tmp_path))
    [observation] = result.observations
    assert observation.entity_type == "WeatherObserved" and observation.device_id == "digitraffic-1158-1"
    assert observation.values == {"temperature": -2.2} and (observation.lon, observation.lat) == (24.95, 60.175)
    assert observation.observed_at == datetime(2019, 1, 23, 8, 35, tzinfo=timezone.utc)


def test_digitraffic_sensors_of_one_station_are_separate_devices_so_none_is_lost(tmp_path):
    context = digitraffic(tmp_path)
    devices = {parse(f"city/digitraffic/weather-v2/1158/{sensor}", {"value": 3, "time": 1548232500},
                     context).observations[0].device_id for sensor in (1, 16)}
    assert devices == {"digitraffic-1158-1", "digitraffic-1158-16"}


@pytest.mark.parametrize("topic,payload,reason", [
    ("city/digitraffic/weather-v2/9999/1", {"value": 1, "time": 1548232500}, "unprovisioned"),
    ("city/digitraffic/weather-v2/1158/77", {"value": 1, "time": 1548232500}, "unprovisioned"),
    ("city/digitraffic/tms-v2/23307/5122", {"value": 108, "time": 1667972911}, "wrong_topic"),
    ("city/digitraffic/weather-v2/1158/1", {"sensorValue": 1}, "invalid_value"),
    ("city/digitraffic/weather-v2/1158/1", {"value": 1, "time": "yesterday"}, "invalid_value"),
])
def test_digitraffic_message_it_cannot_use_is_kept_with_its_reason(tmp_path, topic, payload, reason):
    assert reasons(parse(topic, payload, digitraffic(tmp_path))) == [reason]


# ---------------------------------------------------------------- the registry

def test_a_citys_own_adapter_registers_like_a_map_layer_and_is_read():
    @adapters.register_topic_adapter("test_city_feed", "A test city's feed",
                                      match=lambda parts, root: parts[-1] if parts[:2] == ["city", "mine"] else None)
    def read(found, payload, context, received_at):
        return [adapters.Adapted("telemetry", found, [{**AIR, "id": found}])]

    try:
        result = parse("city/mine/air-9", b"anything")
        assert result.rejections == [] and result.observations[0].device_id == "air-9"
    finally:
        del adapters.TOPIC_ADAPTERS["test_city_feed"]
    assert reasons(parse("city/mine/air-9", b"anything")) == ["wrong_topic"]


def test_cityops_own_topics_never_consult_the_topic_adapters(monkeypatch):
    def refuse(*_args):
        raise AssertionError("a topic adapter was consulted for a CityOps topic")

    monkeypatch.setattr(adapters, "topic_adapter_for", refuse)
    assert parse("city/telemetry/air-1", AIR).observations[0].values == {"no2": 22.0}


@pytest.mark.parametrize("sensors,fragment", [
    ("  - {id: 1, name: ILMA, attribute: roadTemperature, unit_code: CEL}\n", "not a WeatherObserved attribute"),
    ("  - {id: 1, name: ILMA, attribute: temperature, unit_code: KMH}\n", "cannot be converted to °C"),
    ("  - {id: 1, name: ILMA, unit_code: CEL}\n", "a sensor id, attribute, unit_code"),
])
def test_digitraffic_configuration_mistake_is_refused_at_start_naming_the_file(tmp_path, sensors, fragment):
    path = tmp_path / "digitraffic.yaml"
    path.write_text("stations: []\nsensors:\n" + sensors)
    with pytest.raises(ValueError) as refused:
        load_config(path)
    assert str(path) in str(refused.value) and fragment in str(refused.value)


def test_iot_agent_configuration_mistake_is_refused_naming_the_file_and_field(tmp_path):
    from services.adapters.iot_agent import apply_config_file

    path = tmp_path / "iot_agent.yaml"
    path.write_text("service_groups:\n  - {apikey: k1}\n")
    with pytest.raises(ProvisioningError) as refused:
        apply_config_file(create_engine("sqlite://"), path)
    assert str(path) in refused.value.message and refused.value.field == "entity_type"
