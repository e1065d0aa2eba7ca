"""Incidents: their vocabulary (categories, priorities, lifecycle), their input, and what screens read.

Lifecycle (``TRANSITIONS``)::

    new ──dispatch──> dispatched ──accepted──> en_route ──arrived──> on_scene ──cleared──> resolved ──> closed
     ^                    │   (no answer in time / rejected / recalled: back to the queue)
     └────────────────────┘
    any state before resolved ──> cancelled

Priority P1..P4 maps onto the Smart Data Models ``Alert.severity`` vocabulary:
P1 = critical, P2 = high, P3 = medium, P4 = low; on input ``informational`` also reads as P4.

Categories and sub-categories follow the SDM Alert model (``traffic/carAccident``,
``naturalDisaster/flood``, ``health/heartAttack``, ``security/robbery``, ...); CityOps adds
``fire`` (building/vehicle fires) and ``infrastructure`` (street furniture, leaks, drains) for
the units it dispatches. Pages and the API receive ``IncidentView`` values, never rows.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.commands import Refused
from services.i18n import N_, Said, Term, _, recorded, say, with_said
from services.models import Incident, IncidentEvent
from services.telemetry import CitizenReportIn
from services.vocabulary import incident_kind

STATUSES = ("new", "dispatched", "en_route", "on_scene", "resolved", "closed", "cancelled")
QUEUE_STATUSES = ("new",)  # waiting for a unit
ACTIVE_STATUSES = ("new", "dispatched", "en_route", "on_scene")
OPEN_STATUSES = ACTIVE_STATUSES + ("resolved",)  # on the dispatcher's board
TERMINAL_STATUSES = ("closed", "cancelled")

# what an operator may set by hand (PATCH status); the unit's answers drive the rest
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("cancelled", "resolved"),
    "dispatched": ("cancelled",),
    "en_route": ("cancelled", "on_scene"),
    "on_scene": ("resolved", "cancelled"),
    "resolved": ("closed",),
    "closed": (),
    "cancelled": (),
}

# how a handled incident ended (the resolve command's disposition code), with its words on screen
DISPOSITIONS: dict[str, str] = {
    "treated_on_scene": N_("Treated on scene"),
    "transported": N_("Transported"),
    "resolved_on_scene": N_("Resolved on scene (no casualty)"),
    "referred": N_("Referred to another service"),
    "no_action_needed": N_("No action needed"),
    "false_alarm": N_("False alarm"),
}
RESOLVABLE_STATUSES = ACTIVE_STATUSES + ("resolved",)  # closed and cancelled are final

# the steps of a handled incident whose durations the console shows: (name, start field, end field)
STEPS = ((N_("Call to dispatch"), "created_at", "dispatched_at"),
         (N_("Dispatch to on scene"), "dispatched_at", "on_scene_at"),
         (N_("On scene to resolved"), "on_scene_at", "resolved_at"), (N_("Call to resolved"), "created_at", "resolved_at"))

SEVERITY_OF_PRIORITY = {1: "critical", 2: "high", 3: "medium", 4: "low"}
PRIORITY_OF_SEVERITY = {"critical": 1, "high": 2, "medium": 3, "low": 4, "informational": 4}
SOURCES = ("operator", "citizen", "alarm", "api")

CATEGORIES: dict[str, tuple[str, ...]] = {
    "health": ("heartAttack", "injury", "fall", "breathingProblems", "unconscious", "other"),
    "fire": ("buildingFire", "vehicleFire", "wildfire", "smoke", "other"),
    "traffic": ("carAccident", "trafficJam", "carStopped", "hazardOnRoad", "roadClosed", "roadWorks",
                "pothole", "illegalParking", "injuredBiker", "other"),
    "naturalDisaster": ("flood", "storm", "landslide", "earthquake", "other"),
    "weather": ("rainfall", "snow", "ice", "wind", "other"),
    "security": ("robbery", "assault", "suspiciousAction", "disturbance", "noise", "vandalism", "other"),
    "environment": ("airPollution", "waterPollution", "spill", "other"),
    "infrastructure": ("streetlight", "waterLeak", "fallenTree", "blockedDrain", "pothole", "graffiti", "other"),
}

# Open311 service code / name -> (category, sub-category, priority). Citizen reports are P3/P4.
OPEN311_SERVICES: dict[str, tuple[str, str, int]] = {
    "POT": ("infrastructure", "pothole", 4), "pothole": ("infrastructure", "pothole", 4),
    "STL": ("infrastructure", "streetlight", 4), "streetlight out": ("infrastructure", "streetlight", 4),
    "PRK": ("traffic", "illegalParking", 4), "illegal parking": ("traffic", "illegalParking", 4),
    "NOI": ("security", "noise", 4), "noise": ("security", "noise", 4),
    "WLK": ("infrastructure", "waterLeak", 3), "water leak": ("infrastructure", "waterLeak", 3),
    "TRE": ("infrastructure", "fallenTree", 3), "fallen tree": ("infrastructure", "fallenTree", 3),
    "DRN": ("infrastructure", "blockedDrain", 3), "blocked drain": ("infrastructure", "blockedDrain", 3),
    "GRF": ("infrastructure", "graffiti", 4), "graffiti": ("infrastructure", "graffiti", 4),
    "flooding": ("naturalDisaster", "flood", 3), "flood": ("naturalDisaster", "flood", 3),
    "accident": ("traffic", "carAccident", 3), "traffic accident": ("traffic", "carAccident", 3),
    "fire": ("fire", "other", 3), "vehicle fire": ("fire", "vehicleFire", 3),
    "MCI": ("health", "injury", 3), "mass casualty": ("health", "injury", 3),
}
OPEN311_DEFAULT = ("infrastructure", "other", 4)


def category_key(category: str, sub_category: str | None) -> str:
    return f"{category}/{sub_category}" if sub_category else category


def can_handle(capabilities: list[str] | tuple[str, ...], category: str, sub_category: str | None) -> bool:
    """A capability names a category ("health") or a category/sub-category ("traffic/carAccident")."""
    wanted = {category, category_key(category, sub_category)}
    return any(capability in wanted for capability in capabilities or ())


def read_priority(raw: Any, field: str = "priority") -> int:
    """1..4, "P1".."P4", or an SDM severity word."""
    if isinstance(raw, bool):
        raise Refused.invalid(_("priority must be 1-4, P1-P4 or an SDM severity"), field)
    if isinstance(raw, (int, float)) and float(raw).is_integer() and 1 <= int(raw) <= 4:
        return int(raw)
    if isinstance(raw, str):
        text = raw.strip().lower()
        if text in PRIORITY_OF_SEVERITY:
            return PRIORITY_OF_SEVERITY[text]
        text = text[1:] if text.startswith("p") else text
        if text in ("1", "2", "3", "4"):
            return int(text)
    raise Refused.invalid(_("priority must be 1-4, P1-P4 or one of informational/low/medium/high/critical"), field)


def read_category(category: Any, sub_category: Any) -> tuple[str, str | None]:
    if not isinstance(category, str) or category not in CATEGORIES:
        raise Refused.invalid(_("category must be one of {choices}", choices=', '.join(CATEGORIES)), "category")
    if sub_category in (None, ""):
        return category, None
    if not isinstance(sub_category, str) or sub_category not in CATEGORIES[category]:
        raise Refused.invalid(_("subCategory of {category} must be one of {choices}",
                                category=category, choices=', '.join(CATEGORIES[category])), "subCategory")
    return category, sub_category


def read_location(body: dict, in_area) -> tuple[float, float]:
    """GeoJSON Point in ``location``, or ``lon``/``lat``; must lie in the city's area."""
    location = body.get("location")
    if location is not None:
        if (not isinstance(location, dict) or location.get("type") != "Point"
                or not isinstance(location.get("coordinates"), (list, tuple)) or len(location["coordinates"]) < 2):
            raise Refused.invalid(_("location must be a GeoJSON Point [lon, lat]"), "location")
        lon, lat = location["coordinates"][:2]
    else:
        lon, lat = body.get("lon"), body.get("lat")
    try:
        if isinstance(lon, bool) or isinstance(lat, bool):
            raise TypeError
        lon, lat = float(lon), float(lat)
    except (TypeError, ValueError):
        raise Refused.invalid(_("give location (GeoJSON Point) or numeric lon and lat"), "location") from None
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise Refused.invalid(_("lon must be -180..180 and lat -90..90"), "location")
    if not in_area(lon, lat):
        raise Refused.invalid(_("the location is outside the city's area"), "location")
    return lon, lat


@dataclass(frozen=True)
class IncidentInput:
    category: str
    sub_category: str | None
    priority: int
    lon: float
    lat: float
    description: str | None = None
    address: str | None = None
    source: str = "operator"
    external_id: str | None = None
    drill: str | None = None  # made by a drill (services/drills.py)


def read_incident_input(body: Any, in_area, default_source: str = "api") -> IncidentInput:
    """The fields of a new incident from a JSON body (API) or a form (page); raises Refused (invalid)."""
    if not isinstance(body, dict):
        raise Refused.invalid(_("send a JSON object"), "body")
    category, sub_category = read_category(body.get("category"), body.get("subCategory", body.get("sub_category")))
    raw_priority = body.get("priority", body.get("severity"))
    priority = read_priority(raw_priority) if raw_priority is not None else 3
    lon, lat = read_location(body, in_area)
    source = body.get("source", default_source)
    if source not in SOURCES:
        raise Refused.invalid(_("source must be one of {choices}", choices=', '.join(SOURCES)), "source")
    description = body.get("description")
    address = body.get("address", body.get("address_string"))
    for name, value in (("description", description), ("address", address)):
        if value is not None and (not isinstance(value, str) or len(value) > 2000):
            raise Refused.invalid(_("{name} must be text of at most 2000 characters", name=name), name)
    return IncidentInput(category, sub_category, priority, lon, lat, (description or "").strip() or None,
                         (address or "").strip() or None, source)


def input_from_report(report: CitizenReportIn) -> IncidentInput:
    """A citizen's Open311 service request as a new incident (P3/P4, source citizen)."""
    mapped = (OPEN311_SERVICES.get((report.service_code or "").strip())
              or OPEN311_SERVICES.get((report.service_name or "").strip().lower())
              or OPEN311_DEFAULT)
    category, sub_category, priority = mapped
    what = report.service_name or report.service_code
    description = " — ".join(part for part in (what, report.description) if part)
    return IncidentInput(category, sub_category, max(priority, 3), report.lon, report.lat, description or None,
                         report.address, "citizen", f"open311:{report.external_id}", drill=report.drill)


# ---------------------------------------------------------------- what screens and the API read

@dataclass(frozen=True)
class IncidentView:
    id: int
    category: str
    sub_category: str | None
    priority: int
    status: str
    source: str
    description: str | None
    address: str | None
    district: str | None
    lon: float
    lat: float
    unit_id: str | None
    escalated: bool
    escalation_reason: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    status_since: datetime
    dispatched_at: datetime | None
    on_scene_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    external_id: str | None
    version: int
    drill: str | None = None  # made by a drill: shown with a DRILL badge, never scored (services/drills.py)

    @property
    def severity(self) -> str:
        return SEVERITY_OF_PRIORITY[self.priority]

    @property
    def label(self) -> str:
        return f"#{self.id} P{self.priority} {incident_kind(self.category, self.sub_category)}"

    def step_durations(self) -> list[tuple[str, float]]:
        """How long each finished step took, in seconds: call to dispatch, dispatch to on scene, on scene to
        resolved, and the whole (call to resolved) once resolved."""
        steps = []
        for name, start, end in STEPS:
            begun, ended = getattr(self, start), getattr(self, end)
            if begun is not None and ended is not None and ended >= begun:
                steps.append((name, (ended - begun).total_seconds()))
        return steps

    def as_json(self) -> dict:
        return {
            "id": self.id, "type": "Alert", "category": self.category, "subCategory": self.sub_category,
            "priority": self.priority, "severity": self.severity, "status": self.status, "source": self.source,
            "description": self.description, "address": self.address, "district": self.district,
            "location": {"type": "Point", "coordinates": [self.lon, self.lat]},
            "unit_id": self.unit_id, "escalated": self.escalated, "escalation_reason": self.escalation_reason,
            "created_by": self.created_by, "created_at": iso(self.created_at), "updated_at": iso(self.updated_at),
            "status_since": iso(self.status_since), "dispatched_at": iso(self.dispatched_at),
            "on_scene_at": iso(self.on_scene_at), "resolved_at": iso(self.resolved_at),
            "closed_at": iso(self.closed_at), "external_id": self.external_id, "version": self.version,
            "drill": self.drill,
        }


@dataclass(frozen=True)
class TimelineEntry:
    at: datetime
    kind: str
    actor: str
    message: str
    status_before: str | None
    status_after: str | None
    unit_id: str | None
    detail: dict | None

    def as_json(self) -> dict:
        return {"at": iso(self.at), "kind": self.kind, "actor": self.actor, "message": self.message,
                "status_before": self.status_before, "status_after": self.status_after,
                "unit_id": self.unit_id, "detail": self.detail}


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def view_of(row: Incident) -> IncidentView:
    return IncidentView(**{name: getattr(row, name) for name in IncidentView.__dataclass_fields__})


def snapshot(row: Incident) -> dict:
    """The audit log's before/after of an incident."""
    return {"status": row.status, "priority": row.priority, "category": row.category,
            "subCategory": row.sub_category, "unit_id": row.unit_id, "escalated": row.escalated,
            "description": row.description, "version": row.version, "drill": row.drill}


def list_incidents(engine: Engine, statuses: tuple[str, ...] | None = OPEN_STATUSES, limit: int = 500) -> list[IncidentView]:
    """The queue order: waiting incidents first, then by priority, then oldest first."""
    query = select(Incident)
    if statuses:
        query = query.where(Incident.status.in_(statuses))
    waiting = case((Incident.status == "new", 0), else_=1)
    query = query.order_by(waiting, Incident.priority, Incident.created_at, Incident.id).limit(limit)
    with Session(engine) as session:
        return [view_of(row) for row in session.execute(query).scalars()]


def get_incident(engine: Engine, incident_id: int) -> IncidentView | None:
    with Session(engine) as session:
        row = session.get(Incident, incident_id)
        return view_of(row) if row else None


def incident_timeline(engine: Engine, incident_id: int) -> list[TimelineEntry]:
    query = (select(IncidentEvent).where(IncidentEvent.incident_id == incident_id)
             .order_by(IncidentEvent.at, IncidentEvent.id))
    with Session(engine) as session:
        return [TimelineEntry(e.at, e.kind, e.actor, e.message, e.status_before, e.status_after, e.unit_id, e.detail)
                for e in session.execute(query).scalars()]


def shown_escalation(incident: IncidentView, timeline: list[TimelineEntry]) -> str:
    """Why the incident was escalated, in the reader's language: as said by the newest timeline entry whose
    message is the stored reason (its English), else as stored."""
    reason = incident.escalation_reason or ""
    said = next((entry for entry in reversed(timeline) if entry.message == reason), None)
    return recorded(reason, said.detail) if said is not None else reason


def shown_escalations(engine: Engine, incidents: list[IncidentView]) -> dict[int, str]:
    """``shown_escalation`` of each escalated incident of a list (the queue's badges), read in one query."""
    reasons = {incident.id: incident.escalation_reason for incident in incidents if incident.escalation_reason}
    if not reasons:
        return {}
    query = (select(IncidentEvent.incident_id, IncidentEvent.message, IncidentEvent.detail)
             .where(IncidentEvent.incident_id.in_(list(reasons)), IncidentEvent.message.in_(set(reasons.values())))
             .order_by(IncidentEvent.at, IncidentEvent.id))
    said: dict[int, object] = {}
    with engine.connect() as connection:
        for incident_id, message, detail in connection.execute(query):
            if message == reasons[incident_id]:
                said[incident_id] = detail
    return {incident_id: recorded(reason, said[incident_id]) if incident_id in said else reason
            for incident_id, reason in reasons.items()}


# ---------------------------------------------------------------- writing (inside a command's transaction)

def add_event(session: Session, incident: Incident, kind: str, actor: str, message: Said | str, now: datetime, *,
              status_before: str | None = None, unit_id: str | None = None, detail: dict | None = None) -> None:
    """A timeline entry: ``message`` is stored in English, and what was said (a ``Said``) with it for the screens
    (services/i18n.py ``recorded``); a plain ``str`` is text as a person wrote it."""
    said = message if isinstance(message, Said) else None
    session.add(IncidentEvent(incident_id=incident.id, at=now, kind=kind, actor=actor,
                              message=said.english if said else message, status_before=status_before,
                              status_after=incident.status if status_before is not None else None,
                              unit_id=unit_id, detail=with_said(detail, said)))


def insert_incident(session: Session, data: IncidentInput, actor: str, now: datetime,
                    district: str | None = None, reported_at: datetime | None = None) -> Incident:
    """``reported_at``: when the caller reported it (a citizen's request time), if before now."""
    created = min(reported_at, now) if reported_at else now
    incident = Incident(category=data.category, sub_category=data.sub_category, priority=data.priority,
                        status="new", source=data.source, description=data.description, address=data.address,
                        district=district, lon=data.lon, lat=data.lat, external_id=data.external_id,
                        created_by=actor, created_at=created, updated_at=now, status_since=created, drill=data.drill)
    session.add(incident)
    session.flush()
    add_event(session, incident, "created", actor,
              say("created from {source}: P{priority} {kind}", source=Term("source", data.source),
                  priority=data.priority, kind=Term("incident_kind", f"{data.category}/{data.sub_category or ''}")),
              created, status_before="", detail={"description": data.description})
    return incident
