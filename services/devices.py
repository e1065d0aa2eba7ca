"""The device registry and what the API and pages read about devices.

Registered devices come from the city's ``sites.json``; devices that are not registered
appear on their first observation. Pages and the API receive ``DeviceView`` values, never rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from services.city import City
from services.models import Device, DeviceLatest, Observation, utcnow

# Reporting interval assumed for a device the city did not register.
DEFAULT_INTERVAL_S = {
    "TrafficFlowObserved": 60, "AirQualityObserved": 60, "WeatherObserved": 60,
    "WaterObserved": 30, "FloodMonitoring": 30, "Vehicle": 5,
}
STALE_AFTER_INTERVALS = 3
# A water station's levels as it reports them (SDM attribute) and as the city registered them.
READING_LEVELS = (("alertLevel", "alert_level"), ("dangerLevel", "danger_level"))
SILENT_AFTER_INTERVALS = 10


@dataclass(frozen=True)
class DeviceView:
    id: str
    type: str
    name: str | None
    district: str | None
    lon: float | None
    lat: float | None
    registered: bool
    interval_s: int
    out_of_area: bool
    last_observed_at: datetime | None
    last_received_at: datetime | None
    age_s: float | None
    status: str  # ok | stale | silent | out_of_area
    last_values: dict
    levels: dict  # registry values, with the levels the newest reading reports first (station_levels)

    @property
    def stale(self) -> bool:
        return self.status in ("stale", "silent")

    def as_json(self) -> dict:
        return {
            "id": self.id, "type": self.type, "name": self.name, "district": self.district,
            "location": None if self.lon is None else {"type": "Point", "coordinates": [self.lon, self.lat]},
            "registered": self.registered, "interval_s": self.interval_s, "out_of_area": self.out_of_area,
            "last_observed_at": _iso(self.last_observed_at), "last_received_at": _iso(self.last_received_at),
            "age_seconds": None if self.age_s is None else round(self.age_s, 1),
            "status": self.status, "stale": self.stale, "last_values": self.last_values,
        }


def station_levels(values: dict, meta: dict | None) -> dict:
    """A device's registry values with the levels its reading reports in their place.

    The station's own ``alertLevel`` / ``dangerLevel`` come first, the registry's when the reading
    has none: one answer for the alarm rules, the map and the history chart.
    """
    own = {key: values[name] for name, key in READING_LEVELS
           if isinstance(values.get(name), (int, float)) and not isinstance(values.get(name), bool)}
    if not own:
        return meta or {}
    return {**(meta or {}), **own}


def device_status(last_observed_at: datetime | None, interval_s: int, out_of_area: bool, now: datetime) -> str:
    if out_of_area:
        return "out_of_area"
    if last_observed_at is None:
        return "silent"
    age = (now - last_observed_at).total_seconds()
    if age > SILENT_AFTER_INTERVALS * interval_s:
        return "silent"
    if age > STALE_AFTER_INTERVALS * interval_s:
        return "stale"
    return "ok"


def register_city_devices(engine: Engine, city: City) -> int:
    """Upserts the city's registered sensors and units; keeps what the ingest learned."""
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    rows = [_registered_row(site) for site in city.devices]
    rows += [_registered_row({**unit, "device_id": unit["unit_id"], "type": "Vehicle",
                              "interval_s": unit.get("interval_s", 5)}) for unit in city.units]
    if not rows:
        return 0
    rows.sort(key=lambda row: row["id"])  # one lock order: two processes starting together cannot deadlock
    statement = insert(Device.__table__)
    statement = statement.on_conflict_do_update(
        index_elements=["id"],
        set_={name: statement.excluded[name] for name in
              ("type", "name", "district", "registered", "interval_s", "registered_lon", "registered_lat", "meta")},
    )
    with engine.begin() as connection:
        connection.execute(statement, rows)
    return len(rows)


def _registered_row(site: dict) -> dict:
    geometry = site.get("geometry")
    if isinstance(geometry, list):
        geometry = {"type": "LineString", "coordinates": geometry}
    meta_keys = ("alert_level", "danger_level", "normal_level", "reference_level", "free_flow_kmh", "road_class", "edge_ids",
                 "street", "kind", "base_id", "vehicle_type", "emergency_vehicle_type", "capabilities")
    return {
        "id": site["device_id"], "type": site["type"], "name": site.get("name"), "district": site.get("district"),
        "registered": True, "interval_s": site.get("interval_s"),
        "lon": site.get("lon"), "lat": site.get("lat"), "geometry": geometry,
        "registered_lon": site.get("lon"), "registered_lat": site.get("lat"),
        "meta": {key: site[key] for key in meta_keys if key in site} or None,
        "out_of_area": False,
    }


def registered_locations(engine: Engine) -> dict[str, tuple[float, float]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Device.id, Device.registered_lon, Device.registered_lat).where(Device.registered_lon.is_not(None))
        )
        return {row.id: (row.registered_lon, row.registered_lat) for row in rows}


def list_devices(engine: Engine, *, device_type: str | None = None, now: datetime | None = None) -> list[DeviceView]:
    now = now or utcnow()
    with engine.connect() as connection:
        query = select(Device).order_by(Device.type, Device.id)
        if device_type:
            query = query.where(Device.type == device_type)
        devices = connection.execute(query).all()
        latest: dict[str, dict] = {}
        for row in connection.execute(select(DeviceLatest.device_id, DeviceLatest.values, DeviceLatest.observed_at)
                                      .order_by(DeviceLatest.observed_at)):
            latest.setdefault(row.device_id, {}).update(row.values or {})
    return [_view(row, latest.get(row.id, {}), now) for row in devices]


def get_device(engine: Engine, device_id: str, now: datetime | None = None) -> DeviceView | None:
    now = now or utcnow()
    with engine.connect() as connection:
        row = connection.execute(select(Device).where(Device.id == device_id)).first()
        if row is None:
            return None
        values: dict = {}
        for latest in connection.execute(select(DeviceLatest.values).where(DeviceLatest.device_id == device_id)
                                         .order_by(DeviceLatest.observed_at)):
            values.update(latest.values or {})
    return _view(row, values, now)


def _view(row, last_values: dict, now: datetime) -> DeviceView:
    interval = row.interval_s or DEFAULT_INTERVAL_S.get(row.type, 60)
    age = None if row.last_observed_at is None else (now - row.last_observed_at).total_seconds()
    return DeviceView(
        id=row.id, type=row.type, name=row.name, district=row.district, lon=row.lon, lat=row.lat,
        registered=row.registered, interval_s=interval, out_of_area=row.out_of_area,
        last_observed_at=row.last_observed_at, last_received_at=row.last_received_at, age_s=age,
        status=device_status(row.last_observed_at, interval, row.out_of_area, now), last_values=last_values,
        levels=station_levels(last_values, row.meta),
    )


@dataclass(frozen=True)
class ObservationView:
    entity_type: str
    observed_at: datetime
    received_at: datetime
    lon: float | None
    lat: float | None
    values: dict
    flags: list[str]

    def as_json(self) -> dict:
        return {
            "type": self.entity_type, "observed_at": _iso(self.observed_at), "received_at": _iso(self.received_at),
            "location": None if self.lon is None else {"type": "Point", "coordinates": [self.lon, self.lat]},
            "values": self.values, "flags": self.flags,
        }


def device_observations(engine: Engine, device_id: str, *, since: datetime | None = None,
                        until: datetime | None = None, limit: int = 1000) -> list[ObservationView]:
    """History of one device, oldest first, within [since, until]; the newest ``limit`` of them."""
    query = select(Observation).where(Observation.device_id == device_id)
    if since is not None:
        query = query.where(Observation.observed_at >= since)
    if until is not None:
        query = query.where(Observation.observed_at <= until)
    query = query.order_by(Observation.observed_at.desc()).limit(limit)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        ObservationView(row.entity_type, row.observed_at, row.received_at, row.lon, row.lat, row.values or {},
                        row.flags.split(",") if row.flags else [])
        for row in reversed(rows)
    ]


def purge_observations(engine: Engine, older_than: timedelta, now: datetime | None = None) -> int:
    """Retention: deletes raw observations and kept rejections older than the cut-off."""
    from services.models import RejectedMessage

    cutoff = (now or utcnow()) - older_than
    with engine.begin() as connection:
        deleted = connection.execute(Observation.__table__.delete().where(Observation.observed_at < cutoff)).rowcount
        connection.execute(RejectedMessage.__table__.delete().where(RejectedMessage.received_at < cutoff))
    return deleted


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
