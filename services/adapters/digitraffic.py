"""Finnish road weather stations (Digitraffic, Fintraffic) as WeatherObserved: the worked example
of docs/ADAPTERS.md.

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
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from services.adapters import Adapted, register_topic_adapter
from services.telemetry import ENTITY_SPECS, Rejected, decode_json, to_number
from services.units_of_measure import UnitError, convert

log = logging.getLogger("cityops.digitraffic")

WEATHER_UNITS = {m.name: m.unit for m in ENTITY_SPECS["WeatherObserved"].measures}


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class Sensor:
    id: str
    name: str
    attribute: str  # the WeatherObserved attribute it measures
    unit_code: str  # UN/CEFACT code of Digitraffic's unit for it


@dataclass(frozen=True)
class DigitrafficConfig:
    stations: dict[str, Station] = field(default_factory=dict)
    sensors: dict[str, Sensor] = field(default_factory=dict)
    device_prefix: str = "digitraffic-"


def load_config(path: Path) -> DigitrafficConfig:
    if not path.exists():
        return DigitrafficConfig()
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    try:
        stations = {str(raw["id"]): Station(str(raw["id"]), str(raw.get("name") or raw["id"]), float(raw["lon"]),
                                            float(raw["lat"])) for raw in document.get("stations") or []}
        sensors = {str(raw["id"]): Sensor(str(raw["id"]), str(raw.get("name") or raw["id"]), str(raw["attribute"]),
                                          str(raw["unit_code"])) for raw in document.get("sensors") or []}
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: a station needs id, lon, lat; a sensor id, attribute, unit_code ({error!r})") from None
    for sensor in sensors.values():
        if sensor.attribute not in WEATHER_UNITS:
            raise ValueError(f"{path}: sensor {sensor.id} maps to {sensor.attribute!r}, "
                             f"not a WeatherObserved attribute ({', '.join(sorted(WEATHER_UNITS))})")
        try:
            convert(0.0, sensor.unit_code, WEATHER_UNITS[sensor.attribute])
        except UnitError as error:
            raise ValueError(f"{path}: sensor {sensor.id}: {error}") from None
    return DigitrafficConfig(stations, sensors, str(document.get("device_prefix", "digitraffic-")))


def configure(settings, engine) -> DigitrafficConfig:
    config = load_config(settings.digitraffic_file)
    log.info("Digitraffic: %d road weather stations, %d sensors from %s", len(config.stations),
             len(config.sensors), settings.digitraffic_file)
    return config


def match_digitraffic_topic(parts: list[str], root_parts: list[str]) -> list[str] | None:
    """The topic below ``<root>/digitraffic/`` (Digitraffic's own topic), or None."""
    rest = parts[len(root_parts):]
    if parts[: len(root_parts)] == root_parts and len(rest) >= 2 and rest[0] == "digitraffic":
        return rest[1:]
    return None


@register_topic_adapter("digitraffic", "Digitraffic road weather stations (Finland)",
                        match=match_digitraffic_topic, configure=configure)
def read_weather_sensor(native_topic: list[str], payload: bytes, context, received_at) -> list[Adapted]:
    if len(native_topic) != 3 or native_topic[0] != "weather-v2":
        raise Rejected("wrong_topic", f"the Digitraffic adapter reads weather-v2/<station>/<sensor> "
                                      f"(road weather stations), not {'/'.join(native_topic)!r}")
    station_id, sensor_id = native_topic[1], native_topic[2]
    config: DigitrafficConfig = context.adapters.get("digitraffic") or DigitrafficConfig()
    station = config.stations.get(station_id)
    if station is None:
        raise Rejected("unprovisioned", f"Digitraffic road weather station {station_id} is not in the city's "
                                        "station list (config/digitraffic.yaml)")
    sensor = config.sensors.get(sensor_id)
    if sensor is None:
        raise Rejected("unprovisioned", f"Digitraffic weather sensor {sensor_id} maps to no WeatherObserved "
                                        "attribute (config/digitraffic.yaml)")
    reading = decode_json(payload)
    if not isinstance(reading, dict) or "value" not in reading or "time" not in reading:
        raise Rejected("invalid_value", "a Digitraffic sensor message is {\"value\": ..., \"time\": <Unix seconds>}")
    measured = to_number(reading["time"], "time")
    try:
        observed_at = datetime.fromtimestamp(measured, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Rejected("invalid_timestamp", f"time={reading['time']!r} is not a Unix time") from None
    device_id = f"{config.device_prefix}{station.id}-{sensor.id}"
    entity = {
        "id": device_id, "type": "WeatherObserved", "name": f"{station.name} {sensor.name}",
        "dateObserved": observed_at.isoformat(),
        "location": {"type": "Point", "coordinates": [station.lon, station.lat]},
        sensor.attribute: {"type": "Property", "value": reading["value"], "unitCode": sensor.unit_code},
    }
    return [Adapted("telemetry", device_id, [entity])]
