"""Small shared pieces of the simulator: the outgoing message, time stamps, geometry, device kinds."""
from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from datetime import datetime, timezone

EARTH_RADIUS_M = 6_371_000.0

DEFAULT_INTERVAL_S = {"traffic": 60, "air": 60, "weather": 60, "flood": 30, "water": 30, "unit": 5}

_KIND_BY_TYPE = {
    "trafficflowobserved": "traffic", "traffic": "traffic",
    "airqualityobserved": "air", "air": "air", "airquality": "air",
    "weatherobserved": "weather", "weather": "weather",
    "floodmonitoring": "flood", "flood": "flood",
    "waterobserved": "water", "water": "water",
}

ENTITY_TYPE = {
    "traffic": "TrafficFlowObserved", "air": "AirQualityObserved", "weather": "WeatherObserved",
    "flood": "FloodMonitoring", "water": "WaterObserved",
}


@dataclass(frozen=True)
class OutgoingMessage:
    """One MQTT publication the simulator wants made."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False

    def json(self):
        return json.loads(self.payload)


def message(topic: str, body) -> OutgoingMessage:
    return OutgoingMessage(topic, json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def device_kind(device: dict) -> str | None:
    """traffic | air | weather | flood | water, from the device's declared (entity) type."""
    for key in ("entity_type", "model", "type"):
        kind = _KIND_BY_TYPE.get(str(device.get(key, "")).replace("_", "").replace(" ", "").lower())
        if kind:
            return kind
    return None


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with a Z, whole seconds (the sim clock never has fractions)."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def child_rng(seed: int, name: str) -> random.Random:
    """An independent, reproducible random stream per concern, so adding one never shifts another."""
    return random.Random(f"{seed}:{name}")


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Equirectangular distance; plenty for a city."""
    mean_lat = math.radians((a[1] + b[1]) / 2)
    dx = math.radians(b[0] - a[0]) * math.cos(mean_lat)
    dy = math.radians(b[1] - a[1])
    return EARTH_RADIUS_M * math.hypot(dx, dy)


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Compass heading from a to b (0 = north, 90 = east)."""
    mean_lat = math.radians((a[1] + b[1]) / 2)
    dx = (b[0] - a[0]) * math.cos(mean_lat)
    dy = b[1] - a[1]
    return (math.degrees(math.atan2(dx, dy)) + 360.0) % 360.0


def smooth_pulse(x: float, rise: float = 0.3) -> float:
    """0 -> 1 -> 0 over x in [0, 1]: a quick smooth rise, a longer decay."""
    if x <= 0 or x >= 1:
        return 0.0
    if x < rise:
        return math.sin(math.pi / 2 * x / rise) ** 2
    return math.cos(math.pi / 2 * (x - rise) / (1 - rise)) ** 2


def gaussian_bump(hours: float, centre: float, width: float) -> float:
    return math.exp(-0.5 * ((hours - centre) / width) ** 2)


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}
