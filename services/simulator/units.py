"""Response units: parked at base, patrolling, or on a dispatch, always driving on the real road graph.

serviceStatus values: "parked" (at base, available), "patrolling" (available, on the street),
"onRoute" (dispatched, driving to the incident), "onScene" (working the incident), "returning"
(driving back to base, available). Commands follow SPEC section 4 and are answered on .../cmdexe.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from services.city import City, RoadEdge

from .common import child_rng, iso, message, metres_between, OutgoingMessage, point
from .roads import RoadNetwork
from .traffic import Traffic

DISPATCH_SPEEDUP = 1.3
PATROL_PACE = 0.85
PATROL_RADIUS_M = 3000.0
PATROL_WORDS = ("police", "maint", "road")
COMMANDS = ("dispatch", "cancel", "return")
RESUMED_ON_SCENE_MINUTES = (5, 20)  # what is left of a scene's work after a restart


@dataclass(frozen=True)
class Mission:
    """A dispatch that CityOps's database says a unit is serving; it outlives a simulator restart.

    state is the command's: "sent" (not yet accepted), "accepted" (driving to the scene) or
    "arrived" (working the scene). position is where the unit last reported itself, if known.
    """

    unit_id: str
    cmd_id: str
    incident_id: str | None
    destination: tuple[float, float]
    state: str
    position: tuple[float, float] | None = None


class CommandRejected(ValueError):
    """A command the unit cannot carry out; the message is the reason sent back."""


@dataclass
class Unit:
    spec: dict
    base: tuple[float, float]
    base_node: int
    patrols: bool
    rng: random.Random
    status: str = "parked"
    lon: float = 0.0
    lat: float = 0.0
    bearing: float = 0.0
    speed_kmh: float = 0.0
    at_node: int = 0
    route: list[RoadEdge] = field(default_factory=list)
    leg: int = 0
    along_m: float = 0.0
    goal: str | None = None  # "scene" | "base" | "patrol" while driving
    mission: dict | None = None  # {"cmdId", "incidentId"} of the dispatch being served
    wait_until: datetime | None = None

    @property
    def unit_id(self) -> str:
        return self.spec["unit_id"]

    @property
    def driving(self) -> bool:
        return self.leg < len(self.route)


class Fleet:
    def __init__(self, city: City, roads: RoadNetwork, traffic: Traffic, seed: int, topic_root: str, start: datetime):
        self.city = city
        self.roads = roads
        self.traffic = traffic
        self.topic_root = topic_root
        bases = {b.get("base_id"): b for b in city.bases}
        self.units: dict[str, Unit] = {}
        self._patrol_nodes: dict[str, list[int]] = {}
        for spec in city.units:
            base = bases.get(spec.get("base_id"), {})
            lonlat = (float(base.get("lon", spec.get("lon", 0))), float(base.get("lat", spec.get("lat", 0))))
            rng = child_rng(seed, f"unit:{spec['unit_id']}")
            patrols = any(w in str(spec.get("kind", "")).lower() for w in PATROL_WORDS)
            unit = Unit(spec, lonlat, roads.nearest_node(*lonlat), patrols, rng, lon=lonlat[0], lat=lonlat[1])
            unit.at_node = unit.base_node
            if patrols:
                unit.wait_until = start + timedelta(minutes=rng.uniform(0, 10))
            self.units[unit.unit_id] = unit

    # --- time passes -----------------------------------------------------------------------------
    def step(self, moment: datetime, dt_s: float) -> list[OutgoingMessage]:
        out: list[OutgoingMessage] = []
        for unit in self.units.values():
            if unit.driving:
                self._drive(unit, moment, dt_s, out)
            elif unit.wait_until is not None and moment >= unit.wait_until:
                self._wake(unit, moment, out)
        return out

    def _drive(self, unit: Unit, moment: datetime, dt_s: float, out: list[OutgoingMessage]) -> None:
        remaining = dt_s
        while remaining > 0 and unit.driving:
            edge = unit.route[unit.leg]
            metres_per_s = self._pace(unit, edge, moment) / 3.6
            left = edge.length_m - unit.along_m
            if left <= metres_per_s * remaining:
                remaining -= left / metres_per_s
                unit.leg, unit.along_m = unit.leg + 1, 0.0
            else:
                unit.along_m += metres_per_s * remaining
                remaining = 0
        if unit.driving:
            edge = unit.route[unit.leg]
            unit.lon, unit.lat, unit.bearing = self.roads.position_on(edge, unit.along_m)
            unit.speed_kmh = self._pace(unit, edge, moment)
        else:
            last = unit.route[-1]
            unit.lon, unit.lat, unit.bearing = self.roads.position_on(last, last.length_m)
            unit.at_node, unit.route, unit.leg, unit.speed_kmh = last.v, [], 0, 0.0
            self._arrive(unit, moment, out)

    def _pace(self, unit: Unit, edge: RoadEdge, moment: datetime) -> float:
        factor = {"onRoute": DISPATCH_SPEEDUP, "patrolling": PATROL_PACE}.get(unit.status, 1.0)
        return max(self.traffic.edge_speed_kmh(edge, moment) * factor, 5.0)

    def _arrive(self, unit: Unit, moment: datetime, out: list[OutgoingMessage]) -> None:
        goal, unit.goal = unit.goal, None
        if goal == "scene":
            unit.status = "onScene"
            unit.wait_until = moment + timedelta(minutes=unit.rng.uniform(10, 40))
            out.append(self._reply(unit, unit.mission, "arrived", moment))
        elif goal == "base":
            unit.status, unit.mission = "parked", None
            unit.lon, unit.lat = unit.base
            unit.wait_until = moment + timedelta(minutes=unit.rng.uniform(10, 30)) if unit.patrols else None
        else:  # a patrol leg ends: a short stop, then on
            unit.wait_until = moment + timedelta(minutes=unit.rng.uniform(1, 5))

    def _wake(self, unit: Unit, moment: datetime, out: list[OutgoingMessage]) -> None:
        unit.wait_until = None
        if unit.status == "onScene":
            out.append(self._reply(unit, unit.mission, "cleared", moment))
            unit.mission = None
            self._head_to(unit, unit.base_node, "base", "returning", moment, out)
        elif unit.patrols and not self._head_to(unit, self._patrol_target(unit), "patrol", "patrolling", moment, out):
            unit.wait_until = moment + timedelta(minutes=1)

    def _patrol_target(self, unit: Unit) -> int:
        nodes = self._patrol_nodes.get(unit.unit_id)
        if nodes is None:
            nodes = [n for n in self.roads.core_nodes
                     if metres_between(self.roads.nodes[n], unit.base) <= PATROL_RADIUS_M] or self.roads.core_nodes
            self._patrol_nodes[unit.unit_id] = nodes
        target = unit.rng.choice(nodes)
        return target if target != unit.at_node else unit.rng.choice(nodes)

    def _head_to(self, unit: Unit, target: int, goal: str, status: str, moment: datetime,
                 out: list[OutgoingMessage]) -> bool:
        """Route the unit from where it is (finishing the edge it is on) to target; False if unreachable."""
        current = unit.route[unit.leg] if unit.driving else None
        source = current.v if current else unit.at_node
        previous_status, unit.status = unit.status, status  # pace depends on status
        path = self.roads.route(source, target, lambda e: self._pace(unit, e, moment))
        if path is None:
            unit.status = previous_status
            return False
        unit.route, unit.leg = ([current] if current else []) + path, 0
        if not current:
            unit.along_m = 0.0
            if path:  # pull out of the base onto the road
                unit.lon, unit.lat, unit.bearing = self.roads.position_on(path[0], 0.0)
        unit.goal, unit.wait_until = goal, None
        if not unit.route:  # already there
            unit.route, unit.leg = [], 0
            self._arrive(unit, moment, out)
        return True

    # --- commands ---------------------------------------------------------------------------------
    def command(self, unit_id: str, cmd, moment: datetime) -> list[OutgoingMessage]:
        unit = self.units.get(unit_id)
        if unit is None:
            return []
        cmd_id = cmd.get("cmdId") if isinstance(cmd, dict) else None
        follow_up: list[OutgoingMessage] = []
        try:
            self._execute(unit, cmd, moment, follow_up)
        except CommandRejected as refusal:
            return [self._reply(unit, cmd if isinstance(cmd, dict) else {}, "rejected", moment, str(refusal))]
        accepted = self._reply(unit, {"cmdId": cmd_id, "incidentId": cmd.get("incidentId")}, "accepted", moment)
        return [accepted, *follow_up]

    def resume(self, mission: Mission, moment: datetime) -> list[OutgoingMessage]:
        """Carry on a mission begun before a restart: drive to the scene, or go on working it, then clear.

        Only the replies still owed are sent: "accepted" for a command never accepted, then
        "arrived" and "cleared" as they happen. A scene off the road network is refused.
        """
        unit = self.units.get(mission.unit_id)
        if unit is None or mission.state not in ("sent", "accepted", "arrived"):
            return []
        out: list[OutgoingMessage] = []
        unit.mission = {"cmdId": mission.cmd_id, "incidentId": mission.incident_id}
        unit.route, unit.leg, unit.along_m, unit.goal, unit.speed_kmh = [], 0, 0.0, None, 0.0
        if mission.state == "arrived":
            unit.at_node = self.roads.nearest_node(*mission.destination)
            (unit.lon, unit.lat), unit.status = mission.destination, "onScene"
            unit.wait_until = moment + timedelta(minutes=unit.rng.uniform(*RESUMED_ON_SCENE_MINUTES))
            return out
        if mission.position is not None:
            unit.at_node = self.roads.nearest_node(*mission.position)
            unit.lon, unit.lat = mission.position
        if mission.state == "sent":
            out.append(self._reply(unit, unit.mission, "accepted", moment))
        if not self._head_to(unit, self.roads.nearest_node(*mission.destination), "scene", "onRoute", moment, out):
            out.append(self._reply(unit, unit.mission, "rejected", moment, "destination not reachable by road"))
            unit.mission = None
            self._head_to(unit, unit.base_node, "base", "returning", moment, out)
        return out

    def _execute(self, unit: Unit, cmd, moment: datetime, out: list[OutgoingMessage]) -> None:
        if not isinstance(cmd, dict):
            raise CommandRejected("command is not a JSON object")
        if not isinstance(cmd.get("cmdId"), (str, int)) or cmd.get("cmdId") in ("", True, False):
            raise CommandRejected("cmdId missing")
        if cmd.get("command") not in COMMANDS:
            raise CommandRejected(f"unknown command {cmd.get('command')!r}")
        if cmd["command"] != "dispatch":
            unit.mission = None
            if unit.status != "parked" or unit.patrols:
                self._head_to(unit, unit.base_node, "base", "returning", moment, out)
            return
        lon, lat = _destination(cmd.get("destination"))
        if not self.city.is_in_area(lon, lat):
            raise CommandRejected("destination outside the city")
        previous = unit.mission
        unit.mission = {"cmdId": cmd["cmdId"], "incidentId": cmd.get("incidentId")}
        if not self._head_to(unit, self.roads.nearest_node(lon, lat), "scene", "onRoute", moment, out):
            unit.mission = previous
            raise CommandRejected("destination not reachable by road")

    def _reply(self, unit: Unit, mission: dict | None, result: str, moment: datetime,
               reason: str | None = None) -> OutgoingMessage:
        mission = mission or {}
        body = {"cmdId": mission.get("cmdId"), "result": result, "at": iso(moment)}
        if mission.get("incidentId") is not None:
            body["incidentId"] = mission["incidentId"]
        if reason:
            body["reason"] = reason
        return message(f"{self.topic_root}/units/{unit.unit_id}/cmdexe", body)

    # --- what the unit says -------------------------------------------------------------------------
    def state(self, unit: Unit, moment: datetime) -> dict:
        body = {
            "id": f"urn:ngsi-ld:Vehicle:{unit.unit_id}",
            "type": "Vehicle",
            "vehicleType": unit.spec.get("vehicle_type", "car"),
            "name": unit.spec.get("name", unit.unit_id),
            "location": point(unit.lon, unit.lat),
            "speed": round(unit.speed_kmh, 1),
            "bearing": round(unit.bearing) % 360,
            "serviceStatus": unit.status,
            "observationDateTime": iso(moment),
        }
        if unit.spec.get("emergency_vehicle_type"):
            body["emergencyVehicleType"] = unit.spec["emergency_vehicle_type"]
        return body


def _destination(geometry) -> tuple[float, float]:
    if not isinstance(geometry, dict) or geometry.get("type") != "Point":
        raise CommandRejected("destination must be a GeoJSON Point")
    coordinates = geometry.get("coordinates")
    if (not isinstance(coordinates, (list, tuple)) or len(coordinates) < 2
            or not all(isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)
                       for c in coordinates[:2])):
        raise CommandRejected("destination coordinates must be [lon, lat]")
    return float(coordinates[0]), float(coordinates[1])
