"""Which position fixes of a response unit may move it.

A unit's live position is its Vehicle device's latest observation (``device_latest``), which the
map and routing read. A fix outside the city's area (flagged ``out_of_area`` by the parser) or one
that implies an impossible speed since the unit's last accepted fix (a GPS jump, swapped
coordinates, a wrong unit id) is stored, flagged, like every observation, but leaves the unit
where it was: one bad message must not put an ambulance 3,000 km away and keep it "available".
"""
from __future__ import annotations

import dataclasses
import math
from datetime import datetime
from typing import Sequence

from sqlalchemy import select

from services.models import DeviceLatest
from services.telemetry import ObservationIn

# Faster than any emergency vehicle drives in a city (motorway pursuit speeds stay under 200 km/h);
# a fix implying more since the last one is a bad fix, not a fast unit.
MAX_UNIT_SPEED_KMH = 250.0
# GPS noise: a unit standing still may "move" this far between two fixes of the same second.
POSITION_NOISE_M = 30.0
IMPOSSIBLE_SPEED = "impossible_speed"
NOT_MOVING = frozenset({"out_of_area", IMPOSSIBLE_SPEED})


def moves_unit(observation: ObservationIn) -> bool:
    """Whether this observation may move a unit (and speak for it: its serviceStatus)."""
    return observation.entity_type != "Vehicle" or NOT_MOVING.isdisjoint(observation.flags)


def implied_speed_kmh(lon1: float, lat1: float, at1: datetime, lon2: float, lat2: float, at2: datetime) -> float:
    metres = max(0.0, _metres(lon1, lat1, lon2, lat2) - POSITION_NOISE_M)
    seconds = max(abs((at2 - at1).total_seconds()), 1.0)
    return metres / seconds * 3.6


def flag_impossible_fixes(connection, observations: Sequence[ObservationIn]) -> list[ObservationIn]:
    """The observations, Vehicle fixes too fast since their unit's last accepted fix flagged ``impossible_speed``.

    Runs in the batch's transaction; the last accepted fix is the unit's ``device_latest`` row,
    then each accepted fix of the batch in observation time.
    """
    vehicles = [o for o in observations if o.entity_type == "Vehicle"]
    if not vehicles:
        return list(observations)
    last = {row.device_id: (row.lon, row.lat, row.observed_at) for row in connection.execute(
        select(DeviceLatest.device_id, DeviceLatest.lon, DeviceLatest.lat, DeviceLatest.observed_at)
        .where(DeviceLatest.entity_type == "Vehicle", DeviceLatest.device_id.in_({o.device_id for o in vehicles})))}
    flagged: dict[int, ObservationIn] = {}
    for fix in sorted(vehicles, key=lambda o: o.observed_at):
        if not moves_unit(fix):
            continue
        previous = last.get(fix.device_id)
        if previous is not None and previous[0] is not None and \
                implied_speed_kmh(*previous, fix.lon, fix.lat, fix.observed_at) > MAX_UNIT_SPEED_KMH:
            flagged[id(fix)] = dataclasses.replace(fix, flags=(*fix.flags, IMPOSSIBLE_SPEED))
        elif previous is None or fix.observed_at >= previous[2]:
            last[fix.device_id] = (fix.lon, fix.lat, fix.observed_at)
    return [flagged.get(id(o), o) for o in observations]


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine): fixes may be continents apart."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    a = (math.sin((phi2 - phi1) / 2) ** 2
         + math.cos(phi1) * math.cos(phi2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2)
    return 2 * 6_371_000.0 * math.asin(min(1.0, math.sqrt(a)))
