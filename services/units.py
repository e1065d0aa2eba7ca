"""Response units: the registry (seeded from the city's sites.json), live state, and recommendations.

Unit status (``ResponseUnit.status``), with a timer on each (``status_since``):
``available`` (at base or patrolling) -> ``dispatched`` (command sent) -> ``en_route`` (accepted)
-> ``on_scene`` (arrived) -> ``returning`` (cleared, driving home; may be dispatched again)
-> ``available`` (its Vehicle state says parked/patrolling). ``out_of_service`` is set by hand.

The live position, speed and bearing are the unit's Vehicle device's latest observation
(``device_latest``, written by the ingest from <root>/units/<id>/state).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from services.city import City
from services.incidents import IncidentView, can_handle, iso
from services.models import DeviceLatest, ResponseUnit, utcnow
from services.routing import Route, SpeedPolicy, live_edge_speeds, router_for

UNIT_STATUSES = ("available", "dispatched", "en_route", "on_scene", "returning", "out_of_service")
DISPATCHABLE = ("available", "returning")


def seed_units(engine: Engine, city: City, now: datetime | None = None) -> int:
    """Upserts the city's units: static fields follow sites.json, live status is kept."""
    now = now or utcnow()
    bases = {base.get("base_id"): base for base in city.bases}
    rows = []
    for spec in city.units:
        base = bases.get(spec.get("base_id"), {})
        rows.append({
            "unit_id": spec["unit_id"], "name": spec.get("name") or spec["unit_id"], "kind": spec.get("kind", "unit"),
            "base_id": spec.get("base_id"), "base_name": base.get("name"),
            "base_lon": base.get("lon", spec.get("lon")), "base_lat": base.get("lat", spec.get("lat")),
            "vehicle_type": spec.get("vehicle_type"), "emergency_vehicle_type": spec.get("emergency_vehicle_type"),
            "capabilities": list(spec.get("capabilities") or []), "status": "available", "status_since": now,
            "version": 1,
        })
    if not rows:
        return 0
    rows.sort(key=lambda row: row["unit_id"])  # one lock order: two processes starting together cannot deadlock
    insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(ResponseUnit.__table__)
    statement = insert.on_conflict_do_update(
        index_elements=["unit_id"],
        set_={name: insert.excluded[name] for name in ("name", "kind", "base_id", "base_name", "base_lon", "base_lat",
                                                        "vehicle_type", "emergency_vehicle_type", "capabilities")},
    )
    with engine.begin() as connection:
        connection.execute(statement, rows)
    return len(rows)


@dataclass(frozen=True)
class UnitView:
    unit_id: str
    name: str
    kind: str
    base_id: str | None
    base_name: str | None
    capabilities: tuple[str, ...]
    emergency: bool
    status: str
    status_since: datetime
    incident_id: int | None
    command_id: str | None
    lon: float | None
    lat: float | None
    speed_kmh: float | None
    bearing: float | None
    service_status: str | None  # what the vehicle itself says (parked, onRoute, ...)
    position_at: datetime | None
    version: int

    @property
    def dispatchable(self) -> bool:
        return self.status in DISPATCHABLE

    def as_json(self) -> dict:
        return {
            "id": self.unit_id, "name": self.name, "kind": self.kind, "base_id": self.base_id,
            "base_name": self.base_name, "capabilities": list(self.capabilities), "emergency": self.emergency,
            "status": self.status, "status_since": iso(self.status_since), "incident_id": self.incident_id,
            "command_id": self.command_id,
            "location": None if self.lon is None else {"type": "Point", "coordinates": [self.lon, self.lat]},
            "speed": self.speed_kmh, "bearing": self.bearing, "serviceStatus": self.service_status,
            "position_at": iso(self.position_at),
        }


def list_units(engine: Engine, unit_id: str | None = None) -> list[UnitView]:
    query = select(ResponseUnit).order_by(ResponseUnit.kind, ResponseUnit.unit_id)
    if unit_id is not None:
        query = query.where(ResponseUnit.unit_id == unit_id)
    with engine.connect() as connection:
        units = connection.execute(query).all()
        ids = [u.unit_id for u in units]
        latest = {row.device_id: row for row in connection.execute(
            select(DeviceLatest.device_id, DeviceLatest.lon, DeviceLatest.lat, DeviceLatest.values,
                   DeviceLatest.observed_at)
            .where(DeviceLatest.entity_type == "Vehicle", DeviceLatest.device_id.in_(ids)))} if ids else {}
    return [_view(unit, latest.get(unit.unit_id)) for unit in units]


def get_unit(engine: Engine, unit_id: str) -> UnitView | None:
    found = list_units(engine, unit_id)
    return found[0] if found else None


def _view(unit, live) -> UnitView:
    values = (live.values or {}) if live is not None else {}
    return UnitView(
        unit_id=unit.unit_id, name=unit.name, kind=unit.kind, base_id=unit.base_id, base_name=unit.base_name,
        capabilities=tuple(unit.capabilities or ()), emergency=bool(unit.emergency_vehicle_type),
        status=unit.status, status_since=unit.status_since, incident_id=unit.incident_id, command_id=unit.command_id,
        lon=live.lon if live is not None else unit.base_lon, lat=live.lat if live is not None else unit.base_lat,
        speed_kmh=values.get("speed"), bearing=values.get("bearing"), service_status=values.get("serviceStatus"),
        position_at=live.observed_at if live is not None else None, version=unit.version,
    )


# ---------------------------------------------------------------- recommendation

@dataclass(frozen=True)
class Candidate:
    rank: int
    unit: UnitView
    route: Route

    @property
    def eta_seconds(self) -> float:
        return self.route.eta_seconds

    def as_json(self) -> dict:
        return {
            "rank": self.rank, "unit_id": self.unit.unit_id, "name": self.unit.name, "kind": self.unit.kind,
            "status": self.unit.status, "eta_seconds": round(self.route.eta_seconds, 1),
            "distance_m": round(self.route.distance_m, 1), "route": self.route.geojson(),
            "origin_node": self.route.origin_node, "target_node": self.route.target_node,
        }


def recommend_units(engine: Engine, city: City, incident: IncidentView, *, now: datetime | None = None,
                    policy: SpeedPolicy | None = None, units: list[UnitView] | None = None,
                    exclude: set[str] = frozenset(), include_busy: bool = False) -> list[Candidate]:
    """The units able to handle the incident, available, ranked by ETA over the live-weighted roads.

    One reverse Dijkstra per kind of vehicle (emergency vehicles get the speed-up, others do not).
    """
    now = now or utcnow()
    policy = policy or SpeedPolicy.from_env()
    units = list_units(engine) if units is None else units
    able = [u for u in units
            if u.unit_id not in exclude and (include_busy or u.dispatchable) and u.lon is not None
            and can_handle(u.capabilities, incident.category, incident.sub_category)]
    if not able:
        return []
    router = router_for(city)
    live = live_edge_speeds(engine, now, policy.fresh_s)
    ranked: list[tuple[float, str, UnitView, Route]] = []
    for emergency in (True, False):
        group = [u for u in able if u.emergency == emergency]
        if not group:
            continue
        routes = router.routes_to((incident.lon, incident.lat), [(u.lon, u.lat) for u in group],
                                  live_kmh=live, policy=policy, emergency=emergency)
        ranked += [(route.eta_seconds, unit.unit_id, unit, route) for unit, route in zip(group, routes, strict=True)
                   if route]
    ranked.sort(key=lambda item: (item[0], item[1]))
    return [Candidate(rank, unit, route) for rank, (_, _, unit, route) in enumerate(ranked, start=1)]
