"""A built city: its metadata, basemap layers, road graph and the sites of its sensors and units.

A city lives in one folder (``cities/<slug>/``), written by ``services.citybuild`` from an
OpenStreetMap PBF file. The format (all coordinates are WGS84 lon, lat):

- ``city.json``: ``{"name", "slug", "timezone", "bbox": [minlon, minlat, maxlon, maxlat],
  "center": [lon, lat], "area_margin_m", "attribution", "source", "built_at"}``
- ``basemap/{roads,buildings,water,parks,districts,pois}.geojson``: FeatureCollections.
  districts carry ``properties.name``; pois carry ``properties.kind``
  (``fire_station`` | ``clinic`` | ``hospital`` | ``police``) and ``name``.
- ``road_graph.json``: ``{"nodes": [[node_id, lon, lat], ...],
  "edges": [[edge_id, u, v, length_m, speed_kmh, road_class, name, [[lon, lat], ...]], ...]}``,
  directed (a two-way street is two edges), speed_kmh is the speed limit.
- ``sites.json``: ``{"devices": [{"device_id", "type", "lon", "lat", "district",
  "interval_s", "name", ...type-specific}], "bases": [...], "units": [...]}``;
  traffic devices carry ``edge_ids`` (the directed edges they measure), ``road_class``,
  ``free_flow_kmh`` and a ``geometry`` LineString; water devices carry ``alert_level``,
  ``danger_level`` and ``normal_level`` (metres; the usual water level), and optionally
  ``reference_level`` (the height a FloodMonitoring sensor measures down from); units carry ``unit_id``, ``kind``,
  ``base_id``, ``vehicle_type``, ``emergency_vehicle_type``, ``capabilities``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from shapely.geometry import Point, shape
from shapely.prepared import prep

BASEMAP_LAYERS = ("districts", "water", "parks", "buildings", "roads", "pois")


@dataclass(frozen=True)
class RoadEdge:
    edge_id: int
    u: int
    v: int
    length_m: float
    speed_kmh: float
    road_class: str
    name: str
    coords: tuple[tuple[float, float], ...]


@dataclass
class City:
    folder: Path
    meta: dict
    sites: dict
    _districts: list = field(default_factory=list, repr=False)

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def timezone(self) -> str:
        return self.meta.get("timezone", "UTC")

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return tuple(self.meta["bbox"])

    @property
    def attribution(self) -> str:
        return self.meta.get("attribution", "© OpenStreetMap contributors (ODbL)")

    @property
    def devices(self) -> list[dict]:
        return self.sites.get("devices", [])

    @property
    def units(self) -> list[dict]:
        return self.sites.get("units", [])

    @property
    def bases(self) -> list[dict]:
        return self.sites.get("bases", [])

    def basemap(self, layer: str) -> dict:
        if layer not in BASEMAP_LAYERS:
            raise KeyError(f"unknown basemap layer {layer!r}")
        path = self.folder / "basemap" / f"{layer}.geojson"
        if not path.exists():
            return {"type": "FeatureCollection", "features": []}
        return json.loads(path.read_text())

    def road_graph(self) -> tuple[dict[int, tuple[float, float]], list[RoadEdge]]:
        raw = json.loads((self.folder / "road_graph.json").read_text())
        nodes = {int(n[0]): (float(n[1]), float(n[2])) for n in raw["nodes"]}
        edges = [
            RoadEdge(int(e[0]), int(e[1]), int(e[2]), float(e[3]), float(e[4]), e[5], e[6] or "",
                     tuple((float(x), float(y)) for x, y in e[7]))
            for e in raw["edges"]
        ]
        return nodes, edges

    def is_in_area(self, lon: float, lat: float) -> bool:
        """True when a point lies inside the city's bounding box widened by its margin."""
        minlon, minlat, maxlon, maxlat = self.bbox
        margin_m = float(self.meta.get("area_margin_m", 5000))
        dlat = margin_m / 111_320.0
        dlon = margin_m / (111_320.0 * max(math.cos(math.radians((minlat + maxlat) / 2)), 0.01))
        return (minlon - dlon) <= lon <= (maxlon + dlon) and (minlat - dlat) <= lat <= (maxlat + dlat)

    def district_of(self, lon: float, lat: float) -> str | None:
        if not self._districts:
            for feature in self.basemap("districts")["features"]:
                self._districts.append((feature["properties"].get("name"), prep(shape(feature["geometry"]))))
        point = Point(lon, lat)
        for name, polygon in self._districts:
            if polygon.contains(point):
                return name
        return None


def load_city(folder: Path | str) -> City:
    folder = Path(folder)
    meta_path = folder / "city.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"no built city at {folder} (city.json missing); see `python manage.py build-city`")
    meta = json.loads(meta_path.read_text())
    sites_path = folder / "sites.json"
    sites = json.loads(sites_path.read_text()) if sites_path.exists() else {}
    return City(folder=folder, meta=meta, sites=sites)


@lru_cache(maxsize=8)
def cached_city(folder: str) -> City:
    return load_city(folder)
