"""Air quality per station: a daily cycle, the traffic nearby, ozone chemistry and inversion episodes.

NO2 and PM2.5 follow the congestion of the traffic segments within ~1 km, diluted by wind and washed
out by rain; O3 peaks in the sunny afternoon and is eaten by NO2; every day or two an inversion
holds PM2.5/PM10 high city-wide for hours. No AQI is published: CityOps computes it.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from .common import ENTITY_TYPE, iso, point, smooth_pulse
from .traffic import Segment, Traffic, nearby_segments
from .weather import Atmosphere, StormSchedule

NEARBY_M = 1000.0


@dataclass(frozen=True)
class Episode:
    start: datetime
    end: datetime
    strength: float  # extra PM2.5 µg/m3 at its peak

    def extra_pm25(self, moment: datetime) -> float:
        if not self.start <= moment < self.end:
            return 0.0
        return self.strength * smooth_pulse((moment - self.start) / (self.end - self.start), rise=0.4)


class EpisodeSchedule:
    def __init__(self, rng: random.Random, start: datetime):
        self._rng = rng
        self.episodes: list[Episode] = []
        self._next = start + timedelta(hours=rng.uniform(3, 12))

    def extra_pm25(self, moment: datetime) -> float:
        while self._next <= moment:
            end = self._next + timedelta(hours=self._rng.uniform(3, 8))
            self.episodes.append(Episode(self._next, end, self._rng.uniform(15, 40)))
            self._next = end + timedelta(hours=self._rng.uniform(12, 40))
        return sum(e.extra_pm25(moment) for e in self.episodes[-2:])


class SilenceSchedule:
    """When a flaky station is off the air: alternating 1-4 h up and 1-3 h down, starting soon."""

    def __init__(self, rng: random.Random, start: datetime):
        self._rng = rng
        self._gaps: list[tuple[datetime, datetime]] = []
        self._cursor = start + timedelta(minutes=rng.uniform(20, 60))

    def is_silent(self, moment: datetime) -> bool:
        while self._cursor <= moment:
            end = self._cursor + timedelta(hours=self._rng.uniform(1, 3))
            self._gaps.append((self._cursor, end))
            self._cursor = end + timedelta(hours=self._rng.uniform(1, 4))
        return any(a <= moment < b for a, b in self._gaps[-2:])


class AirQuality:
    def __init__(self, stations: list[dict], traffic: Traffic, storms: StormSchedule, atmosphere: Atmosphere,
                 rng: random.Random, start: datetime):
        self.traffic = traffic
        self._storms = storms
        self._air = atmosphere
        self.episodes = EpisodeSchedule(rng, start)
        self._near: dict[str, list[tuple[Segment, float]]] = {}
        self._background: dict[str, float] = {}
        for station in stations:
            self._near[station["device_id"]] = nearby_segments(traffic.segments, station["lon"], station["lat"], NEARBY_M)
            self._background[station["device_id"]] = rng.uniform(0.8, 1.2)

    def traffic_load(self, device_id: str, moment: datetime) -> float:
        """0..~1: how jammed the roads around the station are, closer roads counting more."""
        near = self._near.get(device_id, [])
        if not near:
            return 0.15
        total = sum(w for _, w in near)
        slow = sum(w * (1 - self.traffic.speed_ratio(s, moment)) for s, w in near)
        return slow / total * min(1.0, total / 2)  # few roads nearby -> less exhaust

    def observation(self, station: dict, moment: datetime, rng: random.Random) -> dict:
        lon, lat = station["lon"], station["lat"]
        background = self._background[station["device_id"]]
        rain = self._storms.rain_mmh(moment, lon, lat)
        dilution = 3.0 / (1.5 + self._air.wind_ms)
        washout = 1 / (1 + 0.03 * rain)
        load = self.traffic_load(station["device_id"], moment)
        episode = self.episodes.extra_pm25(moment)
        noise = lambda sd=0.08: max(rng.gauss(1, sd), 0.3)  # noqa: E731

        no2 = (9 * background + 110 * load * dilution) * (1 + episode / 60) * noise()
        pm25 = (4 * background + 14 * load * dilution + episode) * washout * noise()
        pm10 = (pm25 * 1.6 + 8 * load * dilution) * washout * noise()
        o3 = max(3.0, 38 + 45 * self._air.sunshine(moment) - 0.6 * (no2 - 10)) * noise(0.05)
        temperature = self._air.temperature_c(moment, rain)
        return {
            "id": f"urn:ngsi-ld:{ENTITY_TYPE['air']}:{station['device_id']}",
            "type": ENTITY_TYPE["air"],
            "name": station.get("name", station["device_id"]),
            "dateObserved": iso(moment),
            "location": point(lon, lat),
            "typeOfLocation": "outdoor",
            "pm25": round(pm25, 1),
            "pm10": round(pm10, 1),
            "no2": round(no2, 1),
            "o3": round(o3, 1),
            "so2": round(1.5 * background * noise(0.2), 1),
            "co": round((180 + 4 * no2) * noise(0.05)),
            "temperature": round(temperature + rng.gauss(0, 0.1), 1),
            "relativeHumidity": round(self._air.humidity(moment, temperature, rain), 2),
            "windSpeed": round(max(self._air.wind_ms + rng.gauss(0, 0.3), 0.0), 1),
            "windDirection": round(self._air.wind_dir + rng.gauss(0, 5)) % 360,
        }
