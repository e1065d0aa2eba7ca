"""The telemetry map layers: traffic, air and flood, built from the live state of devices.

Each feature's ``properties`` carry what the map styles and hovers: ``label``, ``value``,
``unit``, ``t`` (epoch seconds of the observation) and a ``level`` that picks the colour.
Static properties (label, unit, district...) are sent to a browser once; the snapshot sends
only the layer's ``DYNAMIC`` properties when they change (see services/snapshot.py).
"""
from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Callable

from sqlalchemy import Text, select, type_coerce
from sqlalchemy.engine import Engine

from services.i18n import N_
from services.aqi import CODES, STANDARDS, compute_aqi
from services.city import City
from services.db import json_value
from services.devices import station_levels
from services.layers import LayerData, register_layer
from services.models import Device, DeviceLatest

# Congestion levels from speed against free-flow speed (share of free flow).
CONGESTION_BANDS = ((0.75, 0, "#2e9e4f", N_("free flow")), (0.5, 1, "#f2c418", N_("slow")),
                    (0.3, 2, "#f08a1c", N_("congested")), (0.0, 3, "#d7261e", N_("jammed")))
FLOOD_LEVELS = ((0, "#2b7bba", N_("normal")), (1, "#f08a1c", N_("above alert level")),
                (2, "#d7261e", N_("above danger level")))
ROAD_RISK_RADIUS_M = 150.0

# A layer is stale when its newest data is older than three reporting intervals of its devices;
# CITYOPS_LAYER_STALE_S sets one threshold for all of them (tests, unusual feeds).
_STALE_OVERRIDE = float(os.environ["CITYOPS_LAYER_STALE_S"]) if os.environ.get("CITYOPS_LAYER_STALE_S") else None
TRAFFIC_STALE_S = _STALE_OVERRIDE or 180.0
AIR_STALE_S = _STALE_OVERRIDE or 180.0
FLOOD_STALE_S = _STALE_OVERRIDE or 90.0


@dataclass(frozen=True)
class LiveRow:
    device_id: str
    entity_type: str
    name: str | None
    district: str | None
    lon: float
    lat: float
    geometry: dict | None
    meta: dict
    values: dict
    observed_at: datetime


class LiveRows:
    """The live state of every device, in memory, refreshed with only what was stored since the last tick.

    ``device_latest.received_at`` is when the row was stored, so "stored since the watermark
    (minus an overlap for commits in flight)" finds every change; a full read every minute
    also catches deletions and registry edits. Unchanged rows keep their object identity, so
    the layers rebuild features only for rows that changed.
    """

    FULL_EVERY_S = 60.0
    OVERLAP_S = 1.0  # a batch is stamped just before its commit; this covers commits in flight

    def __init__(self, engine: Engine):
        self.engine = engine
        self.rows: dict[tuple[str, str], LiveRow] = {}
        self.by_type: dict[str, dict[str, LiveRow]] = {}
        self._stored_at: dict[tuple[str, str], datetime] = {}
        self._devices: dict[str, tuple] = {}  # id -> (name, district, geometry, meta, lon, lat) as registered
        self._watermark: datetime | None = None
        self._last_full = 0.0
        self._refreshed_for: datetime | None = None
        self._lock = threading.Lock()

    def of_types(self, entity_types: tuple[str, ...], now: datetime) -> list[LiveRow]:
        with self._lock:
            if self._refreshed_for != now:
                self._refresh()
                self._refreshed_for = now
            return [row for kind in entity_types for row in self.by_type.get(kind, {}).values()]

    def _refresh(self) -> None:
        full = self._watermark is None or time.monotonic() - self._last_full > self.FULL_EVERY_S
        # values without type processing: on SQLite, only the rows that really changed are decoded
        query = select(DeviceLatest.device_id, DeviceLatest.entity_type,
                       type_coerce(DeviceLatest.observed_at, Text).label("observed_raw"),
                       type_coerce(DeviceLatest.received_at, Text).label("stored_raw"), DeviceLatest.lon,
                       DeviceLatest.lat, type_coerce(DeviceLatest.values, Text).label("values_text"))
        if not full:
            query = query.where(DeviceLatest.received_at >= self._watermark - timedelta(seconds=self.OVERLAP_S))
        with self.engine.connect() as connection:
            fetched = connection.execute(query).all()
            unknown = {row.device_id for row in fetched} - set(self._devices)
            if full or unknown:
                self._load_devices(connection, None if full else unknown)
        rows = {} if full else self.rows
        stored_at = {} if full else self._stored_at
        by_type = {} if full else self.by_type
        for row in fetched:
            key = (row.device_id, row.entity_type)
            if self._stored_at.get(key) == row.stored_raw and key in self.rows:
                live = self.rows[key]
            else:
                name, district, geometry, meta, reg_lon, reg_lat = self._devices.get(
                    row.device_id, (None, None, None, {}, None, None))
                live = LiveRow(row.device_id, row.entity_type, name, district,
                               row.lon if row.lon is not None else reg_lon,
                               row.lat if row.lat is not None else reg_lat, geometry, meta,
                               json_value(row.values_text, {}), _utc(row.observed_raw))
            rows[key] = live
            by_type.setdefault(row.entity_type, {})[row.device_id] = live
            stored_at[key] = row.stored_raw
        self.rows, self.by_type, self._stored_at = rows, by_type, stored_at
        newest = max((_utc(row.stored_raw) for row in fetched), default=None)
        if newest is not None and (self._watermark is None or newest > self._watermark):
            self._watermark = newest
        if full:
            self._last_full = time.monotonic()
            self._watermark = self._watermark or datetime.now(timezone.utc)

    def _load_devices(self, connection, device_ids: set[str] | None) -> None:
        query = select(Device.id, Device.name, Device.district, Device.geometry, Device.meta,
                       Device.registered_lon, Device.registered_lat)
        if device_ids is not None:
            query = query.where(Device.id.in_(device_ids))
        else:
            self._devices = {}
        for row in connection.execute(query):
            self._devices[row.id] = (row.name, row.district, row.geometry, row.meta or {},
                                     row.registered_lon, row.registered_lat)


def _utc(raw) -> datetime:
    """A time column read without SQLAlchemy's per-row processing: SQLite text or a driver datetime."""
    moment = datetime.fromisoformat(raw) if isinstance(raw, str) else raw
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


_live_rows: dict[int, LiveRows] = {}


def live_rows(engine: Engine, entity_types: tuple[str, ...], now: datetime) -> list[LiveRow]:
    cache = _live_rows.get(id(engine))
    if cache is None or cache.engine is not engine:
        cache = _live_rows[id(engine)] = LiveRows(engine)
    return cache.of_types(entity_types, now)


class FeatureCache:
    """Features of one layer, rebuilt only for the rows whose object changed.

    Updated in place: a fresh dict of (row, feature) pairs every tick would leave ~10,000 new
    containers per second for the garbage collector, whose full passes then took 200 ms.
    """

    def __init__(self, build: Callable[[LiveRow], dict]):
        self.build = build
        self._rows: dict[tuple[str, str], LiveRow] = {}
        self._features: dict[tuple[str, str], dict] = {}

    def features(self, rows: list[LiveRow]) -> list[dict]:
        result = []
        for row in rows:
            key = (row.device_id, row.entity_type)
            if self._rows.get(key) is not row:
                self._rows[key] = row
                self._features[key] = self.build(row)
            result.append(self._features[key])
        if len(self._rows) > len(rows):  # devices went away (a full refresh): forget them
            keep = {(row.device_id, row.entity_type) for row in rows}
            for key in [key for key in self._rows if key not in keep]:
                del self._rows[key], self._features[key]
        return result


def _epoch(moment: datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp())


def _newest(rows: list[LiveRow]) -> datetime | None:
    return max((row.observed_at for row in rows), default=None)


def _point(lon: float, lat: float) -> dict:
    return {"type": "Point", "coordinates": [round(lon, 6), round(lat, 6)]}


# ---------------------------------------------------------------- traffic

def congestion(speed: float | None, free_flow: float | None) -> tuple[int | None, float | None]:
    if speed is None or not free_flow:
        return None, None
    share = speed / free_flow
    for low, level, _colour, _label in CONGESTION_BANDS:
        if share >= low:
            return level, share
    return CONGESTION_BANDS[-1][1], share


ROAD_CLASS_WIDTH = {"motorway": 7, "trunk": 6, "primary": 5, "secondary": 4, "tertiary": 3}


def traffic_feature(row: LiveRow) -> dict:
    free_flow = row.meta.get("free_flow_kmh")
    speed = row.values.get("averageVehicleSpeed")
    level, share = congestion(speed, free_flow)
    return {"type": "Feature", "id": row.device_id, "geometry": row.geometry or _point(row.lon, row.lat), "properties": {
        "id": row.device_id, "kind": "traffic", "label": row.name or row.device_id, "district": row.district,
        "street": row.meta.get("street"),  # the road's name (the city's), for screens that name roads
        "unit": "km/h", "value": None if speed is None else round(speed, 1),
        "share": None if share is None else round(share, 2), "level": level,
        "width": ROAD_CLASS_WIDTH.get(row.meta.get("road_class"), 3), "t": _epoch(row.observed_at),
    }}


_traffic_features = FeatureCache(traffic_feature)


@register_layer("traffic", N_("Traffic"), order=10)
def traffic_layer(engine: Engine, city: City, now: datetime) -> LayerData:
    rows = live_rows(engine, ("TrafficFlowObserved",), now)
    # legends hold English messages (and their values), translated on each screen (components/live_map.py)
    legend = [(colour, N_("{band} (≥{share} of free flow)"), {"band": label, "share": f"{int(low * 100)} %"}) if low
              else (colour, label) for low, _level, colour, label in CONGESTION_BANDS]
    return LayerData(_traffic_features.features(rows), _newest(rows), TRAFFIC_STALE_S, legend)


# ---------------------------------------------------------------- air

def air_feature(row: LiveRow) -> dict:
    """Index and dominant pollutant in both standards; the map picks one and derives the level
    from the index (both standards share the band edges 50/100/150/200/300)."""
    properties = {"id": row.device_id, "kind": "air", "label": row.name or row.device_id,
                  "district": row.district, "unit": "AQI", "t": _epoch(row.observed_at)}
    for standard in STANDARDS:
        result = compute_aqi(row.values, standard)
        suffix = CODES[standard]
        properties[f"aqi_{suffix}"] = result.index
        properties[f"dom_{suffix}"] = result.dominant
    properties["pm25"] = row.values.get("pm25")
    return {"type": "Feature", "id": row.device_id, "geometry": _point(row.lon, row.lat), "properties": properties}


_air_features = FeatureCache(air_feature)


@register_layer("air", N_("Air quality"), order=20)
def air_layer(engine: Engine, city: City, now: datetime) -> LayerData:
    rows = live_rows(engine, ("AirQualityObserved",), now)
    return LayerData(_air_features.features(rows), _newest(rows), AIR_STALE_S, [])


# ---------------------------------------------------------------- flood

def water_level(row: LiveRow) -> float | None:
    for key in ("currentLevel", "height", "waterLevel"):
        if row.values.get(key) is not None:
            return row.values[key]
    return None


def flood_level(level: float | None, alert: float | None, danger: float | None) -> int | None:
    if level is None:
        return None
    if danger is not None and level >= danger:
        return 2
    if alert is not None and level >= alert:
        return 1
    return 0


def water_feature(row: LiveRow) -> dict:
    if row.entity_type == "WeatherObserved":
        rain = row.values.get("precipitation")
        return {"type": "Feature", "id": f"rain:{row.device_id}", "geometry": _point(row.lon, row.lat),
                "properties": {"id": row.device_id, "kind": "rain", "label": row.name or row.device_id,
                               "district": row.district, "unit": "mm/h", "value": rain,
                               "level": rain_level(rain), "t": _epoch(row.observed_at)}}
    level = water_level(row)
    levels = station_levels(row.values, row.meta)
    alert, danger = levels.get("alert_level"), levels.get("danger_level")
    return {"type": "Feature", "id": row.device_id, "geometry": _point(row.lon, row.lat), "properties": {
        "id": row.device_id, "kind": "water", "label": row.name or row.device_id, "district": row.district,
        "unit": "m", "value": None if level is None else round(level, 2), "alert": alert, "danger": danger,
        "level": flood_level(level, alert, danger), "t": _epoch(row.observed_at)}}


_water_features = FeatureCache(water_feature)


@register_layer("flood", N_("Flooding"), order=30)
def flood_layer(engine: Engine, city: City, now: datetime) -> LayerData:
    rows = live_rows(engine, ("FloodMonitoring", "WaterObserved", "WeatherObserved"), now)
    features = _water_features.features(rows)
    at_risk = [(row, feature["properties"]["level"]) for row, feature in zip(rows, features)
               if feature["properties"]["kind"] == "water" and feature["properties"]["level"]]
    features = features + roads_at_risk(city, at_risk)
    legend = [(colour, label) for _level, colour, label in FLOOD_LEVELS] + [("#7b3fa0", N_("road at risk"))]
    water_rows = [row for row in rows if row.entity_type != "WeatherObserved"]
    return LayerData(features, _newest(water_rows) or _newest(rows), FLOOD_STALE_S, legend)


def rain_level(rain: float | None) -> int | None:
    if rain is None:
        return None
    return 0 if rain < 2.5 else 1 if rain < 10 else 2 if rain < 30 else 3


def roads_at_risk(city: City, stations: list[tuple[LiveRow, int]]) -> list[dict]:
    """Road edges within ROAD_RISK_RADIUS_M of a station above its alert level, one feature each."""
    features = []
    edges = _edge_midpoints(city.folder)
    for row, level in stations:
        for edge_id, name, coords, mid_lon, mid_lat in edges:
            if _metres(row.lon, row.lat, mid_lon, mid_lat) <= ROAD_RISK_RADIUS_M:
                features.append({"type": "Feature", "id": f"risk:{row.device_id}:{edge_id}",
                                 "geometry": {"type": "LineString", "coordinates": coords},
                                 "properties": {"id": f"risk:{edge_id}", "kind": "road_risk", "label": name or "road",
                                                "station": row.device_id, "level": level, "t": None}})
    return features


@lru_cache(maxsize=4)
def _edge_midpoints(folder) -> tuple:
    from services.city import load_city

    _nodes, edges = load_city(folder).road_graph()
    seen: set[tuple[int, int]] = set()
    result = []
    for edge in edges:
        key = (min(edge.u, edge.v), max(edge.u, edge.v))  # one feature per street piece, not per direction
        if key in seen:
            continue
        seen.add(key)
        mid = edge.coords[len(edge.coords) // 2]
        result.append((edge.edge_id, edge.name, [list(c) for c in edge.coords], mid[0], mid[1]))
    return tuple(result)


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    dx = (lon2 - lon1) * 111_320.0 * math.cos(math.radians((lat1 + lat2) / 2))
    dy = (lat2 - lat1) * 110_574.0
    return math.hypot(dx, dy)
