"""Headline figures for the wall screen, read from the live map snapshot (no extra queries)."""
from __future__ import annotations

from dataclasses import dataclass

from services.aqi import CODES, DEFAULT_STANDARD, SHORT_NAMES, category_for, category_name
from services.i18n import _, ngettext
from services.snapshot import LiveSnapshot

CLOSED_INCIDENT_STATES = {"resolved", "closed", "cancelled"}
AVAILABLE_UNIT_STATES = {"available", "parked", "patrolling", "returning"}
CONGESTED_LEVEL = 2  # services/live_layers.py CONGESTION_BANDS: congested (below 50 % of free flow) or jammed


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    value: str
    tone: str  # good | warn | bad | neutral
    note: str = ""


def layer_properties(snapshot: LiveSnapshot, layer: str) -> list[dict]:
    state = snapshot.layers.get(layer)
    return [] if state is None else [fs.feature["properties"] for fs in state.features.values()]


def congested_roads(traffic: list[dict]) -> tuple[int, int]:
    """(segments congested or jammed, segments with a level) of the traffic layer's features."""
    levels = [p["level"] for p in traffic if p.get("level") is not None]
    return sum(1 for level in levels if level >= CONGESTED_LEVEL), len(levels)


def headlines(snapshot: LiveSnapshot, standard: str = DEFAULT_STANDARD) -> list[Headline]:
    """The wall's tiles; the air quality one in the screen's AQI ``standard``, named with its category."""
    figures: list[Headline] = []
    if "incidents" in snapshot.layers:
        active = [p for p in layer_properties(snapshot, "incidents") if p.get("status") not in CLOSED_INCIDENT_STATES]
        urgent = sum(1 for p in active if p.get("priority") == 1)
        figures.append(Headline("incidents", _("Active incidents"), str(len(active)),
                                "bad" if urgent else "warn" if active else "good", _("{count} priority 1", count=urgent)))
    if "units" in snapshot.layers:
        units = layer_properties(snapshot, "units")
        available = sum(1 for p in units if p.get("status") in AVAILABLE_UNIT_STATES)
        figures.append(Headline("units", _("Units available"), f"{available}/{len(units)}",
                                "bad" if units and available == 0 else "good", ""))
    figures.append(_worst_air(snapshot, standard))
    water = [p for p in layer_properties(snapshot, "flood") if p.get("kind") == "water" and p.get("level") is not None]
    above = sum(1 for p in water if p["level"] >= 1)
    danger = sum(1 for p in water if p["level"] >= 2)
    figures.append(Headline("flood", _("Stations above alert"), f"{above}/{len(water)}",
                            "bad" if danger else "warn" if above else "good", _("{count} above danger", count=danger)))
    congested, roads = congested_roads(layer_properties(snapshot, "traffic"))
    share = round(100 * congested / roads) if roads else None
    figures.append(Headline("traffic", _("Congested roads"), "—" if share is None else f"{share}%",
                            "neutral" if share is None else "bad" if share >= 25 else "warn" if share >= 10 else "good",
                            ngettext("{count} of {n} segment", "{count} of {n} segments", roads, count=congested)))
    return figures


def _worst_air(snapshot: LiveSnapshot, standard: str) -> Headline:
    key = f"aqi_{CODES[standard]}"
    worst = max((p for p in layer_properties(snapshot, "air") if p.get(key) is not None), key=lambda p: p[key],
                default=None)
    label = _("Worst {index}", index=_(SHORT_NAMES[standard]))
    if worst is None:
        return Headline("aqi", label, "—", "neutral", _("no data"))
    level, _key, category, _colour = category_for(worst[key], standard)
    return Headline("aqi", label, str(worst[key]), "bad" if level >= 4 else "warn" if level >= 3 else "good",
                    f"{category_name(standard, category)} · {worst.get('label', '')}")
