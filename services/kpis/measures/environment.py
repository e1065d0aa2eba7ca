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
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select

from services import aqi
from services.kpis.measures.common import (VALUES, additive, hour_index, hour_start, not_drill_reading, number,
                                           once, per_district, site_zone, within)
from services.kpis.registry import MEAN, SUM, MeasureContext, Measured, Period, measure
from services.models import Device, Observation

AIR = "AirQualityObserved"


def standard_of(ctx: MeasureContext) -> str:
    if ctx.params.get("standard"):
        return aqi.standard_named(ctx.params["standard"])
    from services.config import Settings

    settings = Settings.from_env()
    return settings.aqi_standard or _rules_file(Path(settings.rules_file)).current().aqi_standard


@lru_cache(maxsize=4)
def _rules_file(path: Path):
    """One reader per rules file: it parses the file again only when it changes (parsing it for every
    measure call took a third of a roll-up)."""
    from services.rules import RulesFile

    return RulesFile(path)


def _stations(period: Period):
    return (Observation.entity_type == AIR, within(Observation.observed_at, period), not_drill_reading(),
            Device.type == AIR)


@measure("environment.pollutant_mean")
def pollutant_mean(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """Mean concentration of ``params.pollutant`` (pm25, pm10, no2, ...): each station's mean over the
    period, then the mean of the stations (every station weighs the same, however often it reports)."""
    pollutant = ctx.params["pollutant"]
    value = number(VALUES, pollutant)

    def sums(part: Period) -> dict[str, list[float]]:  # per station: its readings' sum and number (they add up)
        return {device_id: [float(total), int(n)] for device_id, total, n in ctx.session.execute(
            select(Observation.device_id, func.sum(value), func.count(value))
            .join(Device, Device.id == Observation.device_id)
            .where(*_stations(part), value.is_not(None)).group_by(Observation.device_id))}

    districts = once(ctx, ("device districts",),
                     lambda: dict(ctx.session.execute(select(Device.id, Device.district)).all()))
    rows = [(device_id, districts.get(device_id), total / n, int(n))
            for device_id, (total, n) in additive(ctx, f"air sums {pollutant}", "observations", period, sums).items()]

    def mean_of_stations(found, _) -> Measured:
        by_station = {device_id: float(mean) for device_id, _, mean, _ in sorted(found)}
        return Measured(statistics.fmean(by_station.values()) if by_station else None,
                        sum(int(n) for *_, n in found), None, {"by_station": by_station})

    return per_district(ctx, rows, lambda row: row[1], mean_of_stations)


@dataclass(frozen=True)
class HourlyMean:
    """One station's mean concentration of every pollutant over one clock hour."""

    device_id: str
    district: str | None
    hour: int  # common.hour_index
    values: dict[str, float]


def hourly_means(ctx: MeasureContext, period: Period) -> list[HourlyMean]:
    """Each station's mean concentration of every pollutant per clock hour, stations with none left out."""
    hour = hour_index(Observation.observed_at).label("hour")
    rows = ctx.session.execute(
        select(Observation.device_id, Device.district, hour, *(func.avg(number(VALUES, p)) for p in aqi.POLLUTANTS))
        .join(Device, Device.id == Observation.device_id)
        .where(*_stations(period)).group_by(Observation.device_id, Device.district, hour))
    means = []
    for device_id, district, index, *values in rows:
        known = {p: float(v) for p, v in zip(aqi.POLLUTANTS, values) if v is not None}
        if known:
            means.append(HourlyMean(device_id, district, int(index), known))
    return means


@measure("environment.unhealthy_hours", combine=SUM)
def unhealthy_hours(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """Clock hours in which at least one station's hourly mean concentrations give an AQI at or above the
    standard's unhealthy level (US EPA "Unhealthy", HJ 633 中度污染); per station in ``detail``."""
    standard = standard_of(ctx)
    means = once(ctx, ("air hourly means", period), lambda: hourly_means(ctx, period))
    bad = {(m.device_id, m.hour) for m in means
           if aqi.compute_aqi(m.values, standard).level >= aqi.UNHEALTHY_LEVEL[standard]}

    def hours_of(found: list[HourlyMean], _) -> Measured:
        if not found:
            return Measured(None, 0)
        per_station: dict[str, int] = defaultdict(int)
        hours = set()
        for m in found:
            if (m.device_id, m.hour) in bad:
                per_station[m.device_id] += 1
                hours.add(m.hour)
        return Measured(float(len(hours)), len(found), None, {
            "standard": standard, "by_station": dict(sorted(per_station.items())),
            "hours": [hour_start(h).isoformat() for h in sorted(hours)]})

    return per_district(ctx, means, lambda m: m.district, hours_of)


@measure("environment.good_air_days", combine=MEAN)
def good_air_days(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """% of days with the AQI good or moderate (HJ 633 优/良; US EPA Good/Moderate: level 1 or 2). A day's
    AQI comes from the day's concentrations: each station's daily mean (of its hourly means), averaged
    over the stations, as China rates a city's day (优良天数比例). Days are the site's, within the period."""
    standard = standard_of(ctx)
    zone = site_zone(ctx)

    def days_of(found: list[HourlyMean], _) -> Measured:
        # day -> station -> pollutant -> hourly means
        daily: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
        for m in found:
            day = hour_start(m.hour).astimezone(zone).date()
            for pollutant, value in m.values.items():
                daily[day][m.device_id][pollutant].append(value)
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

    means = once(ctx, ("air hourly means", period), lambda: hourly_means(ctx, period))
    return per_district(ctx, means, lambda m: m.district, days_of)
