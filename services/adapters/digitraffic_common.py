"""What every Digitraffic feed shares (services/adapters/digitraffic.py, digitraffic_tms.py): the
topic ``<root>/digitraffic/<feed>/<station>/<sensor>``, the sensor message ``{"value", "time"}``
and the station list of config/digitraffic.yaml.

A module of its own, not a plug-in: it registers nothing, and either feed may be imported first.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import yaml

from services.i18n import say
from services.telemetry import Rejected, decode_json
from services.units_of_measure import UnitError, convert

LEVEL = "digitraffic"  # <root>/digitraffic/<Digitraffic's own topic>


@dataclass(frozen=True)
class Station:
    id: str
    name: str
    lon: float
    lat: float


@dataclass(frozen=True)
class FeedConfig:
    """One Digitraffic feed's provisioning: the stations the city wants, the sensors it reads."""

    stations: dict[str, Station] = field(default_factory=dict)
    sensors: dict[str, Any] = field(default_factory=dict)  # each feed's own sensor type
    device_prefix: str = "digitraffic-"


def read_document(path: Path) -> dict:
    """config/digitraffic.yaml (an absent file: nothing provisioned)."""
    if not path.exists():
        return {}
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(document, dict):
        raise ValueError(f"{path}: expected a mapping with stations, sensors (and tms:)")
    return document


def read_stations(raw_stations: Any, path: Path) -> dict[str, Station]:
    try:
        return {str(raw["id"]): Station(str(raw["id"]), str(raw.get("name") or raw["id"]), float(raw["lon"]),
                                        float(raw["lat"])) for raw in raw_stations or []}
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: a station needs id, lon, lat ({error!r})") from None


def checked_unit(path: Path, sensor_id: str, unit_code: str, unit: str) -> None:
    try:
        convert(0.0, unit_code, unit)
    except UnitError as error:
        raise ValueError(f"{path}: sensor {sensor_id}: {error}") from None


def feed_topic_matcher(feed: str) -> Callable[[list[str], list[str]], tuple[str, str] | None]:
    """The ``match`` of one Digitraffic feed: (station, sensor) of ``<root>/digitraffic/<feed>/<station>/<sensor>``."""

    def match(parts: list[str], root_parts: list[str]) -> tuple[str, str] | None:
        depth = len(root_parts)
        if len(parts) == depth + 4 and parts[depth + 1] == feed and parts[depth + 2] and parts[depth + 3]:
            return parts[depth + 2], parts[depth + 3]
        return None

    return match


def read_sensor_message(payload: bytes) -> dict:
    """A Digitraffic sensor message: ``{"value", "time"}`` (TMS also ``start``, ``end``; Unix seconds)."""
    reading = decode_json(payload)
    if not isinstance(reading, dict) or reading.get("value") is None or "time" not in reading:
        raise Rejected("invalid_value", say("a Digitraffic sensor message is {shape}",
                                            shape='{"value": ..., "time": <Unix seconds>}'))
    return reading


def station_point(station: Station) -> dict:
    return {"type": "Point", "coordinates": [station.lon, station.lat]}


def provisioned(config: FeedConfig, found: tuple[str, str], feed: str, entity_type: str, where: str):
    """(station, sensor, device id) of a message on ``.../<station>/<sensor>``; refused as
    ``unprovisioned`` when the city's list (``where``, in config/digitraffic.yaml) lacks either."""
    station_id, sensor_id = found
    station = config.stations.get(station_id)
    if station is None:
        raise Rejected("unprovisioned", say("Digitraffic {feed} station {station} is not in the city's station list "
                                            "({where})", feed=feed, station=station_id, where=where))
    sensor = config.sensors.get(sensor_id)
    if sensor is None:
        raise Rejected("unprovisioned", say("Digitraffic {feed} sensor {sensor} maps to no {type} attribute ({where})",
                                            feed=feed, sensor=sensor_id, type=entity_type, where=where))
    return station, sensor, f"{config.device_prefix}{station.id}-{sensor.id}"
