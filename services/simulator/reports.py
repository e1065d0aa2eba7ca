"""Citizen reports (Open311 service requests) every 5-20 sim minutes, somewhere on a named street."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from services.city import RoadEdge

from .common import iso, point
from .roads import RoadNetwork
from .weather import StormSchedule

# (service_code, service_name, descriptions, weight in dry weather, extra weight per mm/h of rain)
SERVICES = (
    ("POT", "pothole", ("Deep pothole in the right lane", "Several potholes, cars swerving",
                        "Pothole next to the tram rails"), 3.0, 0.0),
    ("STL", "streetlight out", ("Street light not working", "Three lamps out in a row, very dark"), 2.0, 0.0),
    ("PRK", "illegal parking", ("Car parked on the pedestrian crossing", "Van blocking the bike lane",
                                "Double-parked lorry blocking the street"), 3.0, 0.0),
    ("NOI", "noise", ("Loud construction work at night", "Car alarm going off for an hour"), 1.5, 0.0),
    ("WLK", "water leak", ("Water bubbling up from the street", "Burst pipe, water on the road"), 0.7, 0.05),
    ("TRE", "fallen tree", ("Tree fallen across the road", "Large branch blocking a lane"), 0.3, 0.08),
    ("DRN", "blocked drain", ("Storm drain blocked, street flooding", "Drain overflowing at the crossing"), 0.7, 0.25),
    ("GRF", "graffiti", ("Graffiti on the bus shelter",), 1.0, 0.0),
)


class CitizenReports:
    def __init__(self, roads: RoadNetwork, storms: StormSchedule, city_name: str, rng: random.Random,
                 start: datetime):
        self._roads = roads
        self._storms = storms
        self._city_name = city_name
        self._rng = rng
        edges = roads.core_edges() or list(roads.edges.values())
        self._streets: list[RoadEdge] = [e for e in edges if e.name] or edges
        self._next = start + timedelta(minutes=rng.uniform(2, 10))
        self._prefix = start.strftime("%y%m%d%H%M")
        self._count = 0

    def due(self, moment: datetime) -> list[dict]:
        reports = []
        while self._next <= moment and self._streets:
            reports.append(self._report(self._next))
            self._next += timedelta(minutes=self._rng.uniform(5, 20))
        return reports

    def _report(self, moment: datetime) -> dict:
        rng = self._rng
        street = rng.choice(self._streets)
        lon, lat, _ = self._roads.position_on(street, rng.uniform(0, street.length_m))
        rain = self._storms.rain_mmh(moment, lon, lat)
        code, name, descriptions, weight, per_rain = rng.choices(
            SERVICES, weights=[s[3] + s[4] * rain for s in SERVICES])[0]
        self._count += 1
        request_id = f"{self._prefix}-{self._count:05d}"
        street_name = street.name or "unnamed road"
        return {
            "id": f"urn:ngsi-ld:Open311ServiceRequest:{request_id}",
            "type": "Open311ServiceRequest",
            "service_request_id": request_id,
            "service_code": code,
            "service_name": name,
            "description": rng.choice(descriptions),
            "status": "open",
            "location": point(lon, lat),
            "address_string": f"{street_name}, {self._city_name}",
            "requested_datetime": iso(moment),
        }
