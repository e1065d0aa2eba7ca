"""The road network units drive on: routing by travel time and positions along real edge geometry."""
from __future__ import annotations

import heapq
from bisect import bisect_right
from typing import Callable

import networkx as nx
import numpy as np

from services.city import City, RoadEdge

from .common import bearing_deg, metres_between

EdgeSpeed = Callable[[RoadEdge], float]


class RoadNetwork:
    def __init__(self, city: City):
        self.nodes, edge_list = city.road_graph()
        self.edges: dict[int, RoadEdge] = {e.edge_id: e for e in edge_list}
        self.graph = nx.DiGraph()
        for edge in edge_list:
            current = self.graph.get_edge_data(edge.u, edge.v)
            if current is None or self.edges[current["edge_id"]].length_m > edge.length_m:
                self.graph.add_edge(edge.u, edge.v, edge_id=edge.edge_id)
        self._in_edges: dict[int, list[RoadEdge]] = {}
        for edge in edge_list:
            self._in_edges.setdefault(edge.v, []).append(edge)
        core = max(nx.strongly_connected_components(self.graph), key=len) if edge_list else set()
        self.core_nodes = sorted(core)
        self._core_xy = np.array([self.nodes[n] for n in self.core_nodes]) if core else np.zeros((0, 2))
        self._cumulative: dict[int, list[float]] = {}

    # --- where things are -------------------------------------------------------------------
    def nearest_node(self, lon: float, lat: float) -> int:
        """The closest node from which every other well-connected node can be reached and back."""
        scale = np.cos(np.radians(lat))
        d2 = ((self._core_xy[:, 0] - lon) * scale) ** 2 + (self._core_xy[:, 1] - lat) ** 2
        return self.core_nodes[int(np.argmin(d2))]

    def core_edges(self) -> list[RoadEdge]:
        core = set(self.core_nodes)
        return [e for e in self.edges.values() if e.u in core and e.v in core]

    def _cumulative_lengths(self, edge: RoadEdge) -> list[float]:
        cached = self._cumulative.get(edge.edge_id)
        if cached is None:
            cached = [0.0]
            for a, b in zip(edge.coords, edge.coords[1:]):
                cached.append(cached[-1] + metres_between(a, b))
            self._cumulative[edge.edge_id] = cached
        return cached

    def position_on(self, edge: RoadEdge, distance_m: float) -> tuple[float, float, float]:
        """(lon, lat, bearing) at distance_m along the edge (its length_m stretched onto its geometry)."""
        cumulative = self._cumulative_lengths(edge)
        geometric = cumulative[-1]
        if len(edge.coords) < 2 or geometric <= 0:
            lon, lat = edge.coords[0] if edge.coords else self.nodes[edge.u]
            return lon, lat, bearing_deg(self.nodes[edge.u], self.nodes[edge.v])
        along = min(max(distance_m, 0.0) * geometric / max(edge.length_m, 1e-6), geometric)
        i = min(bisect_right(cumulative, along) - 1, len(edge.coords) - 2)
        a, b = edge.coords[i], edge.coords[i + 1]
        span = cumulative[i + 1] - cumulative[i]
        f = 0.0 if span <= 0 else (along - cumulative[i]) / span
        return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, bearing_deg(a, b)

    # --- how to get there -------------------------------------------------------------------
    def route(self, source: int, target: int, speed_kmh: EdgeSpeed) -> list[RoadEdge] | None:
        """Fastest path by current travel time, as a list of edges; None when unreachable."""
        if source == target:
            return []

        def travel_s(u, v, data):
            edge = self.edges[data["edge_id"]]
            return edge.length_m / max(speed_kmh(edge), 3.0) * 3.6

        try:
            nodes = nx.shortest_path(self.graph, source, target, weight=travel_s)
        except (nx.NetworkXNoPath, nx.NodeNotFound):
            return None
        return [self.edges[self.graph[u][v]["edge_id"]] for u, v in zip(nodes, nodes[1:])]

    def upstream_edges(self, edge: RoadEdge, max_m: float) -> dict[int, float]:
        """Edges whose traffic flows into `edge`, with their distance (m) back from its start."""
        found: dict[int, float] = {}
        queue = [(0.0, edge.u)]
        seen_nodes = {edge.u: 0.0}
        while queue:
            dist, node = heapq.heappop(queue)
            for incoming in self._in_edges.get(node, []):
                if incoming.u == edge.v and incoming.v == edge.u:
                    continue  # the U-turn lane does not queue behind the crash
                if incoming.edge_id not in found or found[incoming.edge_id] > dist:
                    found[incoming.edge_id] = dist
                reach = dist + incoming.length_m
                if reach < max_m and reach < seen_nodes.get(incoming.u, float("inf")):
                    seen_nodes[incoming.u] = reach
                    heapq.heappush(queue, (reach, incoming.u))
        found.pop(edge.edge_id, None)
        return found
