"""Traffic on the measured road segments: daily profile, rain, incidents whose queue spreads upstream.

The true speed of a segment is a pure function of time (free flow x time-of-day profile x rain
factor x incident jam factor); only the reported value carries sensor noise. Units drive at these
true speeds, so a jam slows the ambulance too.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.city import RoadEdge

from .common import ENTITY_TYPE, clamp, gaussian_bump, iso, metres_between
from .roads import RoadNetwork
from .weather import StormSchedule

JAM_DENSITY_PER_KM_LANE = 130.0
LANE_CAPACITY_PER_H = 2000.0
CONGESTED_BELOW = 0.45  # fraction of free flow
QUEUE_GROWTH_M_PER_MIN = 150.0
QUEUE_DISCHARGE_M_PER_MIN = 300.0
RUSH_SENSITIVITY = {"motorway": 1.0, "trunk": 1.0, "primary": 1.0, "secondary": 0.85, "tertiary": 0.7}
LANES = {"motorway": 3, "trunk": 2, "primary": 2, "secondary": 2}
INCIDENT_WEIGHT = {"motorway": 3, "trunk": 3, "primary": 3, "secondary": 2}


@dataclass
class Segment:
    device: dict
    edge_ids: list[int]
    free_flow_kmh: float
    road_class: str
    lanes: int
    midpoint: tuple[float, float]

    @property
    def device_id(self) -> str:
        return self.device["device_id"]

    @classmethod
    def from_device(cls, device: dict, roads: RoadNetwork) -> "Segment":
        edges = [roads.edges[e] for e in device.get("edge_ids", []) if e in roads.edges]
        road_class = device.get("road_class") or (edges[0].road_class if edges else "residential")
        free_flow = float(device.get("free_flow_kmh") or (edges[0].speed_kmh if edges else 40))
        lanes = int(device.get("lanes") or LANES.get(road_class, 1))
        coords = _line_coords(device) or [(device["lon"], device["lat"])]
        return cls(device, [e.edge_id for e in edges], free_flow, road_class, lanes, coords[len(coords) // 2])


@dataclass
class Incident:
    device_id: str
    start: datetime
    end: datetime
    severity: float  # speed factor at the crash site, 0.10-0.25
    spread_m: float
    upstream: dict[str, float] = field(default_factory=dict)  # device_id -> metres back

    def jam_factor(self, device_id: str, moment: datetime) -> float:
        distance = 0.0 if device_id == self.device_id else self.upstream.get(device_id)
        if distance is None:
            return 1.0
        onset = self.start + timedelta(minutes=distance / QUEUE_GROWTH_M_PER_MIN)
        cleared = self.end + timedelta(minutes=distance / QUEUE_DISCHARGE_M_PER_MIN)
        if not onset <= moment < cleared:
            return 1.0
        ramp_in = clamp((moment - onset).total_seconds() / 120, 0, 1)
        ramp_out = clamp((cleared - moment).total_seconds() / 180, 0, 1)
        depth = (1 - self.severity) * (1 - (distance / self.spread_m) ** 0.8)
        return 1 - depth * min(ramp_in, ramp_out)


FORGET_AFTER = timedelta(hours=6)  # an incident this long over is no one's concern


class Traffic:
    def __init__(self, devices: list[dict], roads: RoadNetwork, storms: StormSchedule, tz: ZoneInfo,
                 rng: random.Random, start: datetime):
        self.roads = roads
        self.segments = {d["device_id"]: Segment.from_device(d, roads) for d in devices}
        self.segment_of_edge = {e: s for s in self.segments.values() for e in s.edge_ids}
        self._storms = storms
        self._tz = tz
        self._rng = rng
        self.incidents: list[Incident] = []
        self._next_incident = start + timedelta(minutes=rng.uniform(10, 40))
        self._cache: dict[tuple[str, datetime], float] = {}

    # --- the true state ------------------------------------------------------------------------
    def speed_ratio(self, segment: Segment, moment: datetime) -> float:
        """Current speed as a fraction of free flow."""
        key = (segment.device_id, moment)
        cached = self._cache.get(key)
        if cached is None:
            self._extend_incidents(moment)
            rain = self._storms.rain_mmh(moment, *segment.midpoint)
            cached = (self._profile(segment.road_class, moment) * (1 - min(0.3, 0.006 * rain))
                      * self.jam_factor(segment.device_id, moment))
            if len(self._cache) > 20_000:
                self._cache.clear()
            self._cache[key] = cached
        return cached

    def jam_factor(self, device_id: str, moment: datetime) -> float:
        return min((i.jam_factor(device_id, moment) for i in self.active_incidents(moment)), default=1.0)

    def active_incidents(self, moment: datetime) -> list[Incident]:
        self._extend_incidents(moment)
        longest_tail = timedelta(minutes=10)
        return [i for i in self.incidents if i.start <= moment < i.end + longest_tail]

    def edge_speed_kmh(self, edge: RoadEdge, moment: datetime) -> float:
        """What a car manages on this edge now: the measured traffic, or the limit where unmeasured."""
        segment = self.segment_of_edge.get(edge.edge_id)
        if segment is None:
            return edge.speed_kmh
        return segment.free_flow_kmh * self.speed_ratio(segment, moment)

    def _profile(self, road_class: str, moment: datetime) -> float:
        local = moment.astimezone(self._tz)
        hour = local.hour + local.minute / 60 + local.second / 3600
        if local.weekday() < 5:
            dip = (0.45 * gaussian_bump(hour, 8.0, 0.8) + 0.5 * gaussian_bump(hour, 16.75, 1.1)
                   + 0.15 * gaussian_bump(hour, 12.5, 2.0))
        else:
            dip = 0.15 * gaussian_bump(hour, 13.5, 3.0)
        daytime = 0.1 * gaussian_bump(hour, 13.0, 4.5)
        return 1 - RUSH_SENSITIVITY.get(road_class, 0.55) * (dip + daytime)

    def _extend_incidents(self, moment: datetime) -> None:
        extended = False
        while self._next_incident <= moment and self.segments:
            self.incidents.append(self._new_incident(self._next_incident))
            self._next_incident += timedelta(minutes=self._rng.uniform(30, 90))
            extended = True
        if extended:  # the long gone ones out of every look-up (weeks of the past: history.py)
            self.incidents = [i for i in self.incidents if i.end + FORGET_AFTER > moment]

    def _new_incident(self, start: datetime) -> Incident:
        rng = self._rng
        segments = list(self.segments.values())
        segment = rng.choices(segments, weights=[INCIDENT_WEIGHT.get(s.road_class, 1) for s in segments])[0]
        incident = Incident(segment.device_id, start, start + timedelta(minutes=rng.uniform(20, 45)),
                            rng.uniform(0.10, 0.25), rng.uniform(300, 800))
        for edge_id in segment.edge_ids[:1]:
            for upstream_edge, metres in self.roads.upstream_edges(self.roads.edges[edge_id], incident.spread_m).items():
                other = self.segment_of_edge.get(upstream_edge)
                if other is not None and other is not segment:
                    incident.upstream[other.device_id] = min(metres, incident.upstream.get(other.device_id, math.inf))
        return incident

    # --- what the sensor says --------------------------------------------------------------------
    def observation(self, segment: Segment, moment: datetime, interval_s: int, rng: random.Random,
                    *, impossible_speed: bool = False) -> dict:
        ratio = clamp(self.speed_ratio(segment, moment) * rng.gauss(1, 0.05), 0.03, 1.15)
        speed = segment.free_flow_kmh * ratio
        per_lane_h = min(JAM_DENSITY_PER_KM_LANE * segment.free_flow_kmh * ratio * max(1 - ratio, 0.02),
                         LANE_CAPACITY_PER_H)
        expected = per_lane_h * segment.lanes * interval_s / 3600
        intensity = max(0, round(rng.gauss(expected, math.sqrt(expected + 0.25))))
        if impossible_speed and rng.random() < 0.05:
            speed = rng.choice([400.0, 412.5, 999.0, -12.0, -3.5])
        window_start = moment - timedelta(seconds=interval_s)
        return {
            "id": f"urn:ngsi-ld:{ENTITY_TYPE['traffic']}:{segment.device_id}",
            "type": ENTITY_TYPE["traffic"],
            "name": segment.device.get("name", segment.device_id),
            "dateObserved": f"{iso(window_start)}/{iso(moment)}",
            "location": {"type": "LineString", "coordinates": [[round(x, 6), round(y, 6)] for x, y in
                                                                _line_coords(segment.device) or [segment.midpoint]]},
            "averageVehicleSpeed": round(speed, 1),
            "intensity": intensity,
            "occupancy": round(clamp((1 - ratio) * 0.9 + rng.gauss(0, 0.02), 0.01, 0.98), 2),
            "congested": ratio < CONGESTED_BELOW,
            "laneDirection": "forward",
        }


def _line_coords(device: dict) -> list[tuple[float, float]]:
    geometry = device.get("geometry")
    if isinstance(geometry, dict):
        geometry = geometry.get("coordinates")
    return [(float(x), float(y)) for x, y in geometry or []]


def nearby_segments(segments: dict[str, Segment], lon: float, lat: float, radius_m: float) -> list[tuple[Segment, float]]:
    """Segments within radius_m of a point, each with a closeness weight (1 next to it, ~0.2 at the edge)."""
    found = []
    for segment in segments.values():
        d = metres_between((lon, lat), segment.midpoint)
        if d <= radius_m:
            found.append((segment, 1 / (1 + d / 200)))
    return found
