"""The city's own gazetteer: its addresses, streets, places and districts, searched offline by name.

A built city keeps them in ``places.json`` (written by services/citybuild.py from the OpenStreetMap
extract: ``{"places": [[name, kind, lon, lat, detail], ...]}``). A city built before that file existed
gets its gazetteer from what it stores: the street names of its road graph, the named buildings, parks and
emergency-service places of its basemap, and its districts (no house addresses then).

``search_places`` is what the incident form and ``GET /api/v1/places?q=`` answer with: the name typed in
any case and without its accents ("mannerh" finds Mannerheimintie, "toolo" finds Töölö), best match first.
"""
from __future__ import annotations

import json
import math
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Callable, Iterable

from shapely.geometry import shape
from shapely.ops import linemerge, unary_union

from services.i18n import N_
from services.city import City

PLACE_KINDS = ("address", "street", "place", "district")
KIND_RANK = {"street": 0, "district": 1, "place": 2, "address": 3}  # among equally good matches
KIND_LABELS = {"address": N_("Address"), "street": N_("Street"), "place": N_("Place"), "district": N_("District")}
SEARCH_LIMIT = 8
MIN_QUERY = 2  # characters: one letter matches half the city


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # address | street | place | district
    lon: float
    lat: float
    detail: str = ""  # the district, or what the place is ("Hotel")

    def as_json(self) -> dict:
        return {"name": self.name, "kind": self.kind, "detail": self.detail,
                "location": {"type": "Point", "coordinates": [self.lon, self.lat]}}

    def as_row(self) -> list:
        return [self.name, self.kind, round(self.lon, 6), round(self.lat, 6), self.detail]


def fold(text: str) -> str:
    """Lower case without accents, words separated by one space: "Töölönkatu 4 B" -> "toolonkatu 4 b"."""
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join(re.findall(r"[^\W_]+", plain))


# ---------------------------------------------------------------- the gazetteer from map layers

DistrictOf = Callable[[float, float], "str | None"]  # (lon, lat) -> the district's name


def street_places(lines: dict, district_of: DistrictOf) -> list[Place]:
    """One place per street name: the middle of its longest stretch (where a unit would be sent)."""
    by_name: dict[str, list] = {}
    for feature in lines["features"]:
        name = (feature.get("properties") or {}).get("name")
        if name and feature.get("geometry"):
            geometry = shape(feature["geometry"])  # a square drawn as an area counts by its outline
            by_name.setdefault(name, []).append(geometry.boundary if geometry.geom_type.endswith("Polygon")
                                                else geometry)
    places = []
    for name, parts in sorted(by_name.items()):
        merged = unary_union(parts) if len(parts) > 1 else parts[0]
        if merged.geom_type == "MultiLineString":
            merged = linemerge(merged)
        longest = max(getattr(merged, "geoms", [merged]), key=lambda line: line.length)
        middle = longest.interpolate(0.5, normalized=True) if longest.length else longest.representative_point()
        places.append(Place(name, "street", middle.x, middle.y, district_of(middle.x, middle.y) or ""))
    return places


def district_places(districts: dict) -> list[Place]:
    return [Place(feature["properties"]["name"], "district", point.x, point.y, "")
            for feature in districts["features"] if feature["properties"].get("name")
            for point in (shape(feature["geometry"]).representative_point(),)]


def named_places(layers: Iterable[tuple[dict, str]]) -> list[Place]:
    """The named features of basemap layers (buildings, parks, emergency services), at an inner point;
    ``detail`` is the feature's kind in words, else the layer's word."""
    from services.vocabulary import words

    places = []
    for collection, what in layers:
        for feature in collection["features"]:
            properties = feature.get("properties") or {}
            if properties.get("name") and feature.get("geometry"):
                point = shape(feature["geometry"]).representative_point()
                detail = words(properties["kind"]) if properties.get("kind") else what
                places.append(Place(properties["name"], "place", point.x, point.y, detail))
    return places


def unique(places: Iterable[Place]) -> list[Place]:
    """The first place of each (name, kind): a building and the restaurant inside it are one place."""
    seen, kept = set(), []
    for place in places:
        key = (fold(place.name), place.kind)
        if key not in seen:
            seen.add(key)
            kept.append(place)
    return kept


def basemap_places(layers: dict[str, dict], streets: dict, district_of: DistrictOf) -> list[Place]:
    """Districts, the streets of ``streets`` (named lines) and the named features of the basemap layers."""
    return (district_places(layers["districts"]) + street_places(streets, district_of)
            + named_places([(layers["pois"], "Emergency service"), (layers["parks"], "Park"),
                            (layers["buildings"], "Building")]))


def places_from_layers(city: City) -> list[Place]:
    """The gazetteer of a city built without places.json: what it stores (the street names of its road
    graph, the named features of its basemap, its districts)."""
    layers = {name: city.basemap(name) for name in ("districts", "pois", "parks", "buildings")}
    _, edges = city.road_graph()
    streets = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": edge.name},
         "geometry": {"type": "LineString", "coordinates": [list(c) for c in edge.coords]}}
        for edge in edges if edge.name and len(edge.coords) >= 2]}
    return unique(basemap_places(layers, streets, city.district_of))


# ---------------------------------------------------------------- reading and searching

@dataclass(frozen=True)
class _Index:
    places: tuple[Place, ...]
    folded: tuple[str, ...]
    words: tuple[tuple[str, ...], ...]


_indexes: dict[str, _Index] = {}
_lock = threading.Lock()


def city_places(city: City) -> tuple[Place, ...]:
    return _index(city).places


def _index(city: City) -> _Index:
    key = str(city.folder)
    index = _indexes.get(key)
    if index is None:
        with _lock:
            index = _indexes.get(key)
            if index is None:
                places = tuple(_load(city))
                folded = tuple(fold(p.name) for p in places)
                index = _Index(places, folded, tuple(tuple(f.split()) for f in folded))
                _indexes[key] = index
    return index


def _load(city: City) -> list[Place]:
    path = city.folder / "places.json"
    if not path.exists():
        return places_from_layers(city)
    rows = json.loads(path.read_text())["places"]
    return [Place(str(name), kind, float(lon), float(lat), detail or "") for name, kind, lon, lat, detail in rows]


def _score(folded: str, words: tuple[str, ...], query: str, tokens: list[str]) -> int | None:
    """0 the whole name, 1 its beginning, 2 every word typed begins a word of the name, 3 anywhere in it."""
    if folded == query:
        return 0
    if folded.startswith(query):
        return 1
    if all(any(word.startswith(token) for word in words) for token in tokens):
        return 2
    if query in folded:
        return 3
    return None


def search_places(city: City, text: str, limit: int = SEARCH_LIMIT) -> list[Place]:
    """The city's places whose name matches ``text`` (case and accents ignored), best first: a whole
    name, then a name's beginning, then words' beginnings, then anywhere; streets before districts,
    places and addresses among equals; shorter names first ("Mannerheimintie 2" before "... 20")."""
    query = fold(text)
    if len(query) < MIN_QUERY:
        return []
    tokens = query.split()
    index = _index(city)
    found = []
    for place, folded, words in zip(index.places, index.folded, index.words):
        score = _score(folded, words, query, tokens)
        if score is not None:
            found.append((score, KIND_RANK.get(place.kind, 9), len(place.name), place.name, place))
    found.sort(key=lambda item: item[:4])
    return [item[-1] for item in found[:max(0, limit)]]


def nearest_address(city: City, lon: float, lat: float, within_m: float = 60.0) -> Place | None:
    """The address (or, without addresses, the street) nearest a map click, if one is within ``within_m``."""
    places = city_places(city)
    kind = "address" if any(p.kind == "address" for p in places) else "street"
    scale = math.cos(math.radians(lat))
    best, best_m = None, within_m
    for place in places:
        if place.kind == kind:
            metres = math.hypot((place.lon - lon) * scale, place.lat - lat) * 111_320.0
            if metres <= best_m:
                best, best_m = place, metres
    return best
