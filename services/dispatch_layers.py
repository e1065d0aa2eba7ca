"""The "incidents" and "units" map layers (GeoJSON FeatureCollections, see services/layers.py).

Incident features: id, label, observed_at (last change), category, subCategory, priority (1-4),
severity, status, created_at, escalated, unit_id. Unit features: id, label, observed_at (the
vehicle's last position), kind, status, bearing, speed, incident_id, status_since.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.engine import Engine

from services.i18n import N_
from services.city import City
from services.incidents import ACTIVE_STATUSES, IncidentView, iso, list_incidents
from services.layers import LayerData, register_layer
from services.units import UnitView, list_units
from services.vocabulary import NO_DATA_COLOUR, PRIORITY_COLOURS, UNIT_STATUS_COLOURS, UNIT_STATUS_LABELS

UNITS_STALE_S = 30.0


def incident_feature(incident: IncidentView) -> dict:
    return {
        "type": "Feature", "id": f"incident-{incident.id}",
        "geometry": {"type": "Point", "coordinates": [incident.lon, incident.lat]},
        "properties": {
            "id": incident.id, "label": incident.label, "observed_at": iso(incident.updated_at),
            "category": incident.category, "subCategory": incident.sub_category, "priority": incident.priority,
            "severity": incident.severity, "status": incident.status, "created_at": iso(incident.created_at),
            "status_since": iso(incident.status_since), "escalated": incident.escalated,
            "unit_id": incident.unit_id, "description": incident.description, "address": incident.address,
            "colour": PRIORITY_COLOURS[incident.priority],
        },
    }


def unit_feature(unit: UnitView) -> dict:
    return {
        "type": "Feature", "id": f"unit-{unit.unit_id}",
        "geometry": {"type": "Point", "coordinates": [unit.lon, unit.lat]},
        "properties": {
            "id": unit.unit_id, "label": f"{unit.name} — {UNIT_STATUS_LABELS.get(unit.status, unit.status)}",
            "observed_at": iso(unit.position_at), "kind": unit.kind, "status": unit.status,
            "bearing": unit.bearing, "speed": unit.speed_kmh, "incident_id": unit.incident_id,
            "status_since": iso(unit.status_since), "serviceStatus": unit.service_status,
            "colour": UNIT_STATUS_COLOURS.get(unit.status, NO_DATA_COLOUR),
        },
    }


@register_layer("incidents", N_("Incidents"), order=40)
def incidents_layer(engine: Engine, city: City, now: datetime) -> LayerData:
    incidents = list_incidents(engine, ACTIVE_STATUSES)
    return LayerData(
        features=[incident_feature(i) for i in incidents],
        newest_at=max((i.updated_at for i in incidents), default=None),
        stale_after_s=float("inf"),  # incidents change when the world does, not on a clock
        legend=[(PRIORITY_COLOURS[p], N_("P{priority}"), {"priority": p}) for p in (1, 2, 3, 4)],
    )


@register_layer("units", N_("Units"), order=50)
def units_layer(engine: Engine, city: City, now: datetime) -> LayerData:
    units = [u for u in list_units(engine) if u.lon is not None]
    return LayerData(
        features=[unit_feature(u) for u in units],
        newest_at=max((u.position_at for u in units if u.position_at), default=None),
        stale_after_s=UNITS_STALE_S,
        legend=[(UNIT_STATUS_COLOURS[s], UNIT_STATUS_LABELS[s]) for s in UNIT_STATUS_COLOURS],
    )
