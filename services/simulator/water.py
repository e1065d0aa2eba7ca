"""Water levels that follow the rain (a linear reservoir per station) and their payloads.

dh/dt = a * rain - b * (h - base): each station has a base level below its alert level, a time
constant 1/b of 25-60 min and a gain a chosen so that a strong storm pushes the wetter stations
over alert_level and sometimes over danger_level.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from .common import ENTITY_TYPE, clamp, iso, point
from .weather import StormSchedule

DESIGN_RAIN_MMH = 30.0  # the sustained rain at which a station settles near k x (alert - base)


@dataclass
class WaterStation:
    device: dict
    kind: str  # "flood" | "water"
    base_m: float
    alert_m: float
    danger_m: float
    reference_m: float
    tau_s: float
    gain: float  # metres per second per (mm/h)
    level_m: float

    @classmethod
    def from_device(cls, device: dict, kind: str, rng: random.Random) -> "WaterStation":
        alert = float(device.get("alert_level", 1.5))
        danger = float(device.get("danger_level", alert + 0.6))
        declared = device.get("reference_level")
        declared = None if declared is None else float(declared)
        usual = max(alert - (danger - alert) * rng.uniform(1.2, 2.0), 0.1 * alert)
        # SDM: referenceLevel is the height the sensor measures down from (above danger). A
        # reference_level below the alert level can only be the normal water level: use it as such.
        normal = device.get("normal_level")
        if normal is not None:
            base = float(normal)
        else:
            base = declared if declared is not None and declared < alert else usual
        reference = declared if declared is not None and declared > danger else round(danger + 1.0, 2)
        tau_s = rng.uniform(25, 60) * 60
        response = rng.uniform(1.1, 2.2)  # how flashy this catchment is
        gain = response * (alert - base) / (DESIGN_RAIN_MMH * tau_s)
        return cls(device, kind, base, alert, danger, reference, tau_s, gain, base + rng.uniform(0, 0.03))

    @property
    def device_id(self) -> str:
        return self.device["device_id"]

    def step(self, rain_mmh: float, dt_s: float) -> None:
        self.level_m += (self.gain * rain_mmh - (self.level_m - self.base_m) / self.tau_s) * dt_s

    def status(self) -> str:
        if self.level_m >= self.danger_m:
            return "Danger"
        return "Alert" if self.level_m >= self.alert_m else "Normal"


class WaterNetwork:
    def __init__(self, stations: list[WaterStation], storms: StormSchedule):
        self.stations = {s.device_id: s for s in stations}
        self._storms = storms

    def step(self, moment: datetime, dt_s: float) -> None:
        for station in self.stations.values():
            rain = self._storms.rain_mmh(moment, station.device["lon"], station.device["lat"])
            station.step(rain, dt_s)

    def observation(self, station: WaterStation, moment: datetime, rng: random.Random) -> dict:
        level = max(station.level_m + rng.gauss(0, 0.004), 0.0)
        device = station.device
        common = {"name": device.get("name", station.device_id), "location": point(device["lon"], device["lat"])}
        if station.kind == "flood":
            return {
                "id": f"urn:ngsi-ld:{ENTITY_TYPE['flood']}:{station.device_id}",
                "type": ENTITY_TYPE["flood"],
                "observationDateTime": iso(moment),
                "currentLevel": round(level, 3),
                "referenceLevel": round(station.reference_m, 3),
                "measuredDistance": round(station.reference_m - level, 3),
                "alertLevel": round(station.alert_m, 3),
                "dangerLevel": round(station.danger_m, 3),
                "floodLevelStatus": station.status(),
                **common,
            }
        flow = 6.0 * clamp(level - 0.3 * station.base_m, 0.0, 50.0) ** 1.6
        return {
            "id": f"urn:ngsi-ld:{ENTITY_TYPE['water']}:{station.device_id}",
            "type": ENTITY_TYPE["water"],
            "dateObserved": iso(moment),
            "height": round(level, 3),
            "flow": round(flow, 2),
            **common,
        }
