"""Operations and system health: how fast alarms are acknowledged, whether sensors report, what they cover.

Alarms raised from a drill's readings are left out. Sensors are the registered devices of the city
(``devices``, not vehicles); each carries its reporting interval ``interval_s`` (from the city's
sites.json), which is what "expected reports" means. A reading a drill altered still is its sensor's
report: availability and coverage count it (the measured values of the other dimensions do not).
"""
from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from sqlalchemy import distinct, exists, func, select

from services.drills import not_drill
from services.kpis.measures.common import (additive, breakdown, mean_statistic, no_data, once, per_district, percent,
                                           record, summarize, within)
from services.kpis.measures.mobility import TRAFFIC
from services.kpis.registry import NO_DATA, MeasureContext, Measured, Period, measure
from services.models import Alarm, AlarmEvent, Device, Observation

AIR = "AirQualityObserved"
VEHICLE = "Vehicle"
MAJOR_ROADS = ("motorway", "trunk", "primary", "secondary",
               "motorway_link", "trunk_link", "primary_link", "secondary_link")


def _alarms(ctx: MeasureContext, period: Period, since):
    """Alarms whose ``since`` time is in the period, not from a drill; ``params.rules`` / ``params.severity``
    (the severity they were raised with, before any escalation) narrow them."""
    where = [within(since, period), not_drill(Alarm)]
    if ctx.params.get("rules"):
        where.append(Alarm.rule_id.in_(list(ctx.params["rules"])))
    if ctx.params.get("severity"):
        where.append(Alarm.base_severity == ctx.params["severity"])
    return where


@measure("operations.time_to_acknowledge", combine=mean_statistic)
def time_to_acknowledge(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """Seconds from ``params.since`` (``raised``: CityOps raised the alarm, default; ``started``: the
    observation at which its condition began, e.g. the water crossing its alert level) to the first
    acknowledgement, for the alarms whose ``since`` is in the period; ``params.statistic`` of them
    (nearest-rank percentile), the share within ``objective_s``, and the same per severity. Alarms not
    acknowledged (yet) give no sample; their number is ``detail["unacknowledged"]``."""
    since = Alarm.started_at if ctx.params.get("since") == "started" else Alarm.raised_at
    rows = ctx.session.execute(select(Alarm.id, Alarm.base_severity, since, Alarm.acknowledged_at, Alarm.district)
                               .where(*_alarms(ctx, period, since)).order_by(Alarm.id)).all()

    def acknowledgement(found, _) -> Measured:
        acked = [(alarm_id, severity, (acked_at - began).total_seconds())
                 for alarm_id, severity, began, acked_at, _ in found if acked_at is not None]
        samples = [seconds for *_, seconds in acked]
        by_severity = breakdown(acked, lambda a: a[1],
                                lambda group: summarize([seconds for *_, seconds in group], ctx.params, []).value)
        return summarize(samples, ctx.params, [record("alarm", a[0]) for a in acked], by_severity=by_severity,
                         unacknowledged=len(found) - len(acked))

    return per_district(ctx, rows, lambda row: row.district, acknowledgement)


@measure("operations.acknowledged_before_escalation")
def acknowledged_before_escalation(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """% of the alarms raised in the period that an operator acknowledged before their first escalation,
    of those settled (acknowledged, or escalated); an alarm still waiting for either is not counted."""
    # the first escalation (``alarms.escalated_at`` is the latest)
    first_escalation = (select(func.min(AlarmEvent.at)).where(AlarmEvent.alarm_id == Alarm.id,
                                                              AlarmEvent.kind == "escalated").scalar_subquery())
    rows = ctx.session.execute(
        select(Alarm.id, Alarm.base_severity, Alarm.acknowledged_at, first_escalation, Alarm.district)
        .where(*_alarms(ctx, period, Alarm.raised_at)).order_by(Alarm.id)).all()
    settled = [(alarm_id, severity, acked is not None and (escalated is None or acked < escalated), district)
               for alarm_id, severity, acked, escalated, district in rows if acked is not None or escalated is not None]

    def share(group):
        return percent(sum(1 for _, _, before, _ in group if before), len(group))

    def before_escalation(found, _) -> Measured:
        return Measured(share(found), len(found), None, {
            "by_severity": breakdown(found, lambda a: a[1], share),
            "records": [record("alarm", alarm_id) for alarm_id, *_ in found]})

    return per_district(ctx, settled, lambda alarm: alarm[3], before_escalation)


def _anything_observed(ctx: MeasureContext, period: Period) -> bool:
    """Whether any sensor of the city reported in the period: without one, CityOps itself recorded
    nothing (no data), and a coverage of 0 could not be told from an outage of its own."""
    return once(ctx, ("anything observed", period), lambda: ctx.session.execute(
        select(Observation.id).where(within(Observation.observed_at, period)).limit(1)).first() is not None)


@measure("operations.sensor_availability")
def sensor_availability(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """Received / expected reports, in %. Expected: the period's length (up to now, for the running
    period) divided by each sensor's interval, rounded down; received: its distinct observation times in
    the period, counted up to the expected number (a chatty sensor does not make up for a silent
    one). Registered sensors only; a district without sensors has no value, nor a period in which no
    sensor of the city reported at all (CityOps recorded nothing, see ``_anything_observed``). In the
    demo's played past (services/simulator/history.py) every sensor reported once an hour by design:
    there, one report an hour is expected of it (``_expected``)."""
    until = Period(period.start, min(period.end, datetime.now(UTC)))
    seconds = (until.end - until.start).total_seconds()
    if seconds <= 0 or not _anything_observed(ctx, until):
        return no_data(ctx)
    from services.simulator.history import played_past

    past = once(ctx, ("played past",), lambda: played_past(ctx.session))
    registered = (Device.registered.is_(True), Device.type != VEHICLE, Device.interval_s > 0)
    sensors = ctx.session.execute(select(Device.id, Device.interval_s, Device.district).where(*registered)).all()

    def reports(part: Period) -> dict[str, list[float]]:  # per sensor: its distinct times (they add up over parts)
        # device_id IN (...): the observations' identity index (device, time, type) answers it alone
        sensor = Observation.device_id.in_(select(Device.id).where(*registered))
        return {device_id: [n] for device_id, n in ctx.session.execute(
            select(Observation.device_id, func.count(distinct(Observation.observed_at)))
            .where(sensor, within(Observation.observed_at, part)).group_by(Observation.device_id))}

    received = {device_id: int(n) for device_id, (n,) in additive(ctx, "reports received", "observations", until,
                                                                  reports).items()}

    def availability(found, _) -> Measured:
        if not found:
            return NO_DATA
        expected = {d: _expected(until, interval, past) for d, interval, _ in found}
        counted = {d: min(received.get(d, 0), expected[d]) for d in expected}
        by_sensor = {d: percent(counted[d], expected[d]) for d in sorted(expected)}
        return Measured(percent(sum(counted.values()), sum(expected.values())), sum(counted.values()), None,
                        {"expected": sum(expected.values()), "by_sensor": by_sensor})

    return per_district(ctx, sensors, lambda sensor: sensor.district, availability)


def _expected(until: Period, interval_s: float, past: tuple[datetime, datetime, timedelta] | None) -> int:
    """Reports expected of a sensor reporting every ``interval_s`` over the period; in the demo's played
    past (``past``: start, end, its interval) one per that interval, when it is the longer, a part of one
    included (the play's last hour ends where the live back-fill begins, its report made at its start)."""
    seconds = (until.end - until.start).total_seconds()
    if past is None:
        return math.floor(seconds / interval_s)
    start, end, every = past
    played = max(0.0, (min(until.end, end) - max(until.start, start)).total_seconds())
    return math.floor((seconds - played) / interval_s) + math.ceil(played / max(interval_s, every.total_seconds()))


def _reporting(ctx: MeasureContext, period: Period, device_type: str) -> list[tuple[str, str | None, dict | None]]:
    """(device, district, meta) of the registered devices of a type that reported in the period."""
    reported = exists().where(Observation.device_id == Device.id, within(Observation.observed_at, period),
                              Observation.entity_type == device_type)
    return ctx.session.execute(select(Device.id, Device.district, Device.meta).where(
        Device.type == device_type, Device.registered.is_(True), reported)).all()


@lru_cache(maxsize=8)
def _major_edges(folder: str, classes: tuple[str, ...]) -> dict[int, tuple[float, str | None]]:
    """{edge: (length, district of the middle of its ends)} of the city's major roads."""
    from services.city import cached_city

    city = cached_city(folder)
    edges = {}
    for edge in city.road_graph()[1]:
        if edge.road_class in classes:
            (lon0, lat0), (lon1, lat1) = edge.coords[0], edge.coords[-1]
            edges[edge.edge_id] = (edge.length_m, city.district_of((lon0 + lon1) / 2, (lat0 + lat1) / 2))
    return edges


@measure("operations.road_coverage")
def road_coverage(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """% of the major road length (``params.road_classes``, default motorway to secondary; directed
    edges, so a two-way street counts once per direction) measured by a traffic sensor that reported in
    the period. 0 is a real value: the roads are there and nothing watched them, while other sensors
    did report. None without a city road graph, without major roads in the district, or when no sensor
    of the city reported at all."""
    if ctx.city is None or not _anything_observed(ctx, period):
        return no_data(ctx)
    edges = _major_edges(str(ctx.city.folder), tuple(ctx.params.get("road_classes") or MAJOR_ROADS))

    def coverage(sensors, district: str | None) -> Measured:
        major = {e: length for e, (length, where) in edges.items() if district is None or where == district}
        total = sum(major.values())
        if not total:
            return NO_DATA
        covered = {int(e) for _, _, meta in sensors for e in (meta or {}).get("edge_ids") or () if int(e) in major}
        return Measured(percent(sum(major[e] for e in covered), total), len(sensors), None, {
            "major_length_m": total, "covered_length_m": sum(major[e] for e in covered),
            "sensors": sorted(d for d, *_ in sensors)})

    return per_district(ctx, _reporting(ctx, period, TRAFFIC), lambda sensor: sensor[1], coverage)


@measure("operations.air_station_districts")
def air_station_districts(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """% of the city's districts (its basemap) with an air station that reported in the period (None when
    no sensor of the city reported at all, as for the road coverage)."""
    if ctx.city is None or not _anything_observed(ctx, period):
        return no_data(ctx)

    def share(stations, district: str | None) -> Measured:
        districts = sorted(n for n in ctx.districts if district is None or n == district)
        if not districts:
            return NO_DATA
        watched = {where for _, where, _ in stations}
        return Measured(percent(sum(1 for d in districts if d in watched), len(districts)), len(districts), None,
                        {"without_station": [d for d in districts if d not in watched]})

    return per_district(ctx, _reporting(ctx, period, AIR), lambda station: station[1], share)
