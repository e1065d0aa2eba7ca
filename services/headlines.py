"""Headline figures for the wall screen, read from the live map snapshot (no extra queries)."""
from __future__ import annotations

from dataclasses import dataclass

from services.snapshot import LiveSnapshot

CLOSED_INCIDENT_STATES = {"resolved", "closed", "cancelled"}
AVAILABLE_UNIT_STATES = {"available", "parked", "patrolling", "returning"}


@dataclass(frozen=True)
class Headline:
    key: str
    label: str
    value: str
    tone: str  # good | warn | bad | neutral
    note: str = ""


def _props(snapshot: LiveSnapshot, layer: str) -> list[dict]:
    state = snapshot.layers.get(layer)
    return [] if state is None else [fs.feature["properties"] for fs in state.features.values()]


def headlines(snapshot: LiveSnapshot, standard_suffix: str = "us") -> list[Headline]:
    figures: list[Headline] = []
    if "incidents" in snapshot.layers:
        active = [p for p in _props(snapshot, "incidents") if p.get("status") not in CLOSED_INCIDENT_STATES]
        urgent = sum(1 for p in active if p.get("priority") == 1)
        figures.append(Headline("incidents", "Active incidents", str(len(active)),
                                "bad" if urgent else "warn" if active else "good", f"{urgent} priority 1"))
    if "units" in snapshot.layers:
        units = _props(snapshot, "units")
        available = sum(1 for p in units if p.get("status") in AVAILABLE_UNIT_STATES)
        figures.append(Headline("units", "Units available", f"{available}/{len(units)}",
                                "bad" if units and available == 0 else "good", ""))
    air = [p for p in _props(snapshot, "air") if p.get(f"aqi_{standard_suffix}") is not None]
    worst = max(air, key=lambda p: p[f"aqi_{standard_suffix}"], default=None)
    if worst is None:
        figures.append(Headline("aqi", "Worst AQI", "—", "neutral", "no data"))
    else:
        index = worst[f"aqi_{standard_suffix}"]
        level = 1 + sum(index > edge for edge in (50, 100, 150, 200, 300))
        figures.append(Headline("aqi", "Worst AQI", str(worst[f"aqi_{standard_suffix}"]),
                                "bad" if level >= 4 else "warn" if level >= 3 else "good", worst.get("label", "")))
    water = [p for p in _props(snapshot, "flood") if p.get("kind") == "water" and p.get("level") is not None]
    above = sum(1 for p in water if p["level"] >= 1)
    danger = sum(1 for p in water if p["level"] >= 2)
    figures.append(Headline("flood", "Stations above alert", f"{above}/{len(water)}",
                            "bad" if danger else "warn" if above else "good", f"{danger} above danger"))
    roads = [p for p in _props(snapshot, "traffic") if p.get("level") is not None]
    congested = sum(1 for p in roads if p["level"] >= 2)
    share = round(100 * congested / len(roads)) if roads else None
    figures.append(Headline("traffic", "Congested roads", "—" if share is None else f"{share}%",
                            "neutral" if share is None else "bad" if share >= 25 else "warn" if share >= 10 else "good",
                            f"{congested} of {len(roads)} segments"))
    return figures
