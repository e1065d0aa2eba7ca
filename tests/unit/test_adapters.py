"""Foreign feed formats as plug-in adapters (issue 15, points 2, 3, 5, 6, 7): broker notifications,
GeoJSON entities, IoT Agent JSON and UltraLight devices, Digitraffic road weather and traffic
counters (TMS), HSL public transport positions (HFP)."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from services import adapters
from services.adapters.digitraffic import load_config
from services.adapters.digitraffic_tms import load_tms_config
from services.adapters.iot_agent import ProvisioningError, Provisioning, device_from, service_group_from
from services.config import PROJECT_ROOT, Settings
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
    ("city/digitraffic/maintenance-v2/routes/state-roads", {"time": 1668157878, "x": 22.0, "y": 62.5}, "wrong_topic"),
    ("city/digitraffic/weather-v2/1158", {"value": 1, "time": 1548232500}, "wrong_topic"),
    ("city/digitraffic/weather-v2/1158/1", {"value": None, "time": 1548232500}, "invalid_value"),
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
        adapters.unregister_topic_adapter("test_city_feed")
    assert reasons(parse("city/mine/air-9", b"anything")) == ["wrong_topic"]


def test_cityops_own_topics_never_consult_the_topic_adapters(monkeypatch):
    def refuse(*_args):
        raise AssertionError("a topic adapter was consulted for a CityOps topic")

    monkeypatch.setattr(adapters, "topic_adapter_for", refuse)
    assert parse("city/telemetry/air-1", AIR).observations[0].values == {"no2": 22.0}


@pytest.mark.parametrize("sensors,fragment", [
    ("  - {id: 1, name: ILMA, attribute: roadTemperature, unit_code: CEL}\n", "not a WeatherObserved attribute"),
    ("  - {id: 1, name: ILMA, attribute: temperature, unit_code: KMH}\n", "cannot be converted to °C"),
    ("  - {id: 1, name: ILMA, unit_code: CEL}\n", "a sensor needs id, attribute, unit_code"),
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


# ---------------------------------------------------------------- Digitraffic traffic measurement stations (TMS)

TMS_CONFIG = """tms:
  stations:
    - {id: 23307, name: Testitie, lon: 24.946, lat: 60.168}
  sensors:
    - {id: 5122, name: KESKINOPEUS_5MIN_LIUKUVA_SUUNTA1, attribute: averageVehicleSpeed, unit_code: KMH, direction: 1}
    - {id: 5119, name: OHITUKSET_5MIN_LIUKUVA_SUUNTA2, attribute: intensity, window_minutes: 5, direction: 2}
    - {id: 5054, name: OHITUKSET_60MIN_KIINTEA_SUUNTA1, attribute: intensity, window_minutes: 60, direction: 1}
    - {id: 9001, name: LANE_2_SPEED, attribute: averageVehicleSpeed, unit_code: KMH, direction: 1, lane: 2}
"""
WINDOW = {"start": 1667966400, "end": 1667970000}  # 2022-11-09 04:00-05:00Z


def tms(tmp_path: Path) -> ParseContext:
    path = tmp_path / "digitraffic.yaml"
    path.write_text(TMS_CONFIG)
    return ParseContext(adapters={"digitraffic_tms": load_tms_config(path)})


def test_tms_speed_is_a_traffic_flow_observation_of_its_station_and_direction_at_its_windows_end(tmp_path):
    result = parse("city/digitraffic/tms-v2/23307/5122", {"value": 108, "time": 1667972911, **WINDOW}, tms(tmp_path))
    [observation] = result.observations
    assert (observation.entity_type, observation.device_id) == ("TrafficFlowObserved", "digitraffic-23307-5122")
    assert observation.values == {"averageVehicleSpeed": 108.0, "laneDirection": "forward"}
    assert (observation.lon, observation.lat) == (24.946, 60.168)
    assert observation.observed_at == datetime(2022, 11, 9, 5, 0, tzinfo=timezone.utc)


def test_tms_sliding_sensor_without_window_is_observed_at_its_time(tmp_path):
    result = parse("city/digitraffic/tms-v2/23307/5122", {"value": 84, "time": 1548231902}, tms(tmp_path))
    assert result.observations[0].observed_at == datetime(2019, 1, 23, 8, 25, 2, tzinfo=timezone.utc)


@pytest.mark.parametrize("sensor,message,vehicles,direction", [
    ("5119", {"value": 120, "time": 1667972911}, 10.0, "backward"),  # 120/h over the last 5 minutes
    ("5054", {"value": 612, "time": 1667972911, **WINDOW}, 612.0, "forward"),  # the passes of a 60-minute window
])
def test_tms_count_per_hour_is_stored_as_the_vehicles_of_its_window(tmp_path, sensor, message, vehicles, direction):
    [observation] = parse(f"city/digitraffic/tms-v2/23307/{sensor}", message, tms(tmp_path)).observations
    assert observation.values == {"intensity": vehicles, "laneDirection": direction}


def test_tms_lane_sensor_keeps_its_lane(tmp_path):
    [observation] = parse("city/digitraffic/tms-v2/23307/9001", {"value": 95, "time": 1667972911},
                          tms(tmp_path)).observations
    assert observation.values["laneId"] == 2.0


@pytest.mark.parametrize("topic,payload,reason", [
    ("city/digitraffic/tms-v2/99999/5122", {"value": 1, "time": 1667972911}, "unprovisioned"),
    ("city/digitraffic/tms-v2/23307/5158", {"value": 1, "time": 1667972911}, "unprovisioned"),  # % of free flow
    ("city/digitraffic/tms-v2/23307/5122", {"value": 400, "time": 1667972911}, "out_of_range"),
    ("city/digitraffic/tms-v2/23307/5119", {"value": "many", "time": 1667972911}, "invalid_value"),
    ("city/digitraffic/tms-v2/23307/5054", {"value": 5, "time": 1667972911, "start": 1667970000,
                                            "end": 1667966400}, "invalid_timestamp"),
    ("city/digitraffic/tms-v2/23307/5122", {"time": 1667972911}, "invalid_value"),
])
def test_tms_message_it_cannot_use_is_kept_with_its_reason(tmp_path, topic, payload, reason):
    assert reasons(parse(topic, payload, tms(tmp_path))) == [reason]


@pytest.mark.parametrize("sensor,fragment", [
    ("{id: 1, attribute: congested, unit_code: KMH, direction: 1}", "not a TrafficFlowObserved measure"),
    ("{id: 1, attribute: averageVehicleSpeed, unit_code: KMH, direction: 3}", "direction must be 1 or 2"),
    ("{id: 1, attribute: intensity, direction: 1}", "needs window_minutes"),
    ("{id: 1, attribute: averageVehicleSpeed, direction: 1}", "needs unit_code"),
    ("{id: 1, attribute: averageVehicleSpeed, unit_code: CEL, direction: 1}", "cannot be converted to km/h"),
    ("{id: 1, attribute: averageVehicleSpeed, unit_code: KMH}", "a TMS sensor needs id, attribute, direction"),
])
def test_tms_configuration_mistake_is_refused_at_start_naming_the_file(tmp_path, sensor, fragment):
    path = tmp_path / "digitraffic.yaml"
    path.write_text(f"tms:\n  stations: []\n  sensors:\n    - {sensor}\n")
    with pytest.raises(ValueError) as refused:
        load_tms_config(path)
    assert str(path) in str(refused.value) and fragment in str(refused.value)


# ---------------------------------------------------------------- HSL high-frequency positioning (HFP)

VP = {"desi": "81", "dir": "2", "oper": 40, "veh": 792, "tst": "2018-04-05T17:38:36Z", "tsi": 1522949916,
      "spd": 5.0, "hdg": 225, "lat": 60.194481, "long": 25.03095, "acc": 0, "dl": -25}
HFP_V2 = "/hfp/v2/journey/ongoing/vp/bus/0022/00792/1081/2/Itäkeskus/20:25/1454121/4/60;25/10/93/40"


def test_hfp_position_is_a_vehicle_state_of_the_topics_vehicle():
    [observation] = parse(HFP_V2, {"VP": VP}).observations
    assert (observation.entity_type, observation.device_id) == ("Vehicle", "hsl-0022-00792")  # not the trip's oper 40
    assert observation.values == {"speed": 18.0, "bearing": 225.0, "serviceStatus": "onRoute", "vehicleType": "bus"}
    assert (observation.lon, observation.lat) == (25.03095, 60.194481)
    assert observation.observed_at == datetime(2018, 4, 5, 17, 38, 36, tzinfo=timezone.utc)


def test_hfp_v1_dead_run_is_the_vehicle_out_of_service():
    [observation] = parse("/hfp/v1/deadrun/ongoing/bus/0022/00993", {"VP": {**VP, "spd": 0}}).observations
    assert observation.device_id == "hsl-0022-00993" and observation.values["serviceStatus"] == "outOfService"


@pytest.mark.parametrize("mode,vehicle_type", [("tram", "tram"), ("ubus", "bus"), ("robot", "bus"), ("ferry", "ferry")])
def test_hfp_transport_mode_is_the_vehicle_type(mode, vehicle_type):
    topic = HFP_V2.replace("/vp/bus/", f"/vp/{mode}/")
    assert parse(topic, {"VP": VP}).observations[0].values["vehicleType"] == vehicle_type


def test_hfp_position_without_tst_takes_tsi():
    observation = parse(HFP_V2, {"VP": {**VP, "tst": None}}).observations[0]
    assert observation.observed_at == datetime(2018, 4, 5, 17, 38, 36, tzinfo=timezone.utc)


@pytest.mark.parametrize("topic,payload,reason", [
    (HFP_V2.replace("/vp/", "/dep/"), {"DEP": VP}, "wrong_topic"),  # a stop event, not a position
    (HFP_V2.replace("/ongoing/", "/upcoming/"), {"VP": VP}, "wrong_topic"),
    ("/hfp/v3/journey/ongoing/vp/bus/0022/00792/x", {"VP": VP}, "wrong_topic"),
    (HFP_V2, {"vp": VP}, "invalid_value"),
    (HFP_V2, {"VP": {**VP, "lat": None, "long": None}}, "missing_location"),  # no GPS fix
])
def test_hfp_message_it_cannot_use_is_kept_with_its_reason(topic, payload, reason):
    assert reasons(parse(topic, payload)) == [reason]


def test_hfp_position_with_an_impossible_speed_is_kept_without_it():
    result = parse(HFP_V2, {"VP": {**VP, "spd": -3.0}})
    assert reasons(result) == ["partial"] and "speed" not in result.observations[0].values


def test_ingest_subscribes_to_hfp_positions_of_ongoing_journeys():
    subscriptions = Ingest(Settings.from_env({}), create_engine("sqlite://"), context=ParseContext()).subscriptions
    assert {"/hfp/v2/+/ongoing/vp/#", "/hfp/v1/+/ongoing/#"} <= set(subscriptions)


# ---------------------------------------------------------------- dispatch on the topic's first level

def test_topic_is_offered_only_to_the_adapters_of_its_first_level(tmp_path):
    asked: list[str] = []

    @adapters.register_topic_adapter("test_any_level", "A feed of no fixed level",
                                      match=lambda parts, root: asked.append("/".join(parts)))
    def read(found, payload, context, received_at):
        return []

    try:
        parse(HFP_V2, {"VP": VP})
        parse("city/digitraffic/tms-v2/23307/5122", {"value": 108, "time": 1667972911}, tms(tmp_path))
        assert asked == []  # each found by its level's adapter without asking the others
        assert reasons(parse("/elsewhere/feed", b"{}")) == ["wrong_topic"] and asked == ["/elsewhere/feed"]
    finally:
        adapters.unregister_topic_adapter("test_any_level")


def test_unread_topic_on_an_adapters_level_is_refused_naming_what_is_read():
    [rejection] = parse("city/digitraffic/maintenance-v2/routes/state-roads", {"time": 1668157878}).rejections
    assert "tms-v2/<station>/<sensor>" in rejection.detail and "weather-v2/<station>/<sensor>" in rejection.detail


@pytest.mark.parametrize("module", [*adapters.PLUGINS, "services.adapters.digitraffic_common"])
def test_any_plugin_module_may_be_imported_first(module):
    """The plug-ins import services.telemetry; it must not import them back while they load."""
    code = (f"import {module}\nfrom services import adapters\n"
            "assert len(adapters.extra_subscriptions()) >= 5, adapters.TOPIC_ADAPTERS")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
