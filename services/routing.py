"""Travel times over the city's road graph, weighted by live traffic, for ranking response units.

The ETA model (the same one the tests check against an independent shortest path):

- an edge's base speed is the ``averageVehicleSpeed`` of the TrafficFlowObserved device that covers
  it (devices carry ``edge_ids``) when that observation is fresh (``fresh_s``, 5 min), else the
  edge's speed limit; never below ``min_speed_kmh``;
- an emergency vehicle may go faster: ``max(base, min(base * emergency_factor, emergency_cap_kmh))``
  (1.3x, capped at 110 km/h, and a cap never slows a vehicle below the traffic itself);
- travel time = length / speed; between two nodes joined by parallel edges the faster one counts;
- the ETA of a unit is the shortest-path time from the graph node nearest to it to the node
  nearest the incident (snapping uses only the largest strongly connected part of the graph, so
  every snapped pair is routable).

Ranking N units costs ONE Dijkstra: from the incident's node over the reversed graph
(``scipy.sparse.csgraph.dijkstra``), which gives every node's time *to* the incident and, through
the predecessor array, each unit's route. The graph's structure is built once per city; only the
weights are rebuilt, and only when the live speeds actually change.
"""
from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree
from sqlalchemy import select
from sqlalchemy.engine import Engine

from services.city import City, RoadEdge
from services.models import Device, DeviceLatest

MIN_WEIGHT_S = 1e-3


@dataclass(frozen=True)
class SpeedPolicy:
    emergency_factor: float = 1.3
    emergency_cap_kmh: float = 110.0
    fresh_s: float = 300.0
    min_speed_kmh: float = 5.0

    @classmethod
    def from_env(cls, env: dict | None = None) -> SpeedPolicy:
        """CITYOPS_EMERGENCY_SPEEDUP (1.3), CITYOPS_EMERGENCY_MAX_KMH (110), CITYOPS_TRAFFIC_FRESH_S (300)."""
        env = os.environ if env is None else env
        return cls(emergency_factor=float(env.get("CITYOPS_EMERGENCY_SPEEDUP") or 1.3),
                   emergency_cap_kmh=float(env.get("CITYOPS_EMERGENCY_MAX_KMH") or 110.0),
                   fresh_s=float(env.get("CITYOPS_TRAFFIC_FRESH_S") or 300.0))

    def emergency_kmh(self, base_kmh):
        """Works on floats and numpy arrays alike."""
        return np.maximum(base_kmh, np.minimum(np.multiply(base_kmh, self.emergency_factor), self.emergency_cap_kmh))


@dataclass(frozen=True)
class Route:
    """A unit's way to an incident: time, distance, the edges (their geometry is built on demand)."""

    eta_seconds: float
    distance_m: float
    edge_ids: tuple[int, ...]
    origin_node: int
    target_node: int
    _edges: Sequence[RoadEdge] = field(default=(), repr=False, compare=False)
    _origin_xy: tuple[float, float] = field(default=(0.0, 0.0), repr=False, compare=False)

    @cached_property
    def coordinates(self) -> tuple[tuple[float, float], ...]:
        coordinates: list[tuple[float, float]] = []
        for edge in self._edges:
            coords = edge.coords
            coordinates.extend(coords[1:] if coordinates and coordinates[-1] == coords[0] else coords)
        if len(coordinates) < 2:
            coordinates = [self._origin_xy, self._origin_xy] if not coordinates else coordinates * 2
        return tuple((round(float(x), 6), round(float(y), 6)) for x, y in coordinates)

    def geojson(self) -> dict:
        return {"type": "LineString", "coordinates": [list(c) for c in self.coordinates]}


@dataclass(frozen=True)
class _Weights:
    """One set of weights on the reversed graph; immutable, swapped whole when speeds change."""

    fingerprint: bytes
    reverse: csr_matrix
    best_edge_of_pair: np.ndarray  # per unique (u, v) pair: index of its fastest edge
    inputs: tuple = ()  # (live speeds, policy) these weights were built from


class RoadRouter:
    def __init__(self, nodes: dict[int, tuple[float, float]], edges: Sequence[RoadEdge]):
        self.node_ids = np.array(sorted(nodes), dtype=np.int64)
        self._index = {int(n): i for i, n in enumerate(self.node_ids)}
        self.node_xy = np.array([nodes[int(n)] for n in self.node_ids], dtype=float).reshape(-1, 2)
        n = len(self.node_ids)
        self.edges = list(edges)
        self.edge_ids = np.array([e.edge_id for e in self.edges], dtype=np.int64)
        self._edge_pos = {int(e): i for i, e in enumerate(self.edge_ids)}
        self.u = np.array([self._index[e.u] for e in self.edges], dtype=np.int64)
        self.v = np.array([self._index[e.v] for e in self.edges], dtype=np.int64)
        self.length_m = np.array([e.length_m for e in self.edges], dtype=float)
        self.limit_kmh = np.array([e.speed_kmh for e in self.edges], dtype=float)
        # unique directed node pairs (parallel edges collapse to the fastest one per weighting)
        key = self.u * max(n, 1) + self.v
        self._pair_keys, self._pair_of_edge = np.unique(key, return_inverse=True)
        self._pair_u = self._pair_keys // max(n, 1)
        self._pair_v = self._pair_keys % max(n, 1)
        # snapping: only nodes of the largest strongly connected component
        structure = csr_matrix((np.ones(len(self._pair_keys)), (self._pair_u, self._pair_v)), shape=(n, n))
        _, labels = connected_components(structure, directed=True, connection="strong")
        largest = np.bincount(labels).argmax() if n else 0
        self.core = np.flatnonzero(labels == largest) if n else np.zeros(0, dtype=np.int64)
        self._scale = float(np.cos(np.radians(self.node_xy[:, 1].mean()))) if n else 1.0
        core_xy = self.node_xy[self.core] * [self._scale, 1.0] if n else np.zeros((0, 2))
        self._tree = cKDTree(core_xy) if len(core_xy) else None
        self._weights: dict[str, _Weights] = {}
        self._lock = threading.Lock()

    @classmethod
    def for_city(cls, city: City) -> RoadRouter:
        nodes, edges = city.road_graph()
        return cls(nodes, edges)

    # ------------------------------------------------------------ weights

    def edge_speeds_kmh(self, live_kmh: dict[int, float] | None, policy: SpeedPolicy, emergency: bool) -> np.ndarray:
        speeds = self.limit_kmh.copy()
        for edge_id, kmh in (live_kmh or {}).items():
            position = self._edge_pos.get(int(edge_id))
            if position is not None:
                speeds[position] = kmh
        speeds = np.maximum(speeds, policy.min_speed_kmh)
        return policy.emergency_kmh(speeds) if emergency else speeds

    def travel_seconds(self, live_kmh: dict[int, float] | None, policy: SpeedPolicy, emergency: bool) -> np.ndarray:
        """Per edge (in ``self.edges`` order)."""
        return np.maximum(self.length_m / (self.edge_speeds_kmh(live_kmh, policy, emergency) / 3.6), MIN_WEIGHT_S)

    def _weights_for(self, live_kmh, policy: SpeedPolicy, emergency: bool) -> _Weights:
        slot = "emergency" if emergency else "normal"
        inputs = (dict(live_kmh or {}), policy)
        current = self._weights.get(slot)
        if current is not None and current.inputs == inputs:
            return current  # traffic unchanged: reuse the weighted graph as it is
        seconds = self.travel_seconds(live_kmh, policy, emergency)
        fingerprint = hashlib.blake2b(seconds.tobytes(), digest_size=16).digest()
        if current is not None and current.fingerprint == fingerprint:
            current = _Weights(fingerprint, current.reverse, current.best_edge_of_pair, inputs)
            with self._lock:
                self._weights[slot] = current
            return current
        # per pair, the fastest parallel edge: sort by (pair, seconds), keep the first of each pair
        order = np.lexsort((seconds, self._pair_of_edge))
        first = np.ones(len(order), dtype=bool)
        first[1:] = self._pair_of_edge[order][1:] != self._pair_of_edge[order][:-1]
        best = order[first]  # index i: the fastest edge of pair i
        n = len(self.node_ids)
        reverse = csr_matrix((seconds[best], (self._pair_v, self._pair_u)), shape=(n, n))
        weights = _Weights(fingerprint, reverse, best, inputs)
        with self._lock:
            self._weights[slot] = weights
        return weights

    # ------------------------------------------------------------ queries

    def nearest_node(self, lon: float, lat: float) -> int:
        """Index of the routable node nearest to (lon, lat)."""
        if self._tree is None:
            raise ValueError("the road graph is empty")
        _, i = self._tree.query([lon * self._scale, lat])
        return int(self.core[int(i)])

    def node_id(self, index: int) -> int:
        return int(self.node_ids[index])

    def routes_to(self, target: tuple[float, float], origins: Iterable[tuple[float, float]], *,
                  live_kmh: dict[int, float] | None = None, policy: SpeedPolicy = SpeedPolicy(),
                  emergency: bool = True) -> list[Route | None]:
        """Each origin's fastest route to the target (None where unreachable), from ONE reverse Dijkstra."""
        origins = list(origins)
        weights = self._weights_for(live_kmh, policy, emergency)
        target_index = self.nearest_node(*target)
        seconds, predecessors = dijkstra(weights.reverse, directed=True, indices=target_index,
                                         return_predecessors=True)
        if not origins:
            return []
        origin_index = self.nearest_nodes(origins)
        reachable = np.isfinite(seconds[origin_index])
        routes: list[Route | None] = [None] * len(origins)
        rows = np.flatnonzero(reachable)
        if not len(rows):
            return routes
        # walk every origin's predecessor chain at once: steps[:, j] is the j-th node of each path
        current = origin_index[rows]
        steps = [current]
        while True:
            moving = current != target_index
            if not moving.any():
                break
            current = np.where(moving, predecessors[np.where(moving, current, 0)], current)
            steps.append(current)
        path = np.stack(steps, axis=1)
        valid = path[:, :-1] != target_index  # hop j exists for this origin
        n = len(self.node_ids)
        keys = path[:, :-1] * n + path[:, 1:]
        edge_of_hop = np.where(valid, weights.best_edge_of_pair[np.searchsorted(self._pair_keys,
                                                                                np.where(valid, keys, 0))], -1)
        distance = np.where(valid, self.length_m[np.maximum(edge_of_hop, 0)], 0.0).sum(axis=1)
        target_id = self.node_id(target_index)
        for k, row in enumerate(rows):
            hops = edge_of_hop[k][valid[k]]
            origin = int(path[k, 0])
            routes[row] = Route(
                eta_seconds=float(seconds[origin]), distance_m=float(distance[k]),
                edge_ids=tuple(self.edge_ids[hops].tolist()), origin_node=self.node_id(origin),
                target_node=target_id, _edges=[self.edges[p] for p in hops.tolist()],
                _origin_xy=tuple(self.node_xy[origin].tolist()),
            )
        return routes

    def nearest_nodes(self, points: Sequence[tuple[float, float]]) -> np.ndarray:
        if self._tree is None:
            raise ValueError("the road graph is empty")
        xy = np.asarray(points, dtype=float).reshape(-1, 2) * [self._scale, 1.0]
        _, found = self._tree.query(xy)
        return self.core[np.asarray(found, dtype=np.int64)]


# ---------------------------------------------------------------- the city's router and live speeds

_routers: dict[str, RoadRouter] = {}
_routers_lock = threading.Lock()


def router_for(city: City) -> RoadRouter:
    """The city's router, built once per process (the graph structure never changes at run time)."""
    key = str(city.folder)
    with _routers_lock:
        router = _routers.get(key)
        if router is None:
            router = _routers[key] = RoadRouter.for_city(city)
        return router


def live_edge_speeds(engine: Engine, now: datetime, fresh_s: float = SpeedPolicy.fresh_s) -> dict[int, float]:
    """edge id -> km/h from the traffic devices whose latest observation is fresh.

    An edge measured by several devices takes the slowest of them (a jam anywhere on it counts).
    """
    query = (
        select(DeviceLatest.values, Device.meta)
        .join(Device, Device.id == DeviceLatest.device_id)
        .where(DeviceLatest.entity_type == "TrafficFlowObserved",
               DeviceLatest.observed_at >= now - timedelta(seconds=fresh_s))
    )
    speeds: dict[int, float] = {}
    with engine.connect() as connection:
        for values, meta in connection.execute(query):
            speed = (values or {}).get("averageVehicleSpeed")
            if not isinstance(speed, (int, float)) or speed <= 0:
                continue
            for edge_id in (meta or {}).get("edge_ids") or []:
                speeds[int(edge_id)] = min(float(speed), speeds.get(int(edge_id), float("inf")))
    return speeds
