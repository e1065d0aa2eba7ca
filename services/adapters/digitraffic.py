"""Finnish road weather stations (Digitraffic, Fintraffic) as WeatherObserved: the worked example
of docs/ADAPTERS.md. Its traffic counters are services/adapters/digitraffic_tms.py.

Digitraffic publishes each sensor reading of its road weather stations on its MQTT broker
(wss://tie.digitraffic.fi/mqtt) as ``weather-v2/<roadStationId>/<sensorId>`` with the payload
``{"value": 11068, "time": 1667973021}`` (``time``: the measurement time, Unix seconds). The
city bridges those topics into its own broker under ``<root>/digitraffic/`` (a Mosquitto bridge
line, see docs/ADAPTERS.md). A message names neither where the station is nor what the sensor
measures: both come from Digitraffic's metadata (``/api/weather/v1/stations``,
``/api/weather/v1/sensors``), copied into config/digitraffic.yaml for the stations the city
wants and the sensors WeatherObserved has an attribute for.

Each reading becomes one WeatherObserved entity of the device ``digitraffic-<station>-<sensor>``:
a station's sensors report at the same instant, and one observation is identified by
(device, time, type), so one device per station would keep only one sensor per instant.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from services.adapters import Adapted, register_topic_adapter
from services.adapters.digitraffic_common import (LEVEL, FeedConfig, checked_unit, feed_topic_matcher, provisioned,
                                                  read_document, read_sensor_message, read_stations, station_point)
from services.telemetry import ENTITY_SPECS, from_unix_seconds

log = logging.getLogger("cityops.digitraffic")

WEATHER_UNITS = {m.name: m.unit for m in ENTITY_SPECS["WeatherObserved"].measures}


@dataclass(frozen=True)
class Sensor:
    id: str
    name: str
    attribute: str  # the WeatherObserved attribute it measures
    unit_code: str  # UN/CEFACT code of Digitraffic's unit for it


# ---------------------------------------------------------------- road weather stations

def load_config(path: Path) -> FeedConfig:
    document = read_document(path)
    stations = read_stations(document.get("stations"), path)
    try:
        sensors = {str(raw["id"]): Sensor(str(raw["id"]), str(raw.get("name") or raw["id"]), str(raw["attribute"]),
                                          str(raw["unit_code"])) for raw in document.get("sensors") or []}
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: a sensor needs id, attribute, unit_code ({error!r})") from None
    for sensor in sensors.values():
        if sensor.attribute not in WEATHER_UNITS:
            raise ValueError(f"{path}: sensor {sensor.id} maps to {sensor.attribute!r}, "
                             f"not a WeatherObserved attribute ({', '.join(sorted(WEATHER_UNITS))})")
        checked_unit(path, sensor.id, sensor.unit_code, WEATHER_UNITS[sensor.attribute])
    return FeedConfig(stations, sensors, str(document.get("device_prefix", "digitraffic-")))


def configure(settings, engine) -> FeedConfig:
    config = load_config(settings.digitraffic_file)
    log.info("Digitraffic: %d road weather stations, %d sensors from %s", len(config.stations),
             len(config.sensors), settings.digitraffic_file)
    return config


@register_topic_adapter("digitraffic", "Digitraffic road weather stations (Finland): weather-v2/<station>/<sensor>",
                        match=feed_topic_matcher("weather-v2"), configure=configure, level=LEVEL, under_root=True)
def read_weather_sensor(found: tuple[str, str], payload: bytes, context, received_at) -> list[Adapted]:
    config: FeedConfig = context.adapters.get("digitraffic") or FeedConfig()
    station, sensor, device_id = provisioned(config, found, "road weather", "WeatherObserved",
                                             "config/digitraffic.yaml")
    reading = read_sensor_message(payload)
    entity = {
        "id": device_id, "type": "WeatherObserved", "name": f"{station.name} {sensor.name}",
        "dateObserved": from_unix_seconds(reading["time"], "time").isoformat(), "location": station_point(station),
        sensor.attribute: {"type": "Property", "value": reading["value"], "unitCode": sensor.unit_code},
    }
    return [Adapted("telemetry", device_id, [entity])]
