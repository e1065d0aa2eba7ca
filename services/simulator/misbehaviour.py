"""Devices that misbehave the way real ones do, chosen once from the seed.

- silent: an air station that drops off the air for hours at a time
- impossible_speed: a traffic sensor that now and then reports 400 km/h or a negative speed
- swapped_location: a water station that sends [lat, lon] instead of [lon, lat]
- numbers_as_strings: a weather station that sends "12.3" instead of 12.3
- ngsi_ld_normalized: a FloodMonitoring station speaking NGSI-LD normalized form
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from .common import device_kind

NGSI_LD_CONTEXT = [
    "https://raw.githubusercontent.com/smart-data-models/dataModel.Environment/master/context.jsonld",
    "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context.jsonld",
]
DATE_ATTRIBUTES = ("dateObserved", "observationDateTime")


@dataclass(frozen=True)
class Misbehaviour:
    by_device: dict[str, str]  # device_id -> behaviour

    @classmethod
    def choose(cls, rng: random.Random, devices: dict[str, dict]) -> "Misbehaviour":
        ids = lambda *kinds: sorted(d for d, dev in devices.items() if device_kind(dev) in kinds)  # noqa: E731
        chosen: dict[str, str] = {}

        def pick(behaviour: str, candidates: list[str]) -> None:
            free = [c for c in candidates if c not in chosen]
            if free:
                chosen[rng.choice(free)] = behaviour

        pick("silent", ids("air"))
        pick("impossible_speed", ids("traffic"))
        pick("numbers_as_strings", ids("weather"))
        pick("ngsi_ld_normalized", ids("flood"))
        pick("swapped_location", ids("water") or ids("flood"))
        return cls(chosen)

    def of(self, device_id: str) -> str | None:
        return self.by_device.get(device_id)

    def as_dict(self) -> dict[str, str]:
        return {behaviour: device_id for device_id, behaviour in self.by_device.items()}

    def distort(self, behaviour: str | None, body: dict) -> dict:
        if behaviour == "swapped_location":
            lon, lat = body["location"]["coordinates"]
            return {**body, "location": {"type": "Point", "coordinates": [lat, lon]}}
        if behaviour == "ngsi_ld_normalized":
            return normalized(body)
        return body


def normalized(body: dict) -> dict:
    """The NGSI-LD normalized form of a key-values entity."""
    out: dict = {"id": body["id"], "type": body["type"]}
    for key, value in body.items():
        if key in ("id", "type"):
            continue
        if key == "location":
            out[key] = {"type": "GeoProperty", "value": value}
        elif key in DATE_ATTRIBUTES:
            out[key] = {"type": "Property", "value": {"@type": "DateTime", "@value": value}}
        else:
            out[key] = {"type": "Property", "value": value}
    out["@context"] = NGSI_LD_CONTEXT
    return out
