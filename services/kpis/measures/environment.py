"""Environment: pollutant concentrations and the air quality index, from the air stations' observations.

A station is an ``AirQualityObserved`` device; its district is the registry's. Concentrations are what
CityOps stores (µg/m³). Hours are clock hours (see ``common.hour_index``), days the site's calendar days
(a DST day has 23 or 25 hours). The AQI standard is ``params.standard``, else the site's
(CITYOPS_AQI_STANDARD, else the rules file's, as the map and the alarms use). A drill's readings (the
smog it plays) are left out.
"""
from __future__ import annotations

import statistics
from collections import defaultdict

from sqlalchemy import func, select

from services import aqi
from services.kpis.measures.common import (VALUES, hour_index, hour_start, in_district, not_drill_reading, number,
                                           site_zone, within)
from services.kpis.registry import MeasureContext, Measured, Scope, measure
from services.models import Device, Observation

AIR = "AirQualityObserved"


def standard_of(ctx: MeasureContext) -> str:
    if ctx.params.get("standard"):
        return aqi.standard_named(ctx.params["standard"])
    from services.config import Settings
    from services.rules import RulesFile

    settings = Settings.from_env()
    return settings.aqi_standard or RulesFile(settings.rules_file).current().aqi_standard


def _stations(scope: Scope):
    return (Observation.entity_type == AIR, within(Observation.observed_at, scope), not_drill_reading(),
            Device.type == AIR, in_district(Device.district, scope))


@measure("environment.pollutant_mean")
def pollutant_mean(ctx: MeasureContext, scope: Scope) -> Measured:
    """Mean concentration of ``params.pollutant`` (pm25, pm10, no2, ...): each station's mean over the
    period, then the mean of the stations (every station weighs the same, however often it reports)."""
    pollutant = ctx.params["pollutant"]
    value = number(VALUES, pollutant)
    rows = ctx.session.execute(
        select(Observation.device_id, func.avg(value), func.count(value))
        .join(Device, Device.id == Observation.device_id)
        .where(*_stations(scope), value.is_not(None)).group_by(Observation.device_id)).all()
    by_station = {device_id: float(mean) for device_id, mean, _ in sorted(rows)}
    return Measured(statistics.fmean(by_station.values()) if by_station else None,
                    sum(int(n) for *_, n in rows), None, {"by_station": by_station})


def hourly_means(ctx: MeasureContext, scope: Scope) -> dict[tuple[str, int], dict[str, float]]:
    """Each station's mean concentration of every pollutant per clock hour: {(station, hour): {pollutant: µg/m³}}."""
    hour = hour_index(Observation.observed_at).label("hour")
    rows = ctx.session.execute(
        select(Observation.device_id, hour, *(func.avg(number(VALUES, p)) for p in aqi.POLLUTANTS))
        .join(Device, Device.id == Observation.device_id)
        .where(*_stations(scope)).group_by(Observation.device_id, hour))
    means = {}
    for device_id, index, *values in rows:
        known = {p: float(v) for p, v in zip(aqi.POLLUTANTS, values) if v is not None}
        if known:
            means[(device_id, int(index))] = known
    return means


@measure("environment.unhealthy_hours")
def unhealthy_hours(ctx: MeasureContext, scope: Scope) -> Measured:
    """Clock hours in which at least one station's hourly mean concentrations give an AQI at or above the
    standard's unhealthy level (US EPA "Unhealthy", HJ 633 中度污染); per station in ``detail``."""
    standard = standard_of(ctx)
    means = hourly_means(ctx, scope)
    if not means:
        return Measured(None, 0)
    bad = {(d, h) for (d, h), values in means.items()
           if aqi.compute_aqi(values, standard).level >= aqi.UNHEALTHY_LEVEL[standard]}
    per_station: dict[str, int] = defaultdict(int)
    for device_id, _ in bad:
        per_station[device_id] += 1
    hours = sorted({h for _, h in bad})
    return Measured(float(len(hours)), len(means), None, {
        "standard": standard, "by_station": dict(sorted(per_station.items())),
        "hours": [hour_start(h).isoformat() for h in hours]})


@measure("environment.good_air_days")
def good_air_days(ctx: MeasureContext, scope: Scope) -> Measured:
    """% of days with the AQI good or moderate (HJ 633 优/良; US EPA Good/Moderate: level 1 or 2). A day's
    AQI comes from the day's concentrations: each station's daily mean (of its hourly means), averaged
    over the stations, as China rates a city's day (优良天数比例). Days are the site's, within the scope."""
    standard = standard_of(ctx)
    zone = site_zone(ctx)
    daily: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))  # day -> station -> pollutant -> hourly
    for (device_id, hour), values in hourly_means(ctx, scope).items():
        day = hour_start(hour).astimezone(zone).date()
        for pollutant, value in values.items():
            daily[day][device_id][pollutant].append(value)
    levels = {}
    for day, stations in sorted(daily.items()):
        per_pollutant: dict[str, list[float]] = defaultdict(list)
        for pollutants in stations.values():
            for pollutant, hourly in pollutants.items():
                per_pollutant[pollutant].append(statistics.fmean(hourly))
        levels[day] = aqi.compute_aqi({p: statistics.fmean(v) for p, v in per_pollutant.items()}, standard).level
    good = [day for day, level in levels.items() if level <= 2]
    value = 100.0 * len(good) / len(levels) if levels else None
    return Measured(value, len(levels), None, {
        "standard": standard, "days": {day.isoformat(): level for day, level in levels.items()}})
