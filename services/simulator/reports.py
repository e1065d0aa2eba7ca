"""Citizen reports (Open311 service requests) about every 12 sim minutes, somewhere on a named street.

When a report happens and what its id is depend only on the seed and the sim time, never on when
the simulator was started: time is cut into 10-minute slots aligned to the UTC clock, and each slot
draws its report (or none) from its own random stream. A simulator restarted with a backfill
therefore publishes the reports it had already published under the same ``service_request_id``,
and the ingest stores each request once (a replay is not a new incident). The kind of a report
leans on the rain at that moment, which follows the storms of this run; a replay keeps its id and
time, and the ingest keeps the first version it stored.

Now and then (``REPEAT_CHANCE`` of the slots, drawn from a stream of its own so the other reports
stay as they were) the report is a second citizen reporting what an earlier one did, from a few
tens of metres away: CityOps offers it for merging (services/simulator/hotline.py merges it).
"""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from services.city import RoadEdge

from .common import iso, point
from .roads import RoadNetwork
from .weather import StormSchedule

SLOT = timedelta(minutes=10)
REPORT_CHANCE = 0.8  # one report in 8 of 10 slots: every 12.5 minutes on average
REPEAT_CHANCE = 0.15  # a report repeats one of the last three slots' (a second citizen, nearby)
REPEAT_SLOTS = 3
NEVER_REPEATED = frozenset({"DRN"})  # an emergency: the dispatchers' duplicate, not a work order's
_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)

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


def _slot_of(moment: datetime) -> datetime:
    return moment - (moment - _EPOCH) % SLOT


class CitizenReports:
    def __init__(self, roads: RoadNetwork, storms: StormSchedule, city_name: str, seed: int, start: datetime):
        self._roads = roads
        self._storms = storms
        self._city_name = city_name
        self._seed = seed
        edges = roads.core_edges() or list(roads.edges.values())
        self._streets: list[RoadEdge] = [e for e in edges if e.name] or edges
        self._slot = _slot_of(start)
        self._upcoming = self._first_at_or_after(start)

    def due(self, moment: datetime) -> list[dict]:
        reports = []
        while self._upcoming[0] <= moment and self._streets:
            reports.append(self._report(*self._upcoming))
            self._upcoming = self._first_at_or_after(self._upcoming[0] + timedelta(seconds=1))
        return reports

    def _first_at_or_after(self, earliest: datetime) -> tuple[datetime, random.Random]:
        """The next report's time and its slot's random stream."""
        while True:
            slot, self._slot = self._slot, self._slot + SLOT
            rng = random.Random(f"{self._seed}:report:{iso(slot)}")
            if rng.random() < REPORT_CHANCE:
                at = slot + timedelta(seconds=rng.randrange(int(SLOT.total_seconds())))
                if at >= earliest:
                    return at, rng

    def _report(self, moment: datetime, rng: random.Random) -> dict:
        if self._repeats(moment):
            original = self._original_before(moment)
            if original is not None:
                return self._again(moment, original)
        return self._fresh(moment, rng)

    def _repeats(self, moment: datetime) -> bool:
        return self._repeat_rng(moment).random() < REPEAT_CHANCE

    def _repeat_rng(self, moment: datetime) -> random.Random:
        return random.Random(f"{self._seed}:repeat:{iso(moment)}")

    def _original_before(self, moment: datetime) -> tuple[dict, RoadEdge, float] | None:
        """The latest report of the slots before ``moment``'s that was not itself a repeat."""
        for back in range(1, REPEAT_SLOTS + 1):
            slot = _slot_of(moment) - back * SLOT
            rng = random.Random(f"{self._seed}:report:{iso(slot)}")
            if rng.random() >= REPORT_CHANCE:
                continue
            at = slot + timedelta(seconds=rng.randrange(int(SLOT.total_seconds())))
            if self._repeats(at):
                continue
            state = rng.getstate()
            place = self._place(rng)
            rng.setstate(state)
            original = self._fresh(at, rng)
            return None if original["service_code"] in NEVER_REPEATED else (original, *place)
        return None

    def _place(self, rng: random.Random) -> tuple[RoadEdge, float]:
        """Where a fresh report is: a street, and how far along it (the first draws of its stream)."""
        street = rng.choice(self._streets)
        return street, rng.uniform(0, street.length_m)

    def _again(self, moment: datetime, original: tuple[dict, RoadEdge, float]) -> dict:
        """A second citizen's report of the same thing, 20-80 m along the same street, in their own words."""
        original, street, along = original
        rng = self._repeat_rng(moment)
        rng.random()  # the draw that made it a repeat
        shift = rng.uniform(20, 80) * rng.choice((-1, 1))
        lon, lat, _ = self._roads.position_on(street, min(max(along + shift, 0.0), street.length_m))
        service = next(s for s in SERVICES if s[0] == original["service_code"])
        request_id = f"S{self._seed}-{moment:%y%m%d-%H%M%S}"
        return {**original, "id": f"urn:ngsi-ld:Open311ServiceRequest:{request_id}", "service_request_id": request_id,
                "description": rng.choice(service[2]), "location": point(lon, lat),
                "requested_datetime": iso(moment)}

    def _fresh(self, moment: datetime, rng: random.Random) -> dict:
        street, along = self._place(rng)
        lon, lat, _ = self._roads.position_on(street, along)
        rain = self._storms.rain_mmh(moment, lon, lat)
        code, name, descriptions, weight, per_rain = rng.choices(
            SERVICES, weights=[s[3] + s[4] * rain for s in SERVICES])[0]
        request_id = f"S{self._seed}-{moment:%y%m%d-%H%M%S}"
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
