"""Recommended ETAs equal an independent shortest path over the same live-weighted road graph."""
from __future__ import annotations

import json
import random
from datetime import timedelta

import networkx as nx
import pytest
from sqlalchemy.dialects import postgresql, sqlite

from services.auth import Principal
from services.config import PROJECT_ROOT, Settings
from services.dispatch import CreateIncident, DispatchContext
from services.incidents import get_incident
from services.models import DeviceLatest, utcnow
from services.routing import RoadRouter, SpeedPolicy, live_edge_speeds
from services.runtime import open_runtime
from services.units import recommend_units

HELSINKI = PROJECT_ROOT / "cities" / "helsinki"
POLICY = SpeedPolicy(emergency_factor=1.3, emergency_cap_kmh=110.0)


def independent_graph(live_kmh: dict[int, float], emergency: bool) -> nx.DiGraph:
    """Built straight from road_graph.json, without services.routing."""
    raw = json.loads((HELSINKI / "road_graph.json").read_text())
    graph = nx.DiGraph()
    for edge_id, u, v, length_m, limit_kmh, *_ in raw["edges"]:
        kmh = max(live_kmh.get(edge_id, limit_kmh), 5.0)
        if emergency:
            kmh = max(kmh, min(kmh * 1.3, 110.0))
        seconds = max(length_m / (kmh / 3.6), 1e-3)
        if not graph.has_edge(u, v) or graph[u][v]["seconds"] > seconds:
            graph.add_edge(u, v, seconds=seconds)
    return graph


def test_emergency_speed_up_is_capped_and_never_slows_a_vehicle():
    assert POLICY.emergency_kmh(50.0) == pytest.approx(65.0)
    assert POLICY.emergency_kmh(100.0) == pytest.approx(110.0)
    assert POLICY.emergency_kmh(120.0) == pytest.approx(120.0)


@pytest.mark.parametrize("emergency", [True, False])
def test_routes_to_equal_networkx_dijkstra_with_live_speeds(emergency):
    nodes, edges = json.loads((HELSINKI / "road_graph.json").read_text()).values()
    rng = random.Random(7)
    live = {edge[0]: rng.uniform(4, 30) for edge in rng.sample(edges, 300)}  # a jammed city
    router = RoadRouter.for_city(__import__("services.city", fromlist=["load_city"]).load_city(HELSINKI))
    graph = independent_graph(live, emergency)
    points = [(n[1], n[2]) for n in rng.sample(nodes, 40)]
    target = points.pop()
    routes = router.routes_to(target, points, live_kmh=live, policy=POLICY, emergency=emergency)
    checked = 0
    for route in routes:
        assert route is not None
        expected = nx.dijkstra_path_length(graph, route.origin_node, route.target_node, weight="seconds")
        assert route.eta_seconds == pytest.approx(expected, rel=1e-9, abs=1e-6)
        # the route's own edges add up to the ETA and join the two nodes
        seconds = sum(graph[a][b]["seconds"] for a, b in zip(route_nodes(route, edges), route_nodes(route, edges)[1:]))
        assert seconds == pytest.approx(expected, rel=1e-9, abs=1e-6)
        checked += 1
    assert checked == 39


def route_nodes(route, edges) -> list[int]:
    by_id = {e[0]: e for e in edges}
    if not route.edge_ids:
        return [route.origin_node]
    path = [by_id[route.edge_ids[0]][1]] + [by_id[e][2] for e in route.edge_ids]
    assert path[0] == route.origin_node and path[-1] == route.target_node
    return path


def _insert_latest(engine, rows):
    insert = (postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert)(DeviceLatest.__table__)
    with engine.begin() as connection:
        connection.execute(insert, rows)


def test_recommended_etas_use_fresh_traffic_and_match_an_independent_shortest_path(database_url):
    runtime = open_runtime(Settings.from_env({}, database_url=database_url, city=str(HELSINKI)))
    engine, city = runtime.engine, runtime.city
    now = utcnow()
    traffic = [d for d in city.devices if d["type"] == "TrafficFlowObserved"]
    # fresh, slow traffic on half the counters; a stale (ignored) observation on the others
    rows = [{"device_id": d["device_id"], "entity_type": "TrafficFlowObserved",
             "observed_at": now - (timedelta(seconds=30) if i % 2 == 0 else timedelta(minutes=20)),
             "received_at": now, "lon": d["lon"], "lat": d["lat"],
             "values": {"averageVehicleSpeed": 6.0 + i % 5}} for i, d in enumerate(traffic)]
    _insert_latest(engine, rows)
    live = live_edge_speeds(engine, now, 300)
    expected_live = {}
    for i, d in enumerate(traffic):
        if i % 2 == 0:
            for edge_id in d["edge_ids"]:
                expected_live[edge_id] = min(6.0 + i % 5, expected_live.get(edge_id, 1e9))
    assert live == expected_live

    ctx = DispatchContext.of(runtime, publish=lambda *_: True, policy=POLICY)
    incident = CreateIncident(ctx, Principal("t", "dispatcher"), {
        "category": "traffic", "subCategory": "carAccident", "priority": 2, "lon": 24.9452, "lat": 60.1712})()
    candidates = recommend_units(engine, city, get_incident(engine, incident.id), now=now, policy=POLICY)
    assert {c.unit.kind for c in candidates} == {"ambulance", "fire", "police"}  # all able to handle car accidents
    graph = independent_graph(expected_live, emergency=True)
    for candidate in candidates:
        expected = nx.dijkstra_path_length(graph, candidate.route.origin_node, candidate.route.target_node,
                                           weight="seconds")
        assert candidate.eta_seconds == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert [c.eta_seconds for c in candidates] == sorted(c.eta_seconds for c in candidates)
    engine.dispose()
