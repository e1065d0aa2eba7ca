"""Mobility: congestion on the monitored roads, from the traffic sensors' observations.

A monitored road is one traffic sensor (``TrafficFlowObserved`` device) and the directed edges of the
city's road graph it measures (``meta.edge_ids``); its length is the sum of those edges' lengths and
its free-flow speed the registry's ``free_flow_kmh``. A sensor without either is left out. An
observation is congested when its ``averageVehicleSpeed`` is below ``congested_below`` x free flow
(default 0.5: a travel time index above 2). Peak hours are the site's clock windows ``peak_hours``
on working days (Monday to Friday), DST-correct. A drill's readings (a jam it plays) are left out.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import lru_cache
from typing import Callable, Mapping, Sequence

from sqlalchemy import case, func, literal, or_, select

from services.kpis.measures.common import (VALUES, additive, local_days, not_drill_reading, number, once, per_district,
                                           site_zone, within)
from services.kpis.registry import MeasureContext, Measured, Period, measure
from services.models import Device, Observation

TRAFFIC = "TrafficFlowObserved"
SPEED_FLOOR_KMH = 1.0  # a standing queue's travel time index is read at 1 km/h, never divided by zero


@dataclass(frozen=True)
class Road:
    device_id: str
    name: str
    district: str | None
    length_m: float
    interval_s: int


@lru_cache(maxsize=8)
def _edge_lengths(folder: str) -> dict[int, float]:
    from services.city import cached_city

    return {edge.edge_id: edge.length_m for edge in cached_city(folder).road_graph()[1]}


def edge_lengths(ctx: MeasureContext) -> dict[int, float]:
    return {} if ctx.city is None else _edge_lengths(str(ctx.city.folder))


def monitored_roads(ctx: MeasureContext) -> dict[str, Road]:
    lengths = edge_lengths(ctx)
    roads = {}
    for device_id, name, district, interval_s, meta in ctx.session.execute(
            select(Device.id, Device.name, Device.district, Device.interval_s, Device.meta)
            .where(Device.type == TRAFFIC)):
        meta = meta or {}
        length = sum(lengths.get(int(edge), 0.0) for edge in meta.get("edge_ids") or ())
        if length > 0 and meta.get("free_flow_kmh"):
            roads[device_id] = Road(device_id, name or device_id, district, length, interval_s or 60)
    return roads


def peak_periods(period: Period, ctx: MeasureContext, windows: Sequence[str]) -> list[tuple[datetime, datetime]]:
    """The period's peak hours as UTC periods: each ``"HH:MM-HH:MM"`` of ``windows`` (the KPI's ``peak_hours``)
    on every working day, in the site's time zone; none: the whole period."""
    if not windows:
        return [(period.start, period.end)]
    zone = site_zone(ctx)
    periods = []
    for day in local_days(period, zone):
        if day.weekday() >= 5:
            continue
        for window in windows:
            start, end = (time.fromisoformat(part.strip()) for part in window.split("-"))
            start = max(datetime.combine(day, start, zone).astimezone(UTC), period.start)
            end = min(datetime.combine(day, end, zone).astimezone(UTC), period.end)
            if start < end:
                periods.append((start, end))
    return periods


@dataclass(frozen=True)
class Flow:
    samples: int
    congested: int
    index_sum: float  # sum of free flow / speed over the samples


def flows(ctx: MeasureContext, period: Period, windows: list[tuple[datetime, datetime]],
          below: float) -> tuple[dict[str, Flow], dict[str, Flow]]:
    """Per traffic sensor, its observations in the period: those in ``windows`` and all of them; each
    with how many were congested (speed below ``below`` x free flow) and the sum of their travel time
    indices (free flow / speed). One scan of the period answers both."""
    speed = number(VALUES, "averageVehicleSpeed")
    free_flow = number(Device.meta, "free_flow_kmh")
    inside = case((or_(*(within(Observation.observed_at, Period(a, b)) for a, b in windows)), 1), else_=0) \
        if windows else literal(0)
    rows = ctx.session.execute(
        select(Observation.device_id, inside.label("inside"), func.count(),
               func.sum(case((speed < below * free_flow, 1), else_=0)),
               func.sum(free_flow / case((speed < SPEED_FLOOR_KMH, SPEED_FLOOR_KMH), else_=speed)))
        .join(Device, Device.id == Observation.device_id)
        .where(Observation.entity_type == TRAFFIC, Device.type == TRAFFIC, speed.is_not(None), not_drill_reading(),
               within(Observation.observed_at, period))
        .group_by(Observation.device_id, "inside"))
    in_windows: dict[str, Flow] = {}
    every: dict[str, Flow] = {}
    for device_id, flag, n, congested, index in rows:
        flow = Flow(int(n), int(congested or 0), float(index or 0.0))
        if flag:
            in_windows[device_id] = flow
        every[device_id] = flow if device_id not in every else Flow(
            every[device_id].samples + flow.samples, every[device_id].congested + flow.congested,
            every[device_id].index_sum + flow.index_sum)
    return in_windows, every


def _flows_of(ctx: MeasureContext, period: Period, peak: bool) -> dict[str, Flow]:
    """The period's flows (in its peak hours only if ``peak``). The KPIs of one period share the scan:
    the all-hours flows come from any scan of the period with the same ``congested_below``. In the
    roll-up a long period adds up its days' scans (``common.additive``)."""
    below = float(ctx.params.get("congested_below", 0.5))
    scans = once(ctx, ("traffic flows", period, below), dict)  # peak windows -> per sensor [in them x 3, all x 3]
    if not peak and scans:
        vectors = next(iter(scans.values()))
    else:
        windows = tuple(ctx.params.get("peak_hours") or ()) if peak else ()
        if windows not in scans:
            scans[windows] = additive(ctx, f"traffic flows below {below} peak {','.join(windows)}", "observations",
                                      period, lambda part: _flow_vectors(ctx, part, windows, below))
        vectors = scans[windows]
    first = 0 if peak else 3
    return {d: Flow(int(v[first]), int(v[first + 1]), float(v[first + 2])) for d, v in vectors.items() if v[first]}


def _flow_vectors(ctx: MeasureContext, part: Period, windows: tuple[str, ...],
                  below: float) -> dict[str, list[float]]:
    """Per sensor, its flows in the part of a period (in the peak ``windows``, then all), as numbers that add
    up over the parts."""
    inside, every = flows(ctx, part, peak_periods(part, ctx, windows), below)
    none = Flow(0, 0, 0.0)
    return {d: [inside.get(d, none).samples, inside.get(d, none).congested, inside.get(d, none).index_sum,
                flow.samples, flow.congested, flow.index_sum] for d, flow in every.items()}


def _length_weighted(roads: Mapping[str, Road], per_road: Mapping[str, float]) -> float | None:
    total = sum(roads[d].length_m for d in per_road)
    return sum(roads[d].length_m * value for d, value in per_road.items()) / total if total else None


def _by_road(roads: Mapping[str, Road], per_road: Mapping[str, float]) -> list[dict]:
    return [{"device_id": d, "name": roads[d].name, "district": roads[d].district,
             "length_m": round(roads[d].length_m, 1), "value": value} for d, value in sorted(per_road.items())]


def _per_road(ctx: MeasureContext, period: Period, peak: bool,
              answer: Callable[[dict[str, Road], dict[str, Flow]], Measured]) -> dict[str | None, Measured]:
    """``answer(roads, flows)`` for the city and each district: the monitored roads there and the flows
    observed on them in the period (its peak hours only if ``peak``)."""
    roads = once(ctx, ("monitored roads",), lambda: monitored_roads(ctx))
    observed = _flows_of(ctx, period, peak)

    def on_roads(found: list[tuple[str, Road]], _) -> Measured:
        here = dict(found)
        return answer(here, {d: flow for d, flow in observed.items() if d in here})

    return per_district(ctx, list(roads.items()), lambda pair: pair[1].district, on_roads)


@measure("mobility.congested_share")
def congested_share(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """% of the monitored road length congested in peak hours: each road's congested share of its peak
    observations, averaged weighted by road length."""
    def share(roads: dict[str, Road], observed: dict[str, Flow]) -> Measured:
        shares = {d: 100.0 * f.congested / f.samples for d, f in observed.items()}
        return Measured(_length_weighted(roads, shares), sum(f.samples for f in observed.values()), None,
                        {"roads": _by_road(roads, shares)})

    return _per_road(ctx, period, True, share)


@measure("mobility.travel_time_index")
def travel_time_index(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """Actual / free-flow travel time (free flow / speed per observation), each road's mean over the
    (peak) observations, averaged weighted by road length; 1.0 is free flow."""
    def index(roads: dict[str, Road], observed: dict[str, Flow]) -> Measured:
        indices = {d: f.index_sum / f.samples for d, f in observed.items()}
        return Measured(_length_weighted(roads, indices), sum(f.samples for f in observed.values()), None,
                        {"roads": _by_road(roads, indices)})

    return _per_road(ctx, period, True, index)


@measure("mobility.worst_roads_congested_hours")
def worst_roads_congested_hours(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """The ``top`` (10) roads with the most congested hours in the period, all hours: a congested
    observation stands for its sensor's reporting interval. The value is their hours summed; the list
    is ``detail["worst_roads"]``, worst first (ties by sensor id)."""
    top = int(ctx.params.get("top", 10))

    def worst(roads: dict[str, Road], observed: dict[str, Flow]) -> Measured:
        if not observed:
            return Measured(None, 0)
        hours = {d: f.congested * roads[d].interval_s / 3600 for d, f in observed.items() if f.congested}
        listed = [{"device_id": d, "name": roads[d].name, "district": roads[d].district,
                   "length_m": round(roads[d].length_m, 1), "congested_hours": hours[d]}
                  for d in sorted(hours, key=lambda d: (-hours[d], d))[:top]]
        return Measured(sum(road["congested_hours"] for road in listed), sum(f.samples for f in observed.values()),
                        None, {"worst_roads": listed})

    return _per_road(ctx, period, False, worst)
