"""Drills: scripted scenarios the simulator plays through MQTT, on the same topics as real devices.

A drill is data (``DRILLS`` below): how long it lasts and what it does to the readings (rain,
water levels, traffic speeds, air pollution) and which calls it makes (citizen reports at its
scene). Its strength follows an envelope: it builds up over the first quarter, holds, and eases
off over the last quarter. Everything a drill touches carries ``"drill": "<name>"``: the entity
keeps its real device and topic (so the ingest, the rules and the alarms react as in reality) and
the ingest keeps the marker (services/drills.py marks the alarms and incidents raised from it).

The scene of a drill is the road junction nearest the city's centre (city.json), the same every run.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from services.city import City

from .common import OutgoingMessage, clamp, iso, message, metres_between, point
from .roads import RoadNetwork

DRILL_ATTRIBUTE = "drill"


@dataclass(frozen=True)
class Call:
    """Citizens calling about the drill's scene: one report per caller, each its own incident (one unit each)."""

    at_minute: float
    service_code: str
    service_name: str
    description: str
    callers: int = 1


@dataclass(frozen=True)
class Drill:
    name: str
    title: str
    description: str
    minutes: float
    rain_mmh: float = 0.0  # weather stations report at least this rain at the peak
    water_over_danger_m: float | None = None  # water and flood stations rise to their danger level + this
    jam_ratio: float | None = None  # traffic counters near the scene fall to this fraction of free flow
    jam_radius_m: float = 1500.0
    pm25_add: float = 0.0  # air stations: micrograms per m3 added at the peak
    no2_add: float = 0.0
    calls: tuple[Call, ...] = ()

    def strength(self, elapsed: timedelta) -> float:
        """0 before and after, rising to 1 over the first quarter, 1 until the last quarter, then falling."""
        x = elapsed / timedelta(minutes=self.minutes)
        if x < 0 or x >= 1:
            return 0.0
        ramp = clamp(min(x, 1 - x) / 0.25, 0.0, 1.0)
        return ramp * ramp * (3 - 2 * ramp)  # smoothstep


DRILLS: dict[str, Drill] = {d.name: d for d in (
    Drill("storm", "Storm with flooding",
          "A cloudburst over the whole city: 60 mm/h of rain, every river and flood gauge past its alert and "
          "danger levels, calls about flooded streets.",
          minutes=60, rain_mmh=60.0, water_over_danger_m=0.3,
          calls=(Call(12, "flooding", "flooding", "Underpass flooded, a car is stuck in the water", 1),
                 Call(20, "DRN", "blocked drain", "Drains overflowing, water entering basements", 1))),
    Drill("rush-hour-crash", "Multi-vehicle accident at rush hour",
          "A pile-up at the central junction: traffic near it jams to a tenth of free flow and several callers "
          "ask for police, ambulances and the fire brigade.",
          minutes=45, jam_ratio=0.1,
          calls=(Call(1, "accident", "traffic accident", "Pile-up of several cars, people trapped", 3),
                 Call(3, "fire", "vehicle fire", "One of the crashed cars is burning", 1))),
    Drill("pollution", "Pollution episode",
          "A stagnant, windless day: PM2.5 and NO2 climb over every district to unhealthy levels.",
          minutes=90, pm25_add=120.0, no2_add=150.0),
    Drill("mass-casualty", "Mass-casualty incident",
          "A stand collapses at a public event in the centre: many injured, callers ask for several ambulances "
          "and the fire brigade.",
          minutes=60, jam_ratio=0.35, jam_radius_m=800.0,
          calls=(Call(1, "MCI", "mass casualty", "Stand collapsed at the event, many people injured", 4),
                 Call(4, "fire", "building collapse", "People trapped under the collapsed stand", 1))),
)}


def control_topic(root: str) -> str:
    """Where CityOps starts and stops drills (retained; services/drills.py)."""
    return f"{root.strip('/')}/sim/drill"


@dataclass(frozen=True)
class DrillOrder:
    """What the retained control message asks for: this drill, started then, over by until."""

    name: str
    started_at: datetime
    until: datetime


def read_control(payload: bytes) -> DrillOrder | None:
    """The control message; None for an empty (stop) or unreadable one."""
    try:
        body = json.loads(payload) if payload else None
        return DrillOrder(body["drill"], _utc(body["startedAt"]), _utc(body["until"]))
    except (ValueError, TypeError, KeyError):
        return None


def _utc(text) -> datetime:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("time without a zone")
    return moment.astimezone(timezone.utc)


class UnknownDrill(ValueError):
    def __init__(self, name: str):
        super().__init__(f"no drill named {name!r}; known: {', '.join(DRILLS)}")


def drill_named(name: str) -> Drill:
    try:
        return DRILLS[name]
    except KeyError:
        raise UnknownDrill(name) from None


@dataclass(frozen=True)
class Running:
    drill: Drill
    start: datetime

    @property
    def end(self) -> datetime:
        return self.start + timedelta(minutes=self.drill.minutes)


class DrillPlayer:
    """Applies the running drill to one step's messages: changes the readings it touches, adds its calls."""

    def __init__(self, city: City, roads: RoadNetwork, topic_root: str, water_levels: dict[str, tuple[float, float]]):
        self.topic_root = topic_root
        self.city_name = city.name
        minlon, minlat, maxlon, maxlat = city.bbox
        centre = city.meta.get("center") or ((minlon + maxlon) / 2, (minlat + maxlat) / 2)
        node = roads.nearest_node(float(centre[0]), float(centre[1]))
        self.scene: tuple[float, float] = tuple(roads.nodes[node])
        self._devices = {d["device_id"]: d for d in city.devices}
        self._water_levels = water_levels  # device id -> (alert, danger) in metres
        self.running: Running | None = None
        self.last_order: DrillOrder | None = None  # the control message played, so a redelivery is no restart
        self._calls_made = 0

    def start(self, drill: Drill, at: datetime) -> None:
        self.running, self._calls_made = Running(drill, at), 0

    def stop(self) -> None:
        self.running = None

    def apply(self, out: list[OutgoingMessage], moment: datetime) -> list[OutgoingMessage]:
        running = self.running
        if running is None:
            return out
        if moment >= running.end:
            self.running = None
            return out
        strength = running.drill.strength(moment - running.start)
        played = [self._play(m, running.drill, strength) if "/telemetry/" in m.topic else m for m in out]
        return played + self._calls(running, moment)

    # --- the readings ------------------------------------------------------------------------------
    def _play(self, outgoing: OutgoingMessage, drill: Drill, strength: float) -> OutgoingMessage:
        if strength <= 0:
            return outgoing
        try:
            body = json.loads(outgoing.payload)
        except ValueError:
            return outgoing  # a garbled message of a misbehaving device stays as it is
        if not isinstance(body, dict):
            return outgoing
        device_id = outgoing.topic.rsplit("/", 1)[-1]
        changed = {
            "WeatherObserved": self._rain, "FloodMonitoring": self._flood, "WaterObserved": self._water,
            "TrafficFlowObserved": self._jam, "AirQualityObserved": self._smog,
        }.get(body.get("type"), lambda *_: False)(body, device_id, drill, strength)
        if not changed:
            return outgoing
        normalized = isinstance(body.get("location"), dict) and body["location"].get("type") == "GeoProperty"
        body[DRILL_ATTRIBUTE] = {"type": "Property", "value": drill.name} if normalized else drill.name
        return message(outgoing.topic, body)

    @staticmethod
    def _number(body: dict, key: str) -> float | None:
        raw = body.get(key)
        if isinstance(raw, dict):  # the NGSI-LD normalized form some devices send
            raw = raw.get("value")
        try:
            return float(raw)
        except (TypeError, ValueError):
            return None

    @staticmethod
    def _set(body: dict, key: str, value) -> None:
        if isinstance(body.get(key), dict):
            body[key]["value"] = value
        else:
            body[key] = value

    def _rain(self, body, _device_id, drill: Drill, strength: float) -> bool:
        rain = self._number(body, "precipitation")
        if not drill.rain_mmh or rain is None:
            return False
        self._set(body, "precipitation", round(max(rain, drill.rain_mmh * strength), 1))
        return True

    def _raised(self, level: float, danger: float, drill: Drill, strength: float) -> float:
        target = danger + drill.water_over_danger_m
        return level + max(target - level, 0.0) * strength

    def _flood(self, body, _device_id, drill: Drill, strength: float) -> bool:
        level, danger = self._number(body, "currentLevel"), self._number(body, "dangerLevel")
        if drill.water_over_danger_m is None or level is None or danger is None:
            return False
        level = self._raised(level, danger, drill, strength)
        self._set(body, "currentLevel", round(level, 3))
        reference = self._number(body, "referenceLevel")
        if reference is not None:
            self._set(body, "measuredDistance", round(reference - level, 3))
        alert = self._number(body, "alertLevel")
        status = "Danger" if level >= danger else "Alert" if alert and level >= alert else "Normal"
        self._set(body, "floodLevelStatus", status)
        return True

    def _water(self, body, device_id, drill: Drill, strength: float) -> bool:
        level, levels = self._number(body, "height"), self._water_levels.get(device_id)
        if drill.water_over_danger_m is None or level is None or levels is None:
            return False
        self._set(body, "height", round(self._raised(level, levels[1], drill, strength), 3))
        return True

    def _jam(self, body, device_id, drill: Drill, strength: float) -> bool:
        device = self._devices.get(device_id, {})
        speed = self._number(body, "averageVehicleSpeed")
        if (drill.jam_ratio is None or speed is None or "lon" not in device
                or metres_between((device["lon"], device["lat"]), self.scene) > drill.jam_radius_m):
            return False
        free_flow = float(device.get("free_flow_kmh") or speed)
        jammed = min(speed, free_flow * drill.jam_ratio)
        self._set(body, "averageVehicleSpeed", round(speed + (jammed - speed) * strength, 1))
        occupancy = self._number(body, "occupancy") or 0.0
        self._set(body, "occupancy", round(max(occupancy, 0.95 * strength), 2))
        self._set(body, "congested", self._number(body, "averageVehicleSpeed") < 0.5 * free_flow)
        return True

    def _smog(self, body, _device_id, drill: Drill, strength: float) -> bool:
        if not (drill.pm25_add or drill.no2_add):
            return False
        for key, add in (("pm25", drill.pm25_add), ("pm10", drill.pm25_add * 1.3), ("no2", drill.no2_add)):
            value = self._number(body, key)
            if value is not None and add:
                self._set(body, key, round(value + add * strength, 1))
        return True

    # --- the calls -------------------------------------------------------------------------------------
    def _calls(self, running: Running, moment: datetime) -> list[OutgoingMessage]:
        due = [(call, k) for call in running.drill.calls for k in range(call.callers)
               if running.start + timedelta(minutes=call.at_minute) <= moment]
        out = []
        for call, k in due[self._calls_made:]:
            self._calls_made += 1
            out.append(message(f"{self.topic_root}/reports", self._report(running, call, k, self._calls_made)))
        return out

    def _report(self, running: Running, call: Call, caller: int, number: int) -> dict:
        # callers stand around the scene, a few tens of metres apart
        lon = self.scene[0] + 0.0003 * ((caller % 3) - 1)
        lat = self.scene[1] + 0.0002 * ((caller // 3) - 0.5)
        request_id = f"DRILL-{running.drill.name}-{running.start:%y%m%d-%H%M%S}-{number}"
        at = running.start + timedelta(minutes=call.at_minute)
        return {
            "id": f"urn:ngsi-ld:Open311ServiceRequest:{request_id}",
            "type": "Open311ServiceRequest",
            "service_request_id": request_id,
            "service_code": call.service_code,
            "service_name": call.service_name,
            "description": f"DRILL {running.drill.title}: {call.description}",
            "status": "open",
            "location": point(lon, lat),
            "address_string": f"drill scene, {self.city_name}",
            "requested_datetime": iso(at),
            DRILL_ATTRIBUTE: running.drill.name,
        }
