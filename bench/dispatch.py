"""Benchmark: rank 100 units for an incident on a 50,000-edge road graph.

A perturbed grid (jittered node positions, random speed limits and lengths, a few missing streets),
100 units on random nodes, 200 incidents on random nodes, live traffic on 5 % of the edges.
Prints p50/p95 of ranking all units (one reverse Dijkstra + 100 routes, as recommend_units does)
next to one plain single-source Dijkstra on the same graph (scipy and networkx).

    .venv/bin/python bench/dispatch.py [--edges 50000] [--units 100] [--incidents 200]
"""
from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import networkx as nx
import numpy as np
from scipy.sparse.csgraph import dijkstra

from services.city import RoadEdge
from services.routing import RoadRouter, SpeedPolicy


def perturbed_grid(target_edges: int, rng: random.Random):
    side = int(math.ceil(math.sqrt(target_edges / 4))) + 1  # ~4 directed edges per node
    nodes = {}
    for i in range(side):
        for j in range(side):
            nodes[i * side + j] = (24.80 + j * 0.0018 + rng.uniform(-0.0005, 0.0005),
                                   60.10 + i * 0.0009 + rng.uniform(-0.00025, 0.00025))
    edges, edge_id = [], 0
    for i in range(side):
        for j in range(side):
            a = i * side + j
            for b in ((a + 1) if j + 1 < side else None, (a + side) if i + 1 < side else None):
                if b is None or rng.random() < 0.02:  # a few streets are missing
                    continue
                length = 100 * rng.uniform(0.9, 1.4)
                speed = rng.choice((30, 40, 50, 60))
                for u, v in ((a, b), (b, a)):
                    edge_id += 1
                    edges.append(RoadEdge(edge_id, u, v, length, speed, "residential", "",
                                          (nodes[u], nodes[v])))
                    if len(edges) >= target_edges:
                        return nodes, edges
    return nodes, edges


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", type=int, default=50_000)
    parser.add_argument("--units", type=int, default=100)
    parser.add_argument("--incidents", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    nodes, edges = perturbed_grid(args.edges, rng)
    started = time.perf_counter()
    router = RoadRouter(nodes, edges)
    build_s = time.perf_counter() - started
    live = {e.edge_id: rng.uniform(5, 50) for e in rng.sample(edges, len(edges) // 20)}
    policy = SpeedPolicy()
    node_list = list(nodes.values())
    units = [node_list[rng.randrange(len(node_list))] for _ in range(args.units)]
    incidents = [node_list[rng.randrange(len(node_list))] for _ in range(args.incidents)]

    router.routes_to(incidents[0], units, live_kmh=live, policy=policy)  # first call builds the weights
    rank_ms = []
    for incident in incidents:
        t0 = time.perf_counter()
        routes = router.routes_to(incident, units, live_kmh=live, policy=policy)
        ranked = sorted((r.eta_seconds, i) for i, r in enumerate(routes) if r is not None)
        rank_ms.append((time.perf_counter() - t0) * 1000)
        assert ranked
    geo_ms = []
    for incident in incidents[:50]:
        t0 = time.perf_counter()
        routes = router.routes_to(incident, units, live_kmh=live, policy=policy)
        [r.geojson() for r in routes if r is not None]
        geo_ms.append((time.perf_counter() - t0) * 1000)
    # weights rebuilt because traffic changed (once per traffic update, not per request)
    t0 = time.perf_counter()
    router.routes_to(incidents[0], units, live_kmh={k: v * 0.9 for k, v in live.items()}, policy=policy)
    reweight_ms = (time.perf_counter() - t0) * 1000

    weights = router._weights_for(live, policy, True)
    scipy_ms = []
    for incident in incidents[:50]:
        index = router.nearest_node(*incident)
        t0 = time.perf_counter()
        dijkstra(weights.reverse, directed=True, indices=index, return_predecessors=True)
        scipy_ms.append((time.perf_counter() - t0) * 1000)
    seconds = router.travel_seconds(live, policy, True)
    graph = nx.DiGraph()
    for position, edge in enumerate(edges):
        graph.add_edge(edge.u, edge.v, seconds=float(seconds[position]))
    nx_ms = []
    for incident in incidents[:10]:
        source = router.node_id(router.nearest_node(*incident))
        t0 = time.perf_counter()
        nx.single_source_dijkstra_path_length(graph, source, weight="seconds")
        nx_ms.append((time.perf_counter() - t0) * 1000)

    def pct(values, q):
        return float(np.percentile(values, q))

    print(f"graph: {len(nodes):,} nodes, {len(edges):,} directed edges (perturbed grid); {args.units} units; "
          f"{args.incidents} incidents; live traffic on {len(live):,} edges")
    print(f"router build (once per city): {build_s * 1000:.0f} ms; weight rebuild after a traffic change: "
          f"{reweight_ms:.1f} ms (incl. one ranking)")
    print(f"rank {args.units} units (1 reverse Dijkstra + {args.units} routes): p50 {pct(rank_ms, 50):.1f} ms, "
          f"p95 {pct(rank_ms, 95):.1f} ms, max {max(rank_ms):.1f} ms")
    print(f"rank and build the GeoJSON route of all {args.units} units: p50 {pct(geo_ms, 50):.1f} ms, "
          f"p95 {pct(geo_ms, 95):.1f} ms")
    print(f"one plain single-source Dijkstra, scipy: p50 {pct(scipy_ms, 50):.1f} ms, p95 {pct(scipy_ms, 95):.1f} ms")
    print(f"one plain single-source Dijkstra, networkx: p50 {statistics.median(nx_ms):.1f} ms "
          f"(one search per unit would cost ~{statistics.median(nx_ms) * args.units / 1000:.1f} s)")
    verdict = "PASS" if pct(rank_ms, 95) < 100 else "FAIL"
    print(f"target p95 < 100 ms: {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
