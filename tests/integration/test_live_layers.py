"""The live map layers and the wall's headline figures, read from what the ingest stored, on both databases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from components.history import history_figure
from services.config import Settings
from services.devices import device_observations, get_device
from services.headlines import headlines
from services.layers import build_layer, load_plugins
from services.runtime import open_runtime
from services.snapshot import LiveSnapshot
from services.store import Batch, ObservationStore
from services.telemetry import ObservationIn

NOW = datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def runtime(database_url, tiny_city, tmp_path):
    load_plugins()
    runtime = open_runtime(Settings.from_env({}, database_url=database_url, city=str(tiny_city), data_dir=tmp_path))
    yield runtime
    runtime.engine.dispose()  # its idle connections: the PostgreSQL server is shared by every test


def reading(device_id: str, entity_type: str, values: dict, lon: float = 24.945, lat: float = 60.170,
            seconds_ago: float = 5) -> ObservationIn:
    return ObservationIn(device_id=device_id, entity_type=entity_type, observed_at=NOW - timedelta(seconds=seconds_ago),
                         received_at=NOW, lon=lon, lat=lat, values=values)


def properties(runtime, layer: str) -> dict:
    data = build_layer(layer, runtime.engine, runtime.city, datetime.now(timezone.utc))
    return {str(feature["id"]): feature["properties"] for feature in data.features}


def test_traffic_air_and_flood_layers_show_the_stored_readings(runtime):
    ObservationStore(runtime.engine).write(Batch(observations=[
        reading("road-1", "TrafficFlowObserved", {"averageVehicleSpeed": 12.5}),
        reading("air-1", "AirQualityObserved", {"pm25": 80.0}, lon=24.940),
        reading("flood-1", "FloodMonitoring", {"currentLevel": 2.5}, lon=24.951, lat=60.166),
    ]))

    assert properties(runtime, "traffic")["road-1"]["value"] == 12.5
    air = properties(runtime, "air")["air-1"]
    assert air["pm25"] == 80.0 and air["aqi_us"] > 150
    flood = properties(runtime, "flood")["flood-1"]
    assert (flood["value"], flood["alert"], flood["danger"], flood["level"]) == (2.5, 1.2, 2.0, 2)


def test_a_later_reading_replaces_the_one_shown(runtime):
    store = ObservationStore(runtime.engine)
    store.write(Batch(observations=[reading("road-1", "TrafficFlowObserved", {"averageVehicleSpeed": 40.0},
                                            seconds_ago=20)]))
    assert properties(runtime, "traffic")["road-1"]["value"] == 40.0
    store.write(Batch(observations=[reading("road-1", "TrafficFlowObserved", {"averageVehicleSpeed": 7.0})]))
    assert properties(runtime, "traffic")["road-1"]["value"] == 7.0


def test_an_unregistered_station_is_coloured_by_the_levels_it_reports(runtime):
    ObservationStore(runtime.engine).write(Batch(observations=[
        reading("river-9", "WaterObserved", {"height": 1.5, "alertLevel": 1.0, "dangerLevel": 3.0}),
    ]))

    flood = properties(runtime, "flood")["river-9"]
    assert (flood["alert"], flood["danger"], flood["level"]) == (1.0, 3.0, 1)


def test_wall_headlines_show_the_worst_air_and_the_flood_stations(runtime):
    ObservationStore(runtime.engine).write(Batch(observations=[
        reading("air-1", "AirQualityObserved", {"pm25": 80.0}, lon=24.940),
        reading("flood-1", "FloodMonitoring", {"currentLevel": 1.5}, lon=24.951, lat=60.166),
    ]))
    snapshot = LiveSnapshot().next_tick(runtime.engine, runtime.city)

    figures = {figure.key: figure for figure in headlines(snapshot)}
    assert figures["aqi"].value.isdigit() and int(figures["aqi"].value) > 150
    assert (figures["aqi"].label, figures["aqi"].note) == ("Worst US AQI", "Unhealthy · Kamppi air")
    assert figures["flood"].value == "1/1"


def test_the_wall_tile_names_the_screens_aqi_standard_and_its_category(runtime):
    ObservationStore(runtime.engine).write(Batch(observations=[
        reading("air-1", "AirQualityObserved", {"pm25": 80.0}, lon=24.940)]))
    snapshot = LiveSnapshot().next_tick(runtime.engine, runtime.city)

    tile = next(figure for figure in headlines(snapshot, "cn-hj633-2012") if figure.key == "aqi")
    assert (tile.label, tile.value, tile.note) == ("Worst China AQI", "107", "Lightly polluted · Kamppi air")


def level_lines(runtime, device_id: str) -> list[float]:
    device = get_device(runtime.engine, device_id)
    history = device_observations(runtime.engine, device_id)
    return sorted(shape.y0 for shape in history_figure(device, history, "Europe/Helsinki").layout.shapes)


def test_device_history_chart_draws_the_alert_and_danger_lines_the_station_reports_or_the_registry_has(runtime):
    ObservationStore(runtime.engine).write(Batch(observations=[
        reading("flood-1", "FloodMonitoring", {"currentLevel": 1.5}, lon=24.951, lat=60.166),
        reading("river-9", "WaterObserved", {"height": 1.5, "alertLevel": 1.0, "dangerLevel": 3.0}),
    ]))

    assert level_lines(runtime, "flood-1") == [1.2, 2.0]  # registered
    assert level_lines(runtime, "river-9") == [1.0, 3.0]  # reported by the station itself
