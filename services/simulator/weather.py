"""Rain storms, the atmosphere around them, and WeatherObserved payloads.

Storms are seeded events (30-180 min, peak 5-60 mm/h, a quick rise and a longer decay) centred
somewhere over the city: the rain at a place is the storm's intensity times a spatial factor that
is 1 at the storm centre and falls to ~0.5 far from it. The first storm is a strong one that starts
within the first hour, so a demo floods early.
"""
from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from .common import ENTITY_TYPE, clamp, gaussian_bump, iso, metres_between, point, smooth_pulse


@dataclass(frozen=True)
class Storm:
    start: datetime
    end: datetime
    peak_mmh: float
    centre: tuple[float, float]
    radius_m: float

    def rain_mmh(self, moment: datetime, lon: float, lat: float) -> float:
        if not self.start <= moment < self.end:
            return 0.0
        x = (moment - self.start) / (self.end - self.start)
        d = metres_between(self.centre, (lon, lat))
        return self.peak_mmh * smooth_pulse(x) * (0.5 + 0.5 * math.exp(-((d / self.radius_m) ** 2)))


class StormSchedule:
    """Storms generated lazily in time order from their own random stream."""

    def __init__(self, rng: random.Random, start: datetime, bbox: tuple[float, float, float, float]):
        self._rng = rng
        self._bbox = bbox
        self.storms: list[Storm] = []
        self._starts: list[datetime] = []  # the storms' starts, in order (one follows another's end)
        first_start = start + timedelta(minutes=rng.uniform(10, 40))
        self._add(first_start, rng.uniform(80, 130), rng.uniform(45, 60), wide=True)

    def _add(self, begin: datetime, minutes: float, peak: float, wide: bool = False) -> None:
        minlon, minlat, maxlon, maxlat = self._bbox
        centre = (self._rng.uniform(minlon, maxlon), self._rng.uniform(minlat, maxlat))
        span_m = max(metres_between((minlon, minlat), (maxlon, maxlat)), 1000.0)
        end = begin + timedelta(minutes=minutes)
        radius = self._rng.uniform(0.7, 1.2) if wide else self._rng.uniform(0.25, 0.6)
        self.storms.append(Storm(begin, end, peak, centre, radius * span_m))
        self._starts.append(begin)

    def _extend_to(self, moment: datetime) -> None:
        while self.storms[-1].start <= moment:
            gap_h = self._rng.uniform(2.0, 14.0)
            peak = 5 + 55 * self._rng.random() ** 1.8
            self._add(self.storms[-1].end + timedelta(hours=gap_h), self._rng.uniform(30, 180), peak)

    def rain_mmh(self, moment: datetime, lon: float, lat: float) -> float:
        return sum(s.rain_mmh(moment, lon, lat) for s in self._active(moment))

    def storminess(self, moment: datetime) -> float:
        """0..1, how much a storm is going on right now anywhere (for wind and pressure)."""
        return max((smooth_pulse((moment - s.start) / (s.end - s.start)) * min(s.peak_mmh / 30, 1)
                    for s in self._active(moment)), default=0.0)

    def _active(self, moment: datetime) -> list[Storm]:
        """The storms going on at ``moment``: found by their starts, not by reading every storm since the
        first (a month of the demo's past asks this some 400,000 times)."""
        self._extend_to(moment)
        begun = bisect.bisect_right(self._starts, moment)
        return [s for s in self.storms[max(0, begun - 2):begun] if moment < s.end]


class Atmosphere:
    """City-wide wind, pressure and temperature; slow random processes stepped with the sim clock."""

    def __init__(self, rng: random.Random, storms: StormSchedule, tz: ZoneInfo, lat: float):
        self._rng = rng
        self.storms = storms
        self._tz = tz
        self._lat = lat
        self.wind_ms = rng.uniform(2.5, 5.5)
        self.wind_dir = rng.uniform(0, 360)
        self.pressure_anomaly = rng.gauss(0, 5)

    def step(self, moment: datetime, dt_s: float) -> None:
        storm = self.storms.storminess(moment)
        self.wind_ms = _ou(self._rng, self.wind_ms, 4.0 + 6.0 * storm, 1.5, 1800, dt_s)
        self.wind_ms = max(self.wind_ms, 0.0)
        self.wind_dir = (self.wind_dir + self._rng.gauss(0, 0.6) * math.sqrt(dt_s / 5)) % 360
        self.pressure_anomaly = _ou(self._rng, self.pressure_anomaly, 0.0, 6.0, 12 * 3600, dt_s)

    def pressure_hpa(self, moment: datetime) -> float:
        return 1012.0 + self.pressure_anomaly - 7.0 * self.storms.storminess(moment)

    def temperature_c(self, moment: datetime, rain_mmh: float) -> float:
        local = moment.astimezone(self._tz)
        day_of_year = local.timetuple().tm_yday
        seasonal = 6.0 + 11.0 * math.cos(2 * math.pi * (day_of_year - 200) / 365) * (1 if self._lat >= 0 else -1)
        hour = local.hour + local.minute / 60
        daily = 4.0 * math.cos(2 * math.pi * (hour - 15) / 24)
        return seasonal + daily - min(rain_mmh, 30) * 0.12

    def humidity(self, moment: datetime, temperature: float, rain_mmh: float) -> float:
        local = moment.astimezone(self._tz)
        hour = local.hour + local.minute / 60
        dry_afternoon = 0.18 * gaussian_bump(hour, 15, 4)
        return clamp(0.82 - dry_afternoon + 0.02 * min(rain_mmh, 10), 0.2, 0.99)

    def sunshine(self, moment: datetime) -> float:
        """0..1: daylight strength for ozone."""
        local = moment.astimezone(self._tz)
        hour = local.hour + local.minute / 60
        return gaussian_bump(hour, 14.5, 3.0) * (1 - self.storms.storminess(moment))


def _ou(rng: random.Random, value: float, mean: float, sd: float, tau_s: float, dt_s: float) -> float:
    """One Ornstein-Uhlenbeck step: drifts back to mean with time constant tau_s, stationary sd."""
    return value + (mean - value) * dt_s / tau_s + sd * math.sqrt(2 * dt_s / tau_s) * rng.gauss(0, 1)


def rain_last_hour_mm(storms: StormSchedule, moment: datetime, lon: float, lat: float) -> float:
    """Rain that fell in the trailing 60 minutes (mm), sampled minute by minute."""
    return sum(storms.rain_mmh(moment - timedelta(minutes=m + 0.5), lon, lat) for m in range(60)) / 60


def weather_observed(device: dict, moment: datetime, storms: StormSchedule, air: Atmosphere,
                     rng: random.Random, *, numbers_as_strings: bool = False) -> dict:
    lon, lat = device["lon"], device["lat"]
    rain_now = storms.rain_mmh(moment, lon, lat)
    temperature = air.temperature_c(moment, rain_now) + rng.gauss(0, 0.1)
    values = {
        "precipitation": round(rain_last_hour_mm(storms, moment, lon, lat), 1),
        "temperature": round(temperature, 1),
        "relativeHumidity": round(air.humidity(moment, temperature, rain_now), 2),
        "windSpeed": round(max(air.wind_ms + rng.gauss(0, 0.3), 0.0), 1),
        "windDirection": round(air.wind_dir) % 360,
        "atmosphericPressure": round(air.pressure_hpa(moment) + rng.gauss(0, 0.1), 1),
    }
    if numbers_as_strings:
        values = {key: str(value) for key, value in values.items()}
    return {
        "id": f"urn:ngsi-ld:{ENTITY_TYPE['weather']}:{device['device_id']}",
        "type": ENTITY_TYPE["weather"],
        "name": device.get("name", device["device_id"]),
        "dateObserved": iso(moment),
        "location": point(lon, lat),
        **values,
    }
