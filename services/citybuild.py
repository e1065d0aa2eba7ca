"""Build a city folder (the format documented in ``services.city``) from an OpenStreetMap PBF file.

    python -m services.citybuild path/to/file.osm.pbf --name "Tampere" --timezone Europe/Helsinki

Steps: read the drivable road network and keep its largest strongly connected part (so a
route exists between any two nodes), write the basemap layers, split the city into
districts, then place sensors, bases and units on real roads and shores. Everything is
deterministic for a given PBF file and ``seed``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import re
import unicodedata
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone as dt_timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import networkx as nx
from shapely.geometry import LineString, MultiPoint, Point, box, mapping, shape
from shapely.ops import linemerge, unary_union, voronoi_diagram
from shapely.prepared import prep

ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0 (openstreetmap.org/copyright)"
AREA_MARGIN_M = 5000
METRES_PER_DEGREE = 111_320.0

# Speed limit when a road has no usable maxspeed tag, by OSM highway class (km/h).
DEFAULT_SPEED_KMH = {
    "motorway": 110, "trunk": 80, "primary": 50, "secondary": 50, "tertiary": 40,
    "unclassified": 40, "residential": 30, "living_street": 20, "service": 20,
    "road": 40, "busway": 40,
}
# maxspeed zone words ("FI:urban", "DE:rural", "walk") to km/h; a country prefix is ignored
# because the difference between countries is small for routing purposes.
ZONE_SPEED_KMH = {
    "urban": 50, "rural": 80, "motorway": 110, "trunk": 90, "living_street": 20,
    "zone30": 30, "zone20": 20, "walk": 7, "none": 130,
}
ONEWAY_FORWARD = {"yes", "true", "1"}
ONEWAY_BACKWARD = {"-1", "reverse"}

# Roads that carry a traffic counter: the main network, not residential streets.
MONITORED_CLASSES = ("motorway", "trunk", "primary", "secondary", "tertiary")
MAJOR_CLASSES = ("motorway", "trunk", "primary", "secondary")
SEGMENT_MIN_M, SEGMENT_TARGET_M, SEGMENT_MAX_M = 100.0, 250.0, 500.0

AIR_STATIONS, WEATHER_STATIONS, WATER_STATIONS = 8, 2, 6
# Shore features shorter than this are fountains and garden ponds, not places that flood.
MIN_WATER_AREA_M2 = 1000.0

POI_KINDS = {"fire_station": "fire_station", "hospital": "hospital", "clinic": "clinic",
             "doctors": "clinic", "police": "police"}
BASE_KIND_OF_POI = {"fire_station": "fire", "hospital": "ambulance", "clinic": "ambulance",
                    "police": "police"}

# Vehicle types follow the Smart Data Models Vehicle entity: vehicle_type is ``vehicleType``
# and emergency_vehicle_type is ``vehicleSpecialUsage`` (ambulance | fireBrigade | police).
# Flood pumps and rescue boats belong to the rescue service, hence fireBrigade.
UNIT_FLEET = (
    # kind, id prefix, count, base kind, vehicle_type, emergency_vehicle_type, capabilities
    ("ambulance", "amb", 4, "ambulance", "ambulance", "ambulance", ["health", "traffic/carAccident"]),
    ("fire", "fire", 3, "fire", "fireTender", "fireBrigade",
     ["fire", "naturalDisaster/flood", "traffic/carAccident"]),
    ("police", "pol", 3, "police", "police", "police", ["security", "traffic"]),
    ("flood", "flood", 2, "fire", "lorry", "fireBrigade", ["naturalDisaster/flood", "weather/rainfall"]),
    ("road", "road", 2, "depot", "lorry", None, ["traffic/roadWorks", "infrastructure"]),
)


# ---------------------------------------------------------------------------- geometry helpers

def metres_between(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine), in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def line_length_m(coords) -> float:
    return sum(metres_between(*a, *b) for a, b in zip(coords, coords[1:]))


class LocalPlane:
    """Equirectangular metres around the city: good enough for distances inside a city."""

    def __init__(self, lat: float):
        self.kx = METRES_PER_DEGREE * math.cos(math.radians(lat))

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return lon * self.kx, lat * METRES_PER_DEGREE

    def distance(self, a, b) -> float:
        (ax, ay), (bx, by) = self.xy(*a), self.xy(*b)
        return math.hypot(ax - bx, ay - by)

    def area_m2(self, geom) -> float:
        return geom.area * self.kx * METRES_PER_DEGREE


def rounded(coords, digits: int = 6):
    """Round the numbers of a (nested) GeoJSON coordinate array, to keep files small."""
    if isinstance(coords[0], (int, float)):
        return [round(c, digits) for c in coords]
    return [rounded(c, digits) for c in coords]


def feature(geom, properties: dict, simplify_deg: float = 0.0) -> dict:
    if simplify_deg:
        geom = geom.simplify(simplify_deg, preserve_topology=True)
    geometry = mapping(geom)
    return {"type": "Feature", "properties": properties,
            "geometry": {"type": geometry["type"], "coordinates": rounded(geometry["coordinates"])}}


def collection(features: list[dict]) -> dict:
    return {"type": "FeatureCollection", "features": features}


def slugify(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-") or "city"


def text(value) -> str:
    """An OSM tag value as text ('' for missing/NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def tag_dict(raw) -> dict:
    """pyrosm keeps the tags it has no column for in a JSON string."""
    if isinstance(raw, dict):
        return raw
    try:
        return json.loads(raw) if isinstance(raw, str) else {}
    except ValueError:
        return {}


# ---------------------------------------------------------------------------- road graph

@dataclass
class RoadEdge:
    edge_id: int
    u: int
    v: int
    length_m: float
    speed_kmh: float
    road_class: str
    name: str
    coords: list[tuple[float, float]]
    way_id: int
    oneway: bool


@dataclass
class RoadGraph:
    nodes: dict[int, tuple[float, float]]
    edges: list[RoadEdge]

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        lons = [lon for lon, _ in self.nodes.values()]
        lats = [lat for _, lat in self.nodes.values()]
        return min(lons), min(lats), max(lons), max(lats)

    def to_json(self) -> dict:
        return {
            "nodes": [[n, round(lon, 6), round(lat, 6)] for n, (lon, lat) in self.nodes.items()],
            "edges": [[e.edge_id, e.u, e.v, round(e.length_m, 1), e.speed_kmh, e.road_class, e.name,
                       rounded([list(c) for c in e.coords])] for e in self.edges],
        }


def parse_maxspeed(value, road_class: str) -> float:
    """Speed limit in km/h from an OSM maxspeed value: "30", "50 mph", "FI:urban", "30;50"."""
    raw = text(value).lower()
    first = raw.split(";")[0].strip()
    number = re.match(r"^(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?$", first)
    if number:
        speed = float(number.group(1)) * (1.609344 if number.group(2) == "mph" else 1.0)
        if speed > 0:
            return round(speed, 1)
    zone = first.split(":")[-1]
    if zone in ZONE_SPEED_KMH:
        return float(ZONE_SPEED_KMH[zone])
    base_class = road_class.removesuffix("_link")
    return float(DEFAULT_SPEED_KMH.get(base_class, 30))


def travel_directions(oneway, road_class: str, tags: dict) -> tuple[bool, bool]:
    """(forward, backward) along the way's drawing direction."""
    value = text(oneway).lower()
    if value in ONEWAY_FORWARD:
        return True, False
    if value in ONEWAY_BACKWARD:
        return False, True
    implied_oneway = road_class == "motorway" or tags.get("junction") in ("roundabout", "circular")
    if value != "no" and implied_oneway:
        return True, False
    return True, True


def read_road_graph(osm) -> RoadGraph:
    """Directed drivable graph, reduced to its largest strongly connected component."""
    nodes_gdf, edges_gdf = osm.get_network(network_type="driving", nodes=True)
    if edges_gdf is None or len(edges_gdf) == 0:
        raise ValueError("the PBF file has no drivable roads")
    nodes = {int(r.id): (float(r.lon), float(r.lat)) for r in nodes_gdf.itertuples()}
    edges: list[RoadEdge] = []
    for row in edges_gdf.itertuples():
        road_class = text(row.highway) or "road"
        coords = [(float(x), float(y)) for x, y in row.geometry.coords]
        # pyrosm's own 'length' column is not in metres in every version; measure it ourselves.
        length_m = max(line_length_m(coords), 0.1)
        speed = parse_maxspeed(getattr(row, "maxspeed", None), road_class)
        forward, backward = travel_directions(getattr(row, "oneway", None), road_class, tag_dict(row.tags))
        common = dict(length_m=length_m, speed_kmh=speed, road_class=road_class,
                      name=text(getattr(row, "name", "")), way_id=int(row.id), oneway=not (forward and backward))
        if forward:
            edges.append(RoadEdge(0, int(row.u), int(row.v), coords=coords, **common))
        if backward:
            edges.append(RoadEdge(0, int(row.v), int(row.u), coords=coords[::-1], **common))
    return largest_strong_component(nodes, edges)


def largest_strong_component(nodes: dict, edges: list[RoadEdge]) -> RoadGraph:
    digraph = nx.DiGraph()
    digraph.add_edges_from((e.u, e.v) for e in edges)
    keep = max(nx.strongly_connected_components(digraph), key=len)
    kept = [e for e in edges if e.u in keep and e.v in keep]
    for edge_id, edge in enumerate(kept, start=1):
        edge.edge_id = edge_id
    return RoadGraph(nodes={n: nodes[n] for n in sorted(keep)}, edges=kept)


class NodeFinder:
    """Nearest graph node and the street it belongs to."""

    def __init__(self, graph: RoadGraph, plane: LocalPlane):
        self.plane = plane
        self.ids = list(graph.nodes)
        self.xy = [plane.xy(*graph.nodes[n]) for n in self.ids]
        self.street_of = {}
        # Prefer the name of the biggest road at a node: it is what people would call the place.
        rank = {c: i for i, c in enumerate(MONITORED_CLASSES)}
        for edge in sorted(graph.edges, key=lambda e: -rank.get(e.road_class, 99)):
            if edge.name:
                self.street_of[edge.u] = edge.name
                self.street_of[edge.v] = edge.name

    def nearest(self, lon: float, lat: float) -> int:
        x, y = self.plane.xy(lon, lat)
        best = min(range(len(self.ids)), key=lambda i: (self.xy[i][0] - x) ** 2 + (self.xy[i][1] - y) ** 2)
        return self.ids[best]

    def street_near(self, lon: float, lat: float) -> str:
        return self.street_of.get(self.nearest(lon, lat), "")


# ---------------------------------------------------------------------------- traffic segments

def street_chains(edges: list[RoadEdge]) -> list[list[RoadEdge]]:
    """Consecutive directed edges of one street, joined where the street simply continues.

    An edge continues into the next when, at their shared node, it is the only edge of that
    street arriving and the next is the only edge of that street leaving (not counting the
    way back). Junctions where the street forks end the chain.
    """
    def same_street(a: RoadEdge, b: RoadEdge) -> bool:
        return a.name == b.name and a.road_class == b.road_class and b.v != a.u

    leaving, arriving = defaultdict(list), defaultdict(list)
    for e in edges:
        leaving[e.u].append(e)
        arriving[e.v].append(e)
    successor = {}
    for e in edges:
        nexts = [n for n in leaving[e.v] if same_street(e, n)]
        if len(nexts) == 1 and [p for p in arriving[e.v] if same_street(p, nexts[0])] == [e]:
            successor[e.edge_id] = nexts[0]
    has_predecessor = {n.edge_id for n in successor.values()}

    chains, seen = [], set()
    # Chain heads first; what is left over are closed loops (a roundabout), walked from anywhere.
    for start in sorted(edges, key=lambda e: e.edge_id in has_predecessor):
        if start.edge_id in seen:
            continue
        chain, edge = [], start
        while edge is not None and edge.edge_id not in seen:
            seen.add(edge.edge_id)
            chain.append(edge)
            edge = successor.get(edge.edge_id)
        chains.append(chain)
    return chains


def cut_chain(chain: list[RoadEdge], target_m: float) -> list[list[RoadEdge]]:
    """Split a chain into runs of whole edges close to ``target_m`` long (never over the max
    unless one edge alone is)."""
    total = sum(e.length_m for e in chain)
    pieces = max(1, math.ceil(total / SEGMENT_MAX_M), round(total / target_m))
    if total / pieces < SEGMENT_MIN_M:
        pieces = max(1, int(total // SEGMENT_MIN_M))
    runs, run, done = [], [], 0.0
    for edge in chain:
        boundary = total * (len(runs) + 1) / pieces
        # Close the run before this edge when that lands nearer the boundary than after it.
        if run and len(runs) < pieces - 1 and abs(done - boundary) < abs(done + edge.length_m - boundary):
            runs.append(run)
            run = []
        run.append(edge)
        done += edge.length_m
    runs.append(run)
    return runs


def traffic_segments(graph: RoadGraph) -> list[list[RoadEdge]]:
    monitored = [e for e in graph.edges if e.road_class in MONITORED_CLASSES]
    total = sum(e.length_m for e in monitored)
    # Aim for about 200 counters whatever the city's size, within the 100-500 m segment range.
    target = min(max(total / 200, SEGMENT_MIN_M), SEGMENT_MAX_M)
    segments = []
    for chain in street_chains(monitored):
        for run in cut_chain(chain, target):
            # Stubs between two junctions are too short to measure a flow on.
            if sum(e.length_m for e in run) >= SEGMENT_MIN_M / 2:
                segments.append(run)
    return segments


# ---------------------------------------------------------------------------- basemap layers

def osm_features(osm, custom_filter: dict, *, nodes: bool = True):
    """Rows matching any of the tag filters, or an empty list when the file has none."""
    found = osm.get_data_by_custom_criteria(custom_filter=custom_filter, keep_nodes=nodes,
                                            keep_ways=True, keep_relations=True)
    if found is None or len(found) == 0:
        return []
    return [row for row in found.itertuples() if row.geometry is not None and not row.geometry.is_empty]


def first_tag(row, *keys) -> tuple[str, str]:
    """The first of ``keys`` that the row carries, with its value."""
    for key in keys:
        value = text(getattr(row, key, None))
        if value:
            return key, value
    return "", ""


def roads_layer(graph: RoadGraph) -> dict:
    """One line per OSM way (its graph edges merged back together), both directions once."""
    by_way = defaultdict(list)
    for edge in graph.edges:
        by_way[edge.way_id].append(edge)
    features = []
    for way_edges in by_way.values():
        first = way_edges[0]
        lines = {tuple(sorted((e.u, e.v))): e.coords for e in way_edges}
        geom = linemerge([LineString(c) for c in lines.values()])
        features.append(feature(geom, {"name": first.name, "highway": first.road_class,
                                       "maxspeed_kmh": first.speed_kmh, "oneway": first.oneway}))
    return collection(features)


def buildings_layer(osm) -> dict:
    buildings = osm.get_buildings()
    if buildings is None:
        return collection([])
    features = []
    for row in buildings.itertuples():
        if row.geometry is None or row.geometry.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        # ~1 m tolerance: invisible on a city map, halves the file.
        features.append(feature(row.geometry, {"name": text(getattr(row, "name", ""))}, simplify_deg=0.00001))
    return collection(features)


def water_layer(osm) -> dict:
    rows = osm_features(osm, {
        "natural": ["water", "bay", "strait", "coastline"],
        "waterway": ["riverbank", "river", "canal", "stream", "dock"],
        "landuse": ["reservoir", "basin"],
    }, nodes=False)
    features = []
    for row in rows:
        _, kind = first_tag(row, "waterway", "natural", "landuse")
        features.append(feature(row.geometry, {"kind": kind, "name": text(getattr(row, "name", ""))},
                                simplify_deg=0.000005))
    return collection(features)


def parks_layer(osm) -> dict:
    rows = osm_features(osm, {
        "leisure": ["park", "garden"],
        "landuse": ["grass", "forest", "recreation_ground", "village_green", "meadow"],
        "natural": ["wood"],
    }, nodes=False)
    features = []
    for row in rows:
        if row.geometry.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        _, kind = first_tag(row, "leisure", "landuse", "natural")
        features.append(feature(row.geometry, {"kind": kind, "name": text(getattr(row, "name", ""))},
                                simplify_deg=0.00001))
    return collection(features)


def pois_layer(osm, area) -> dict:
    """Emergency-service places inside the city's area, as points (a building's inner point)."""
    rows = osm_features(osm, {"amenity": list(POI_KINDS)})
    inside = prep(area)
    features = []
    for row in rows:
        point = row.geometry.representative_point()
        if not inside.contains(point):
            continue
        kind = POI_KINDS[text(row.amenity)]
        name = text(getattr(row, "name", "")) or kind.replace("_", " ").title()
        features.append(feature(point, {"kind": kind, "name": name}))
    features.sort(key=lambda f: (f["properties"]["kind"], f["properties"]["name"]))
    return collection(features)


# ---------------------------------------------------------------------------- the gazetteer (places.json)

# Named features an operator would say a place by, and what they are on screen (``detail``).
PLACE_TAGS = ("amenity", "tourism", "historic", "leisure", "shop", "public_transport")


def osm_streets(osm, area) -> dict:
    """Every named street, square and path of the extract inside the area (more than the drivable graph)."""
    inside = prep(area)
    features = [feature(row.geometry, {"name": text(getattr(row, "name", ""))})
                for row in osm_features(osm, {"highway": True}, nodes=False)
                if text(getattr(row, "name", "")) and inside.intersects(row.geometry)]
    return collection(features)


def osm_addresses(osm, area) -> list:
    """House addresses ("Mannerheimintie 5") at their building or entrance, inside the area."""
    from services.places import Place

    found = osm.get_data_by_custom_criteria(custom_filter={"addr:housenumber": True}, keep_nodes=True,
                                            keep_ways=True, keep_relations=True)
    if found is None or len(found) == 0:
        return []
    inside = prep(area)
    places = []
    for row in found.to_dict("records"):  # not itertuples: "addr:..." is no attribute name
        tags = tag_dict(row.get("tags"))
        street = text(row.get("addr:street")) or text(tags.get("addr:street"))
        number = text(row.get("addr:housenumber")) or text(tags.get("addr:housenumber"))
        geometry = row.get("geometry")
        if not street or not number or geometry is None or geometry.is_empty:
            continue
        point = geometry.representative_point()
        if inside.contains(point):
            places.append(Place(f"{street} {number}", "address", point.x, point.y, ""))
    return places


def osm_places(osm, area) -> list:
    """Named shops, restaurants, hotels, monuments, stations ... at an inner point, with what they are."""
    from services.places import Place
    from services.vocabulary import words

    inside = prep(area)
    places = []
    for row in osm_features(osm, {key: True for key in PLACE_TAGS}):
        name, point = text(getattr(row, "name", "")), row.geometry.representative_point()
        key, value = first_tag(row, *PLACE_TAGS)
        if not name or not inside.contains(point) or (key == "public_transport" and value != "station"):
            continue
        what = "Shop" if (key, value) == ("shop", "yes") else words(value) + (" shop" if key == "shop" else "")
        places.append(Place(name, "place", point.x, point.y, what))
    return places


def gazetteer(osm, area, layers: dict, districts: "DistrictIndex") -> dict:
    """``places.json``: districts, streets, named places and house addresses, each with its district."""
    from services.places import PLACE_KINDS, Place, basemap_places, unique

    def in_district(place: Place) -> Place:
        return place if place.detail or place.kind == "district" else \
            Place(place.name, place.kind, place.lon, place.lat, districts.district_of(place.lon, place.lat))

    found = basemap_places(layers, osm_streets(osm, area), districts.district_of) + osm_places(osm, area)
    found += [in_district(place) for place in osm_addresses(osm, area)]
    places = sorted(unique(found), key=lambda p: (PLACE_KINDS.index(p.kind), p.name))
    return {"places": [place.as_row() for place in places]}


# ---------------------------------------------------------------------------- districts

PLACE_MARGIN_M = 1000.0  # a neighbourhood's label node may sit just outside the extract
NAME_KEYS = ("name", "NAME", "Name", "nimi", "nom", "nombre", "district", "DISTRICT")


def district_features(polygons: list[tuple[str, object]], area) -> dict:
    """Districts clipped to the city's area, with unique ids."""
    features, used_ids = [], Counter()
    for name, polygon in polygons:
        clipped = polygon.intersection(area)
        if clipped.is_empty or clipped.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        district_id = slugify(name)
        used_ids[district_id] += 1
        if used_ids[district_id] > 1:
            district_id = f"{district_id}-{used_ids[district_id]}"
        features.append(feature(clipped, {"name": name, "id": district_id}, simplify_deg=0.00001))
    return collection(features)


def districts_from_file(path: Path) -> list[tuple[str, object]]:
    data = json.loads(Path(path).read_text())
    polygons = []
    for number, item in enumerate(data.get("features", []), start=1):
        geom = shape(item["geometry"]) if item.get("geometry") else None
        if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon"):
            continue
        props = item.get("properties") or {}
        name = next((str(props[k]) for k in NAME_KEYS if props.get(k)), f"District {number}")
        polygons.append((name, geom.buffer(0)))
    if not polygons:
        raise ValueError(f"{path} has no Polygon features to use as districts")
    return polygons


def districts_from_admin_boundaries(osm, area) -> list[tuple[str, object]]:
    """The most detailed sub-municipal level (admin_level 10, else 9) that covers the area."""
    boundaries = osm.get_boundaries(boundary_type="administrative")
    if boundaries is None or "admin_level" not in boundaries:
        return []
    for level in ("10", "9"):
        rows = [r for r in boundaries.itertuples()
                if text(r.admin_level) == level and text(getattr(r, "name", ""))
                and r.geometry is not None and r.geometry.intersects(area)]
        if rows:
            return [(text(r.name), r.geometry.buffer(0)) for r in rows]
    return []


def voronoi_regions(named_points: list[tuple[str, Point]], area) -> list[tuple[str, object]]:
    """Cells of the points' Voronoi diagram, each named after its point, merged by name."""
    if len(named_points) == 1:
        return [(named_points[0][0], area)]
    cells = voronoi_diagram(MultiPoint([p for _, p in named_points]), envelope=area.buffer(1.0))
    by_name = defaultdict(list)
    for cell in cells.geoms:
        for name, point in named_points:
            if cell.contains(point):
                by_name[name].append(cell)
                break
    return [(name, unary_union(parts)) for name, parts in sorted(by_name.items())]


def districts_from_places(osm, area, plane: LocalPlane) -> list[tuple[str, object]]:
    rows = osm_features(osm, {"place": ["suburb", "quarter", "neighbourhood"]})
    margin_deg = PLACE_MARGIN_M / METRES_PER_DEGREE
    near = area.buffer(margin_deg)
    named = {}
    for row in rows:
        name, point = text(getattr(row, "name", "")), row.geometry.representative_point()
        if name and near.contains(point):
            named.setdefault(name, point)
    return voronoi_regions(sorted(named.items()), area) if named else []


def districts_from_postcodes(osm, area, city_name: str) -> list[tuple[str, object]]:
    """Postal areas, reconstructed from the postcodes in building and shop addresses.

    Each addressed place takes the postcode most of its neighbours have (addresses near an
    area's edge are noisy), then the Voronoi cells of one postcode form its district.
    """
    found = osm.get_data_by_custom_criteria(custom_filter={"addr:postcode": True})
    if found is None or "addr:postcode" not in found:
        return []
    points = [(text(code), geom.representative_point())
              for code, geom in zip(found["addr:postcode"], found.geometry) if geom is not None]
    points = [(code, p) for code, p in points if re.fullmatch(r"[\w -]{3,10}", code) and area.contains(p)]
    counts = Counter(code for code, _ in points)
    common = {code for code, n in counts.items() if n >= max(10, 0.02 * len(points))}
    if len(common) < 2:
        return []
    points = [(code, p) for code, p in points if code in common]
    smoothed = []
    for code, p in points:
        nearest = sorted(points, key=lambda other: other[1].distance(p))[:9]
        smoothed.append((Counter(c for c, _ in nearest).most_common(1)[0][0], p))
    unique = {(p.x, p.y): (code, p) for code, p in smoothed}  # Voronoi needs distinct points
    regions = voronoi_regions(list(unique.values()), area)
    return [(f"{city_name} {code}", polygon) for code, polygon in regions]


def rename_districts(layer: dict, names: dict[str, str]) -> None:
    """Gives districts display names: by their full name, or by a trailing code (a postcode)."""
    for district in layer["features"]:
        current = district["properties"]["name"]
        code = current.rsplit(" ", 1)[-1]
        if current in names:
            district["properties"]["name"] = names[current]
        elif code in names:
            district["properties"]["name"] = f"{names[code]} ({code})"


def build_districts(osm, area, plane: LocalPlane, city_name: str, districts_geojson=None) -> tuple[dict, str]:
    """The districts layer and where it came from (for the build log)."""
    candidates = []
    if districts_geojson:
        candidates.append(("file", lambda: districts_from_file(districts_geojson)))
    candidates += [
        ("OSM admin boundaries", lambda: districts_from_admin_boundaries(osm, area)),
        ("OSM place nodes", lambda: districts_from_places(osm, area, plane)),
        ("OSM address postcodes", lambda: districts_from_postcodes(osm, area, city_name)),
    ]
    for source, make in candidates:
        layer = district_features(make(), area)
        if layer["features"]:
            return layer, source
    return district_features([(city_name, area)], area), "whole city"


class DistrictIndex:
    """Which district a point is in; the nearest one for a point outside them all."""

    def __init__(self, layer: dict):
        self.shapes = [(f["properties"]["name"], shape(f["geometry"])) for f in layer["features"]]
        self.prepared = [(name, prep(geom)) for name, geom in self.shapes]

    def district_of(self, lon: float, lat: float) -> str:
        point = Point(lon, lat)
        for name, polygon in self.prepared:
            if polygon.contains(point):
                return name
        return min(self.shapes, key=lambda item: item[1].distance(point))[0]


# ---------------------------------------------------------------------------- sensor and unit sites

def spread_out(candidates: list[tuple[float, float]], k: int, plane: LocalPlane,
               rng: random.Random) -> list[tuple[float, float]]:
    """``k`` candidates spread evenly over the candidates' extent (k-means, then the nearest
    real candidate to each centre), so stations cover the city without crowding its edges."""
    unique = sorted(set(candidates))
    if len(unique) <= k:
        return unique
    sample = rng.sample(unique, min(len(unique), 4000))
    points = [plane.xy(*c) for c in sample]
    centres = rng.sample(points, k)
    for _ in range(25):
        groups = defaultdict(list)
        for x, y in points:
            closest = min(range(k), key=lambda i: (centres[i][0] - x) ** 2 + (centres[i][1] - y) ** 2)
            groups[closest].append((x, y))
        for i, group in groups.items():
            centres[i] = (sum(x for x, _ in group) / len(group), sum(y for _, y in group) / len(group))
    chosen = []
    for cx, cy in centres:
        best = min((c for c in sample if c not in chosen),
                   key=lambda c: (plane.xy(*c)[0] - cx) ** 2 + (plane.xy(*c)[1] - cy) ** 2)
        chosen.append(best)
    return chosen


def compass_word(coords) -> str:
    (x0, y0), (x1, y1) = coords[0], coords[-1]
    angle = math.degrees(math.atan2((x1 - x0) * math.cos(math.radians(y0)), y1 - y0)) % 360
    return ("north", "east", "south", "west")[int(((angle + 45) % 360) // 90)]


def run_coords(run: list[RoadEdge]) -> list[tuple[float, float]]:
    coords = list(run[0].coords)
    for edge in run[1:]:
        coords.extend(edge.coords[1:])
    return coords


def traffic_devices(graph: RoadGraph, districts: DistrictIndex) -> list[dict]:
    devices = []
    for number, run in enumerate(traffic_segments(graph), start=1):
        coords = run_coords(run)
        mid = LineString(coords).interpolate(0.5, normalized=True)
        length = sum(e.length_m for e in run)
        speed_by_length = Counter()
        for edge in run:
            speed_by_length[edge.speed_kmh] += edge.length_m
        street = run[0].name or f"{run[0].road_class.title()} road"
        devices.append({
            "device_id": f"traffic-{number:03d}", "type": "TrafficFlowObserved",
            "lon": round(mid.x, 6), "lat": round(mid.y, 6),
            "district": districts.district_of(mid.x, mid.y), "interval_s": 60,
            "name": f"{street} {compass_word(coords)}bound traffic counter", "street": street,
            "edge_ids": [e.edge_id for e in run], "road_class": run[0].road_class,
            "free_flow_kmh": speed_by_length.most_common(1)[0][0], "length_m": round(length, 1),
            "geometry": {"type": "LineString", "coordinates": rounded([list(c) for c in coords])},
        })
    return devices


def station(device_id: str, device_type: str, lon: float, lat: float, name: str,
            districts: DistrictIndex, interval_s: int) -> dict:
    return {"device_id": device_id, "type": device_type, "lon": round(lon, 6), "lat": round(lat, 6),
            "district": districts.district_of(lon, lat), "interval_s": interval_s, "name": name}


def air_stations(graph: RoadGraph, finder: NodeFinder, districts: DistrictIndex, rng) -> list[dict]:
    # Air quality is monitored where the traffic is: at nodes of the major roads.
    major = {n for e in graph.edges if e.road_class in MAJOR_CLASSES for n in (e.u, e.v)}
    candidates = [graph.nodes[n] for n in (major or graph.nodes)]
    return [station(f"air-{i:02d}", "AirQualityObserved", lon, lat,
                    f"{finder.street_near(lon, lat) or 'City'} air quality station", districts, 60)
            for i, (lon, lat) in enumerate(spread_out(candidates, AIR_STATIONS, finder.plane, rng), start=1)]


def weather_stations(graph: RoadGraph, finder: NodeFinder, districts: DistrictIndex, rng) -> list[dict]:
    spots = spread_out(list(graph.nodes.values()), WEATHER_STATIONS, finder.plane, rng)
    return [station(f"weather-{i:02d}", "WeatherObserved", lon, lat,
                    f"{finder.street_near(lon, lat) or 'City'} weather station", districts, 60)
            for i, (lon, lat) in enumerate(spots, start=1)]


def shore_points(water: dict, area, plane: LocalPlane, step_m: float = 25.0) -> list[tuple[tuple, str]]:
    """Points every ``step_m`` along shores and rivers inside the area, with the water's name."""
    inside = prep(area)
    points = []
    for item in water["features"]:
        geom = shape(item["geometry"])
        if geom.geom_type in ("Polygon", "MultiPolygon"):
            if plane.area_m2(geom) < MIN_WATER_AREA_M2:
                continue
            geom = geom.boundary
        lines = getattr(geom, "geoms", [geom])
        for line in lines:
            count = max(1, int(line_length_m(list(line.coords)) // step_m))
            for i in range(count + 1):
                p = line.interpolate(i / count, normalized=True)
                if inside.contains(p):
                    points.append(((p.x, p.y), item["properties"].get("name", "")))
    return points


def edge_points(graph: RoadGraph, share: float = 0.1) -> list[tuple[float, float]]:
    """Road nodes near the edge of the area: where water usually is when the extract has none."""
    minlon, minlat, maxlon, maxlat = graph.bbox
    dx, dy = (maxlon - minlon) * share, (maxlat - minlat) * share
    return [(lon, lat) for lon, lat in graph.nodes.values()
            if lon < minlon + dx or lon > maxlon - dx or lat < minlat + dy or lat > maxlat - dy]


def water_stations(graph: RoadGraph, water: dict, area, finder: NodeFinder,
                   districts: DistrictIndex, rng) -> list[dict]:
    """Half flood sensors, half water-level gauges, on the shores (alternating along them)."""
    shore = shore_points(water, area, finder.plane)
    water_name = dict(shore)
    spots = spread_out([p for p, _ in shore] or edge_points(graph), WATER_STATIONS, finder.plane, rng)
    devices = []
    for i, (lon, lat) in enumerate(spots):
        place = water_name.get((lon, lat)) or finder.street_near(lon, lat) or "City"
        flood = i % 2 == 0
        kind, prefix, label = (("FloodMonitoring", "flood", "flood sensor") if flood
                               else ("WaterObserved", "water", "water level gauge"))
        device = station(f"{prefix}-{i // 2 + 1:02d}", kind, lon, lat, f"{place} {label}", districts, 30)
        device.update(normal_level=round(rng.uniform(0.2, 0.6), 2),
                      alert_level=round(rng.uniform(1.0, 1.5), 2),
                      danger_level=round(rng.uniform(1.8, 2.5), 2))
        devices.append(device)
    return devices


def poi_bases(pois: dict, finder: NodeFinder) -> list[dict]:
    bases, per_kind = [], Counter()
    for item in pois["features"]:
        kind = BASE_KIND_OF_POI[item["properties"]["kind"]]
        lon, lat = item["geometry"]["coordinates"]
        per_kind[kind] += 1
        bases.append({"base_id": f"base-{kind}-{per_kind[kind]}", "name": item["properties"]["name"],
                      "kind": kind, "lon": lon, "lat": lat, "node": finder.nearest(lon, lat)})
    return bases


def placed_base(kind: str, name: str, graph: RoadGraph, finder: NodeFinder, taken: set[int]) -> dict:
    """A base on a real road node when OpenStreetMap has none: stations near the centre (short
    response times), the maintenance depot on the outskirts (where depots are)."""
    minlon, minlat, maxlon, maxlat = graph.bbox
    centre = ((minlon + maxlon) / 2, (minlat + maxlat) / 2)
    major = [n for e in graph.edges if e.road_class in MAJOR_CLASSES for n in (e.u, e.v)] or list(graph.nodes)
    free = sorted(set(major) - taken) or sorted(set(graph.nodes) - taken) or list(graph.nodes)
    def distance_to_centre(node: int) -> float:
        return finder.plane.distance(graph.nodes[node], centre)

    node = max(free, key=distance_to_centre) if kind == "depot" else min(free, key=distance_to_centre)
    lon, lat = graph.nodes[node]
    return {"base_id": f"base-{kind}-1", "name": name, "kind": kind, "lon": lon, "lat": lat, "node": node}


def all_bases(pois: dict, graph: RoadGraph, finder: NodeFinder, city_name: str) -> list[dict]:
    bases = poi_bases(pois, finder)
    have = {b["kind"] for b in bases}
    wanted = {"fire": "fire station", "ambulance": "ambulance station", "police": "police station",
              "depot": "road maintenance depot"}
    for kind, label in wanted.items():
        if kind not in have:
            taken = {b["node"] for b in bases}
            bases.append(placed_base(kind, f"{city_name} {label}", graph, finder, taken))
    return bases


def fleet(bases: list[dict], graph: RoadGraph, plane: LocalPlane) -> list[dict]:
    """The response units, shared round-robin over the bases of their kind, central bases first."""
    minlon, minlat, maxlon, maxlat = graph.bbox
    centre = ((minlon + maxlon) / 2, (minlat + maxlat) / 2)
    units = []
    for kind, prefix, count, base_kind, vehicle_type, emergency_type, capabilities in UNIT_FLEET:
        homes = sorted((b for b in bases if b["kind"] == base_kind),
                       key=lambda b: (plane.distance((b["lon"], b["lat"]), centre), b["base_id"]))
        for number in range(1, count + 1):
            base = homes[(number - 1) % len(homes)]
            units.append({"unit_id": f"{prefix}-{number}", "name": f"{kind.title()} {number}", "kind": kind,
                          "base_id": base["base_id"], "lon": base["lon"], "lat": base["lat"],
                          "vehicle_type": vehicle_type, "emergency_vehicle_type": emergency_type,
                          "capabilities": list(capabilities), "interval_s": 5})
    return units


# ---------------------------------------------------------------------------- the build

def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")))


def build_city(pbf_path, out_dir, *, name: str | None = None, slug: str | None = None,
               timezone: str | None = None, districts_geojson=None, district_names: dict | None = None,
               seed: int = 7) -> Path:
    """Build the city folder ``out_dir`` from ``pbf_path``; returns the folder."""
    import pyrosm  # heavy; only the build needs it

    pbf_path, out_dir = Path(pbf_path), Path(out_dir)
    name = name or pbf_path.name.split(".")[0].replace("_", " ").replace("-", " ").title()
    timezone = timezone or "UTC"
    ZoneInfo(timezone)  # fail now on a mistyped time zone, not on the first screen
    rng = random.Random(seed)

    with warnings.catch_warnings():
        # pyrosm and geopandas warn about pandas internals on every call; nothing to act on.
        warnings.simplefilter("ignore")
        osm = pyrosm.OSM(str(pbf_path))
        graph = read_road_graph(osm)
        area = box(*graph.bbox)
        plane = LocalPlane((graph.bbox[1] + graph.bbox[3]) / 2)
        finder = NodeFinder(graph, plane)
        layers = {"roads": roads_layer(graph), "buildings": buildings_layer(osm), "water": water_layer(osm),
                  "parks": parks_layer(osm), "pois": pois_layer(osm, area)}
        layers["districts"], district_source = build_districts(osm, area, plane, name, districts_geojson)
        rename_districts(layers["districts"], district_names or {})

    districts = DistrictIndex(layers["districts"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        places = gazetteer(osm, area, layers, districts)
    bases = all_bases(layers["pois"], graph, finder, name)
    sites = {
        "devices": (traffic_devices(graph, districts) + air_stations(graph, finder, districts, rng)
                    + weather_stations(graph, finder, districts, rng)
                    + water_stations(graph, layers["water"], area, finder, districts, rng)),
        "bases": bases,
        "units": fleet(bases, graph, plane),
    }
    minlon, minlat, maxlon, maxlat = graph.bbox
    meta = {
        "name": name, "slug": slug or slugify(name), "timezone": timezone,
        "bbox": [round(v, 6) for v in graph.bbox],
        "center": [round((minlon + maxlon) / 2, 6), round((minlat + maxlat) / 2, 6)],
        "area_margin_m": AREA_MARGIN_M, "attribution": ATTRIBUTION, "source": pbf_path.name,
        "districts_source": district_source,
        "built_at": datetime.now(dt_timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    }
    write_json(out_dir / "city.json", meta)
    write_json(out_dir / "road_graph.json", graph.to_json())
    write_json(out_dir / "sites.json", sites)
    write_json(out_dir / "places.json", places)
    for layer, data in layers.items():
        write_json(out_dir / "basemap" / f"{layer}.geojson", data)
    return out_dir


def summary(folder: Path) -> str:
    from services.city import load_city
    from services.places import city_places

    city = load_city(folder)
    nodes, edges = city.road_graph()
    kinds = Counter(d["type"] for d in city.devices)
    size_kb = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1024
    districts = [f["properties"]["name"] for f in city.basemap("districts")["features"]]
    return (f"built {city.name} in {folder} ({size_kb:.0f} kB): {len(nodes)} nodes, {len(edges)} edges, "
            f"devices {dict(kinds)}, {len(city.bases)} bases, {len(city.units)} units, "
            f"{len(city_places(city))} places, "
            f"districts ({city.meta.get('districts_source')}): {', '.join(districts)}")


def main(argv: list[str] | None = None) -> int:
    from services.config import CITIES_DIR

    parser = argparse.ArgumentParser(prog="build-city", description="Build a CityOps city from an OSM PBF file.")
    parser.add_argument("pbf", help="OpenStreetMap extract (.osm.pbf)")
    parser.add_argument("--out", help="output folder (default: cities/<slug>)")
    parser.add_argument("--name", help="city name shown on screens (default: from the file name)")
    parser.add_argument("--timezone", help="IANA time zone, e.g. Europe/Helsinki (default: UTC)")
    parser.add_argument("--districts", help="GeoJSON of district polygons (properties.name)")
    parser.add_argument("--district-names", help="JSON object: district name or postcode -> display name")
    parser.add_argument("--seed", type=int, default=7, help="placement seed (default: 7)")
    args = parser.parse_args(argv)

    pbf = Path(args.pbf)
    if not pbf.is_file():
        parser.error(f"no such file: {pbf}")
    name = args.name or pbf.name.split(".")[0].replace("_", " ").replace("-", " ").title()
    out = Path(args.out) if args.out else CITIES_DIR / slugify(name)
    folder = build_city(pbf, out, name=name, timezone=args.timezone,
                        districts_geojson=args.districts, seed=args.seed,
                        district_names=json.loads(Path(args.district_names).read_text()) if args.district_names else None)
    print(summary(folder))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
