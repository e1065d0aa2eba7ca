"""What the public kiosk shows: the city now, for a citizen, from the live snapshot and the public alarms.

One ``KioskStatus`` per tick and AQI standard serves every kiosk (pages/kiosk.py renders it in each
screen's language). Every section keeps only readings that are current (younger than their layer's
staleness limit): an old number is never shown as if it were now; a section without current
readings says when its newest one was taken. Words are chosen on the screen; here are data and keys.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy.engine import Engine

from services.alarms import SEVERITIES, AlarmFilter, list_alarms
from services.aqi import CODES, category_for
from services.headlines import congested_roads, layer_properties
from services.rules import RuleSet
from services.snapshot import LiveSnapshot

WORST_ROADS = 3
WATER_STATIONS = 4
# A warning's kind (the rule's SDM Alert sub-category) as the kiosk names it; others show as "warning".
WARNING_KINDS = ("flood", "rainfall", "airPollution")


@dataclass(frozen=True)
class DistrictAir:
    district: str
    index: int
    level: int  # 1..6 of the standard
    colour: str


@dataclass(frozen=True)
class Road:
    name: str
    level: int  # 2 congested, 3 jammed (services/live_layers.py CONGESTION_BANDS)
    share: float | None  # speed as a share of free flow


@dataclass(frozen=True)
class WaterStation:
    name: str
    metres: float
    alert: float | None
    danger: float | None
    level: int  # 0 normal, 1 above alert, 2 above danger


@dataclass(frozen=True)
class Warning:
    kind: str  # flood | rainfall | airPollution | other
    rule_id: str
    severity: str
    districts: tuple[str, ...]
    since: datetime
    advice: tuple[tuple[str, str], ...]  # per language, from the rules file


@dataclass(frozen=True)
class Section:
    """A panel's freshness: ``current`` when it has readings younger than its layer's limit."""

    current: bool
    newest: datetime | None  # the newest reading of any age (what a stale panel says)


@dataclass(frozen=True)
class KioskStatus:
    built_at: datetime
    standard: str
    air: tuple[DistrictAir, ...]
    air_section: Section
    congested: int
    road_segments: int
    worst_roads: tuple[Road, ...]
    traffic_section: Section
    rain_mm_h: float | None  # the wettest current weather station
    rain_level: int | None  # services/live_layers.py rain_level
    water: tuple[WaterStation, ...]
    water_section: Section
    warnings: tuple[Warning, ...]


def _current(snapshot: LiveSnapshot, layer: str, now: float, kinds: tuple[str, ...] | None = None
             ) -> tuple[list[dict], Section]:
    """The layer's features whose reading is current, and the section's freshness."""
    state = snapshot.layers.get(layer)
    if state is None:
        return [], Section(False, None)
    features = [p for p in layer_properties(snapshot, layer) if kinds is None or p.get("kind") in kinds]
    limit = state.stale_after_s
    fresh = [p for p in features if p.get("t") is not None and (limit is None or now - p["t"] <= limit)]
    newest = max((p["t"] for p in features if p.get("t") is not None), default=None)
    return fresh, Section(bool(fresh), None if newest is None else datetime.fromtimestamp(newest, timezone.utc))


def air_by_district(stations: list[dict], standard: str, city_name: str) -> tuple[DistrictAir, ...]:
    """Each district's worst current station (a citizen lives with the worst air nearby), worst first."""
    key = f"aqi_{CODES[standard]}"
    worst: dict[str, int] = {}
    for p in stations:
        if p.get(key) is not None:
            district = p.get("district") or city_name
            worst[district] = max(worst.get(district, -1), p[key])
    rows = []
    for district, index in worst.items():
        level, _key, _label, colour = category_for(index, standard)
        rows.append(DistrictAir(district, index, level, colour))
    return tuple(sorted(rows, key=lambda row: (-row.index, row.district)))


def worst_roads(segments: list[dict], limit: int = WORST_ROADS) -> tuple[Road, ...]:
    """The congested roads by the city's street name, slowest first; a road's counters count once."""
    slowest: dict[str, dict] = {}
    for p in segments:
        if p.get("level") is None or p["level"] < 2:
            continue
        name = p.get("street") or p.get("label") or p.get("id")
        known = slowest.get(name)
        if known is None or (p.get("share") or 0) < (known.get("share") or 0):
            slowest[name] = p
    ranked = sorted(slowest.items(), key=lambda item: (-item[1]["level"], item[1].get("share") or 0, item[0]))
    return tuple(Road(name, p["level"], p.get("share")) for name, p in ranked[:limit])


def water_stations(stations: list[dict], limit: int = WATER_STATIONS) -> tuple[WaterStation, ...]:
    """The stations nearest to (or past) their alert level first."""
    rows = [WaterStation(p.get("label") or p["id"], p["value"], p.get("alert"), p.get("danger"), p.get("level") or 0)
            for p in stations if p.get("value") is not None]
    closeness = lambda s: s.metres / s.alert if s.alert else 0.0  # noqa: E731
    return tuple(sorted(rows, key=lambda s: (-s.level, -closeness(s), s.name))[:limit])


def public_warnings(engine: Engine, rules: RuleSet) -> tuple[Warning, ...]:
    """The active alarms of the rules marked public, one warning per rule, the most severe first.
    A drill's alarms are an exercise for the operators, never a public warning."""
    public = {rule.id: rule for rule in rules.rules if rule.public}
    if not public:
        return ()
    by_rule: dict[str, list] = {}
    for alarm in list_alarms(engine, AlarmFilter(state="active", limit=500)):
        if alarm.rule_id in public and alarm.drill is None:
            by_rule.setdefault(alarm.rule_id, []).append(alarm)
    warnings = []
    for rule_id, alarms in by_rule.items():
        rule = public[rule_id]
        severity = max((a.severity for a in alarms), key=lambda s: SEVERITIES.index(s) if s in SEVERITIES else 0)
        districts = tuple(sorted({a.district for a in alarms if a.district}))
        kind = rule.sub_category if rule.sub_category in WARNING_KINDS else "other"
        warnings.append(Warning(kind, rule_id, severity, districts, min(a.started_at for a in alarms), rule.advice))
    rank = {severity: i for i, severity in enumerate(SEVERITIES)}
    return tuple(sorted(warnings, key=lambda w: (-rank.get(w.severity, 0), w.since)))


def kiosk_status(snapshot: LiveSnapshot, engine: Engine, rules: RuleSet, standard: str, city_name: str,
                 now: float | None = None) -> KioskStatus:
    now = time.time() if now is None else now
    air, air_section = _current(snapshot, "air", now)
    traffic, traffic_section = _current(snapshot, "traffic", now)
    water, _section = _current(snapshot, "flood", now, ("water",))
    rain, _section = _current(snapshot, "flood", now, ("rain",))
    _all, water_section = _current(snapshot, "flood", now, ("water", "rain"))
    wettest = max((p for p in rain if p.get("value") is not None), key=lambda p: p["value"], default=None)
    congested, segments = congested_roads(traffic)
    return KioskStatus(
        built_at=datetime.fromtimestamp(now, timezone.utc), standard=standard,
        air=air_by_district(air, standard, city_name), air_section=air_section,
        congested=congested, road_segments=segments, worst_roads=worst_roads(traffic),
        traffic_section=traffic_section,
        rain_mm_h=None if wettest is None else wettest["value"],
        rain_level=None if wettest is None else wettest.get("level"),
        water=water_stations(water), water_section=water_section,
        warnings=public_warnings(engine, rules),
    )
