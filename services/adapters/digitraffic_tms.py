"""Finnish traffic measurement stations (Digitraffic TMS, "LAM") as TrafficFlowObserved.

Digitraffic publishes each computed value of its ~500 TMS stations (induction loops) as
``tms-v2/<roadStationId>/<sensorId>``, bridged like the road weather feed into
``<root>/digitraffic/tms-v2/<station>/<sensor>``. Payload:
``{"value": 108, "time": 1667972911, "start": 1667966400, "end": 1667970000}``: ``time`` is when
the value was computed; ``start``/``end`` bound the fixed time window it describes (sensors named
``..._KIINTEA``; the sliding ``..._LIUKUVA`` ones cover the last minutes before ``time``).

A TMS sensor is one quantity for one direction of the road (``..._SUUNTA1`` / ``_SUUNTA2``):
the average speed in km/h (``KESKINOPEUS_...``) or the vehicles passing, as a rate per hour
(``OHITUKSET_...``, unit kpl/h). Neither the station's place nor the sensor's meaning is in the
message: both come from Digitraffic's metadata (``/api/tms/v1/stations``, ``/api/tms/v1/sensors``),
written in the ``tms:`` section of config/digitraffic.yaml.

Each value becomes one TrafficFlowObserved of the device ``digitraffic-<station>-<sensor>`` (the
road weather feed's naming; one device per sensor for the same reason: a station's sensors
report at the same instant). Direction 1 (increasing road address) is ``laneDirection``
``forward``, 2 ``backward``; a per-lane sensor's lane is ``laneId``. The time is the window's
end when the message gives one (SPEC section 4: an interval uses its end), else ``time``.
CityOps's ``intensity`` is a count of vehicles in the observation period (the Smart Data
Models' definition), so a rate per hour becomes the count in the sensor's window:
``value * window / 1 h`` (the message's window, else the sensor's ``window_minutes``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from services.adapters import Adapted, register_topic_adapter
from services.adapters.digitraffic_common import (LEVEL, FeedConfig, checked_unit, feed_topic_matcher, provisioned,
                                                  read_document, read_sensor_message, read_stations, station_point)
from services.i18n import say
from services.telemetry import (ENTITY_SPECS, CaseInsensitiveAttributes, Rejected, from_unix_seconds, read_measures,
                                to_number)

log = logging.getLogger("cityops.digitraffic")

TRAFFIC = ENTITY_SPECS["TrafficFlowObserved"]
TRAFFIC_UNITS = {m.name: m.unit for m in TRAFFIC.measures}
MEASURED = sorted(set(TRAFFIC_UNITS) - {"laneId"})  # what a sensor may measure (laneId is its lane)
LANE_DIRECTIONS = {1: "forward", 2: "backward"}  # Digitraffic SUUNTA1 / SUUNTA2
COUNT = "intensity"  # sent as vehicles per hour; stored as vehicles in the window


@dataclass(frozen=True)
class TmsSensor:
    id: str
    name: str
    attribute: str  # the TrafficFlowObserved attribute it measures
    direction: int  # 1 or 2
    unit_code: str | None = None  # UN/CEFACT code of its unit (not for counts)
    window_minutes: float | None = None  # counts: the window of a sliding sensor
    lane: int | None = None


def load_tms_config(path: Path) -> FeedConfig:
    document = read_document(path)
    section = document.get("tms") or {}
    stations = read_stations(section.get("stations"), path)
    sensors = {sensor.id: sensor for sensor in (_sensor(raw, path) for raw in section.get("sensors") or [])}
    return FeedConfig(stations, sensors, str(document.get("device_prefix", "digitraffic-")))


def _sensor(raw: dict, path: Path) -> TmsSensor:
    try:
        sensor = TmsSensor(
            str(raw["id"]), str(raw.get("name") or raw["id"]), str(raw["attribute"]), int(raw["direction"]),
            str(raw["unit_code"]) if raw.get("unit_code") is not None else None,
            float(raw["window_minutes"]) if raw.get("window_minutes") is not None else None,
            int(raw["lane"]) if raw.get("lane") is not None else None)
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path}: a TMS sensor needs id, attribute, direction (and unit_code, or "
                         f"window_minutes for a count) ({error!r})") from None
    where = f"{path}: TMS sensor {sensor.id}"
    if sensor.attribute not in MEASURED:
        raise ValueError(f"{where} maps to {sensor.attribute!r}, not a TrafficFlowObserved measure "
                         f"({', '.join(MEASURED)})")
    if sensor.direction not in LANE_DIRECTIONS:
        raise ValueError(f"{where}: direction must be 1 or 2 (Digitraffic's SUUNTA1 / SUUNTA2)")
    if sensor.attribute == COUNT:
        if not sensor.window_minutes or sensor.window_minutes <= 0:
            raise ValueError(f"{where}: a count (kpl/h) needs window_minutes, the minutes it counts over")
    elif sensor.unit_code is None:
        raise ValueError(f"{where}: needs unit_code (KMH for km/h)")
    else:
        checked_unit(path, sensor.id, sensor.unit_code, TRAFFIC_UNITS[sensor.attribute])
    return sensor


def configure(settings, engine) -> FeedConfig:
    config = load_tms_config(settings.digitraffic_file)
    log.info("Digitraffic: %d TMS stations, %d TMS sensors from %s", len(config.stations), len(config.sensors),
             settings.digitraffic_file)
    return config


@register_topic_adapter("digitraffic_tms", "Digitraffic traffic measurement stations (TMS, Finland): "
                        "tms-v2/<station>/<sensor>", match=feed_topic_matcher("tms-v2"), configure=configure,
                        level=LEVEL, under_root=True)
def read_tms_sensor(found: tuple[str, str], payload: bytes, context, received_at) -> list[Adapted]:
    config: FeedConfig = context.adapters.get("digitraffic_tms") or FeedConfig()
    station, sensor, device_id = provisioned(config, found, "TMS", "TrafficFlowObserved",
                                             "tms: in config/digitraffic.yaml")
    reading = read_sensor_message(payload)
    window = _window(reading)
    entity = {
        "id": device_id, "type": "TrafficFlowObserved", "location": station_point(station),
        "dateObserved": "/".join(moment.isoformat() for moment in window) if window
        else from_unix_seconds(reading["time"], "time").isoformat(),
        "laneDirection": LANE_DIRECTIONS[sensor.direction],
        sensor.attribute: _value(reading, sensor, window),
    }
    if sensor.lane is not None:
        entity["laneId"] = sensor.lane
    return [Adapted("telemetry", device_id, [entity])]


def _window(reading: dict):
    """(start, end) of a fixed-window sensor's message; None for a sliding one."""
    if reading.get("start") is None or reading.get("end") is None:
        return None
    start, end = from_unix_seconds(reading["start"], "start"), from_unix_seconds(reading["end"], "end")
    if end <= start:
        raise Rejected("invalid_timestamp", say("the window ends ({end}) before it starts ({start})",
                                                end=repr(reading["end"]), start=repr(reading["start"])))
    return start, end


def _value(reading: dict, sensor: TmsSensor, window) -> float:
    """The sensor's value in CityOps's unit, checked here: the entity's only measure, so a value
    that cannot be used rejects the message rather than leaving an observation of its direction alone."""
    if sensor.attribute == COUNT:
        seconds = (window[1] - window[0]).total_seconds() if window else sensor.window_minutes * 60.0
        sent = round(to_number(reading["value"], "value") * seconds / 3600.0, 3)
    else:
        sent = {"type": "Property", "value": reading["value"], "unitCode": sensor.unit_code}
    unusable: list[tuple[str, Rejected]] = []
    values = read_measures(CaseInsensitiveAttributes({sensor.attribute: sent}), TRAFFIC, unusable)
    if unusable:
        raise unusable[0][1]
    return values[sensor.attribute]
