"""Dispatch commands (validate() then run()) and the automatic transitions driven by the units.

Every action that changes the world is a command object: ``validate()`` checks the role and the
state and raises ``Refused`` with a reason the dispatcher can read; ``run()`` writes the database
and the audit log in ONE transaction, then publishes the MQTT command (QoS 1). The page and the
REST API call the same commands.

Who may act: services/access/principal.py PERMISSIONS (``admin`` and ``dispatcher``). A ``manager``
may read everything but not dispatch or change incidents; ``display`` is read-only.

Concurrency: a unit is taken with ``UPDATE units SET status='dispatched' ... WHERE unit_id=:id AND
status IN ('available','returning') AND version=:seen``; the incident likewise with its status and
version. Exactly one of two simultaneous dispatches of the same unit changes a row; the other
rolls back and is told who took the unit. It holds across processes, on SQLite (one writer at a
time) and on PostgreSQL (the second UPDATE waits for the row lock, then re-checks its WHERE).

The ingest role drives the rest (the durable reactions of services/reactions.py, on the stored
reports, replies and Vehicle states, and the ``escalate_overdue`` job): citizen reports become incidents; cmdexe replies move incident and unit
(accepted -> en route, arrived -> on scene, cleared -> resolved / returning, rejected -> back to
the queue); a returning unit whose Vehicle state says parked/patrolling is available again; a
dispatch not accepted within ``accept_timeout_s`` (30 s) escalates and goes back to the queue.
"""
from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

import services.dispatch_layers  # noqa: F401  (registers the incidents and units map layers)
from services.audit import record
from services.access.principal import Principal
from services.city import City
from services.commands import Command, Refused
from services.config import Settings
from services.db import session_scope
from services.i18n import Said, Term, _, say
from services.incidents import (
    ACTIVE_STATUSES,
    DISPOSITIONS,
    QUEUE_STATUSES,
    RESOLVABLE_STATUSES,
    TRANSITIONS,
    IncidentInput,
    IncidentView,
    add_event,
    get_incident,
    input_from_report,
    insert_incident,
    iso,
    read_category,
    read_incident_input,
    read_priority,
    snapshot,
    view_of,
)
from services.models import Incident, ResponseUnit, UnitCommand, utcnow
from services.routing import SpeedPolicy
from services.telemetry import CitizenReportIn, CommandReplyIn, ObservationIn
from services.unit_fixes import moves_unit
from services.units import (
    DISPATCHABLE,
    Candidate,
    get_unit,
    recommend_units,
    seed_units,
)
from services.vocabulary import INCIDENT_STATUS_LABELS, UNIT_STATUS_LABELS, incident_kind

__all__ = ["CreateIncident", "UpdateIncident", "ResolveIncident", "DispatchUnit", "ReturnUnit", "Refused",
           "DispatchContext", "DispatchConfig", "recommend", "escalate_overdue", "apply_reply", "apply_replies",
           "incidents_from_reports", "units_back_home", "schedule", "seed_units", "assigned_route"]  # seed_units: for services.runtime

log = logging.getLogger("cityops.dispatch")

HOME_SERVICE_STATUSES = ("parked", "patrolling")


@dataclass(frozen=True)
class DispatchConfig:
    accept_timeout_s: float = 30.0  # a unit must accept a dispatch within this
    check_every_s: float = 3.0  # how often the ingest role looks for overdue dispatches

    @classmethod
    def from_env(cls, env: dict | None = None) -> DispatchConfig:
        env = os.environ if env is None else env
        return cls(accept_timeout_s=float(env.get("CITYOPS_DISPATCH_ACCEPT_TIMEOUT_S") or 30.0),
                   check_every_s=float(env.get("CITYOPS_DISPATCH_CHECK_S") or 3.0))


@dataclass
class DispatchContext:
    """What commands need from their process: database, city, where to publish, the policies."""

    engine: Engine
    city: City
    topic_root: str
    publish: Callable[[str, dict], bool]
    config: DispatchConfig = field(default_factory=DispatchConfig.from_env)
    policy: SpeedPolicy = field(default_factory=SpeedPolicy.from_env)

    @classmethod
    def of(cls, runtime, **overrides) -> DispatchContext:
        settings: Settings = runtime.settings

        def publish(topic: str, payload: dict) -> bool:
            from services.mqtt_publisher import publisher_for

            return publisher_for(settings.mqtt).publish(topic, payload, qos=1)

        values = dict(engine=runtime.engine, city=runtime.city, topic_root=settings.topic_root, publish=publish)
        values.update(overrides)
        return cls(**values)

    def cmd_topic(self, unit_id: str) -> str:
        return f"{self.topic_root}/units/{unit_id}/cmd"


def _unit_busy_reason(engine: Engine, unit_id: str) -> str:
    unit = get_unit(engine, unit_id)
    if unit is None:
        return _("unit {unit_id} does not exist", unit_id=unit_id)
    status = (_(UNIT_STATUS_LABELS[unit.status]) if unit.status in UNIT_STATUS_LABELS else unit.status).lower()
    since = unit.status_since.strftime("%H:%M:%S")
    if unit.incident_id:
        return _("{name} ({unit_id}) is not available: {status} to incident #{incident_id} since {since} UTC",
                 name=unit.name, unit_id=unit_id, status=status, incident_id=unit.incident_id, since=since)
    return _("{name} ({unit_id}) is not available: {status} since {since} UTC", name=unit.name, unit_id=unit_id,
             status=status, since=since)


def _new_cmd_id() -> str:
    return uuid.uuid4().hex[:16]


def _command_payload(cmd_id: str, command: str, incident: IncidentView | None, now: datetime,
                     candidate: Candidate | None = None) -> dict:
    """The cmd message of SPEC section 4."""
    payload: dict[str, Any] = {"cmdId": cmd_id, "command": command,
                               "incidentId": str(incident.id) if incident else None, "issuedAt": iso(now)}
    if incident is not None and command == "dispatch":
        payload["destination"] = {"type": "Point", "coordinates": [incident.lon, incident.lat]}
    if candidate is not None:
        payload["route"] = candidate.route.geojson()
        payload["etaSeconds"] = round(candidate.route.eta_seconds, 1)
    return payload


def _publish_recorded(ctx: DispatchContext, unit_id: str, payload: dict) -> bool:
    """Publishes a recorded command and notes whether the broker took it."""
    try:
        published = ctx.publish(ctx.cmd_topic(unit_id), payload)
    except Exception:  # the broker's absence must not turn a committed dispatch into an error page
        log.exception("publishing command %s to %s failed", payload.get("cmdId"), unit_id)
        published = False
    with ctx.engine.begin() as connection:
        connection.execute(update(UnitCommand).where(UnitCommand.cmd_id == payload["cmdId"])
                           .values(published=published))
    if not published:
        log.warning("command %s to %s was not confirmed by the broker", payload["cmdId"], unit_id)
    return published


def _queue_after_release(ctx: DispatchContext, session: Session, incident: Incident, unit_id: str, now: datetime,
                         actor: str, kind: str, message: Said, escalate: bool) -> None:
    """The incident goes back to the queue without its unit (escalated when the unit failed it)."""
    before = snapshot(incident)
    status_before = incident.status
    incident.status, incident.unit_id, incident.status_since, incident.updated_at = "new", None, now, now
    incident.version += 1
    if escalate:
        incident.escalated, incident.escalation_reason = True, message.english
    add_event(session, incident, kind, actor, message, now, status_before=status_before, unit_id=unit_id)
    record(session, actor, f"incident.{kind}", f"incident:{incident.id}", before, snapshot(incident))


# ---------------------------------------------------------------- recommendation (read only)

def failed_units(engine: Engine, incident_id: int) -> set[str]:
    """Units that did not accept (timed out) or refused this incident: not recommended for it again."""
    with engine.connect() as connection:
        rows = connection.execute(select(UnitCommand.unit_id).where(
            UnitCommand.incident_id == incident_id, UnitCommand.command == "dispatch",
            UnitCommand.state.in_(("timed_out", "rejected"))))
        return {row.unit_id for row in rows}


def recommend(ctx: DispatchContext, incident: IncidentView, now: datetime | None = None) -> list[Candidate]:
    return recommend_units(ctx.engine, ctx.city, incident, now=now, policy=ctx.policy,
                           exclude=failed_units(ctx.engine, incident.id))


# ---------------------------------------------------------------- operator commands

@dataclass
class CreateIncident(Command):
    ctx: DispatchContext
    actor: Principal
    body: dict | IncidentInput
    default_source: str = "api"
    data: IncidentInput | None = None

    permission = "incident.create"

    @property
    def principal(self) -> Principal:
        return self.actor

    def check(self) -> None:
        if isinstance(self.body, IncidentInput):
            self.data = self.body
            return
        self.data = read_incident_input(self.body, self.ctx.city.is_in_area, self.default_source)

    def run(self, now: datetime | None = None) -> IncidentView:
        now = now or utcnow()
        with session_scope(self.ctx.engine) as session:
            incident = insert_incident(session, self.data, self.actor.name, now,
                                       self.ctx.city.district_of(self.data.lon, self.data.lat))
            record(session, self.actor.name, "incident.create", f"incident:{incident.id}", None, snapshot(incident))
            view = view_of(incident)
        return view


@dataclass
class UpdateIncident(Command):
    """PATCH: priority, category/subCategory, description, address, and operator status changes
    (resolved, closed, cancelled, on_scene by radio). Cancelling or resolving recalls the unit."""

    ctx: DispatchContext
    actor: Principal
    incident_id: int
    body: dict
    changes: dict = field(default_factory=dict)
    current: IncidentView | None = None

    FIELDS = ("priority", "severity", "category", "subCategory", "description", "address", "status", "version")

    permission = "incident.update"

    @property
    def principal(self) -> Principal:
        return self.actor

    def check(self) -> None:
        if not isinstance(self.body, dict) or not self.body:
            raise Refused.invalid(_("send a JSON object with the fields to change"), "body")
        unknown = sorted(set(self.body) - set(self.FIELDS))
        if unknown:
            raise Refused.invalid(_("cannot change {fields}; changeable: {changeable}",
                                    fields=", ".join(unknown), changeable=", ".join(self.FIELDS[:-1])), unknown[0])
        self.current = get_incident(self.ctx.engine, self.incident_id)
        if self.current is None:
            raise Refused.not_found(_("no incident #{incident_id}", incident_id=self.incident_id), "incident_id")
        if "version" in self.body and self.body["version"] != self.current.version:
            raise Refused.conflict("changed",
                    _("incident #{incident_id} changed meanwhile (version {version}); reload it",
                      incident_id=self.incident_id, version=self.current.version), "version")
        raw_priority = self.body.get("priority", self.body.get("severity"))
        if raw_priority is not None:
            self.changes["priority"] = read_priority(raw_priority)
        if "category" in self.body or "subCategory" in self.body:
            category, sub = read_category(self.body.get("category", self.current.category),
                                          self.body.get("subCategory", None if "category" in self.body
                                                        else self.current.sub_category))
            self.changes.update(category=category, sub_category=sub)
        for name in ("description", "address"):
            if name in self.body:
                value = self.body[name]
                if value is not None and (not isinstance(value, str) or len(value) > 2000):
                    raise Refused.invalid(_("{name} must be text of at most 2000 characters", name=name), name)
                self.changes[name] = value
        status = self.body.get("status")
        if status is not None and status != self.current.status:
            allowed = TRANSITIONS.get(self.current.status, ())
            if status not in allowed:
                raise Refused.conflict("invalid_transition",
                              _("incident #{incident_id} is {status}; it can become {choices} by hand, not {wanted}",
                                incident_id=self.incident_id,
                                status=_(INCIDENT_STATUS_LABELS[self.current.status]).lower(),
                                choices=", ".join(allowed) or _("nothing else"), wanted=repr(status)),
                              "status")
            self.changes["status"] = status

    def run(self, now: datetime | None = None) -> IncidentView:
        now = now or utcnow()
        recalls: list[tuple[str, dict]] = []
        with session_scope(self.ctx.engine) as session:
            taken = session.execute(update(Incident).where(Incident.id == self.incident_id,
                                                           Incident.version == self.current.version)
                                    .values(version=Incident.version + 1)).rowcount
            if taken != 1:
                raise Refused.conflict("changed", _("incident #{incident_id} changed meanwhile; reload and retry",
                                                    incident_id=self.incident_id))
            incident = session.get(Incident, self.incident_id)
            session.refresh(incident)
            before = {**snapshot(incident), "version": self.current.version}
            status_before = incident.status
            for name, value in self.changes.items():
                setattr(incident, name, value)
            incident.updated_at = now
            new_status = self.changes.get("status")
            if new_status:
                incident.status_since = now
                if new_status == "resolved":
                    incident.resolved_at = now
                elif new_status == "closed":
                    incident.closed_at = now
                elif new_status == "on_scene":
                    incident.on_scene_at = now
                if new_status in ("resolved", "cancelled"):
                    recalls = _release_units(session, incident, self.actor.name, now, "cancel")
            described = ", ".join(f"{k}={v}" for k, v in self.changes.items())
            add_event(session, incident, "status" if new_status else "updated", self.actor.name,
                      say("changed {changes}", changes=described), now,
                      status_before=status_before if new_status else None,
                      unit_id=incident.unit_id)
            record(session, self.actor.name, "incident.update", f"incident:{incident.id}", before, snapshot(incident))
            view = view_of(incident)
        for unit_id, payload in recalls:
            _publish_recorded(self.ctx, unit_id, payload)
        return view


def _release_units(session: Session, incident: Incident, actor: str, now: datetime,
                   command: str) -> list[tuple[str, dict]]:
    """Every unit still on ``incident`` goes back to base (returning, then available once parked, as after a
    clear): its open command is superseded and ``command`` (cancel | return) recorded for it. Returns the
    (unit, payload) pairs to publish after the commit."""
    incident.unit_id = None
    units = session.execute(select(ResponseUnit).where(ResponseUnit.incident_id == incident.id)).scalars().all()
    released = []
    for unit in units:
        before = {"status": unit.status, "incident_id": unit.incident_id}
        cmd_id = _new_cmd_id()
        session.execute(update(UnitCommand).where(UnitCommand.unit_id == unit.unit_id,
                                                  UnitCommand.incident_id == incident.id,
                                                  UnitCommand.state.in_(("sent", "accepted", "arrived")))
                        .values(state="superseded"))
        unit.status, unit.status_since, unit.incident_id, unit.command_id = "returning", now, None, cmd_id
        unit.version += 1
        payload = _command_payload(cmd_id, command, view_of(incident), now)
        session.add(UnitCommand(cmd_id=cmd_id, unit_id=unit.unit_id, incident_id=incident.id, command=command,
                                issued_by=actor, issued_at=now, payload=payload))
        record(session, actor, "unit.recall", f"unit:{unit.unit_id}", before,
               {"status": unit.status, "incident_id": None})
        released.append((unit.unit_id, payload))
    return released


@dataclass
class ResolveIncident(Command):
    """Closes a handled incident with the operator's words (``outcome``) and a disposition code
    (services/incidents.py DISPOSITIONS), releasing its units. Closed and cancelled incidents are final."""

    ctx: DispatchContext
    actor: Principal
    incident_id: int
    body: Any
    outcome: str = ""
    disposition: str = ""
    current: IncidentView | None = None

    permission = "incident.resolve"

    @property
    def principal(self) -> Principal:
        return self.actor

    def check(self) -> None:
        if not isinstance(self.body, dict):
            raise Refused.invalid(_("send a JSON object with outcome and disposition"), "body")
        outcome, disposition = self.body.get("outcome"), self.body.get("disposition")
        if not isinstance(outcome, str) or not outcome.strip():
            raise Refused.invalid(_("say in words how the incident ended (outcome)"), "outcome")
        if len(outcome) > 2000:
            raise Refused.invalid(_("the outcome must be at most 2000 characters"), "outcome")
        if disposition not in DISPOSITIONS:
            raise Refused.invalid(_("disposition must be one of {choices}",
                                    choices=', '.join(DISPOSITIONS)), "disposition")
        self.outcome, self.disposition = outcome.strip(), disposition
        self.current = get_incident(self.ctx.engine, self.incident_id)
        if self.current is None:
            raise Refused.not_found(_("no incident #{incident_id}", incident_id=self.incident_id), "incident_id")
        if self.current.status not in RESOLVABLE_STATUSES:
            raise Refused.conflict("invalid_state", _("incident #{incident_id} is already {status}; nothing to resolve",
                                                      incident_id=self.incident_id,
                                                      status=_(INCIDENT_STATUS_LABELS[self.current.status]).lower()),
                                   "status")

    def run(self, now: datetime | None = None) -> IncidentView:
        now = now or utcnow()
        with session_scope(self.ctx.engine) as session:
            moved = session.execute(update(Incident).where(Incident.id == self.incident_id,
                                                           Incident.status.in_(RESOLVABLE_STATUSES))
                                    .values(version=Incident.version + 1)).rowcount
            if moved != 1:
                fresh = get_incident(self.ctx.engine, self.incident_id)
                raise Refused.conflict("invalid_state",
                        _("incident #{incident_id} changed meanwhile: it is now {status}",
                          incident_id=self.incident_id,
                          status=_(INCIDENT_STATUS_LABELS[fresh.status]).lower()), "status")
            incident = session.get(Incident, self.incident_id)
            session.refresh(incident)
            before, status_before = snapshot(incident), incident.status
            releases = _release_units(session, incident, self.actor.name, now, "return")
            incident.status, incident.status_since, incident.updated_at = "closed", now, now
            incident.resolved_at, incident.closed_at = incident.resolved_at or now, now
            resolution = {"outcome": self.outcome, "disposition": self.disposition}
            released = ", ".join(unit_id for unit_id, _ in releases)
            disposition = Term("disposition", self.disposition)
            add_event(session, incident, "resolved", self.actor.name,
                      say("resolved: {disposition} — {outcome} ({units} released)", disposition=disposition,
                          outcome=self.outcome, units=released) if released else
                      say("resolved: {disposition} — {outcome}", disposition=disposition, outcome=self.outcome),
                      now, status_before=status_before,
                      detail={**resolution, "released": [unit_id for unit_id, _ in releases]})
            record(session, self.actor.name, "incident.resolve", f"incident:{incident.id}", before,
                   {**snapshot(incident), **resolution})
            view = view_of(incident)
        for unit_id, payload in releases:
            _publish_recorded(self.ctx, unit_id, payload)
        return view

@dataclass(frozen=True)
class DispatchResult:
    incident: IncidentView
    unit_id: str
    cmd_id: str
    eta_seconds: float
    distance_m: float
    published: bool
    payload: dict

    def as_json(self) -> dict:
        return {"incident": self.incident.as_json(), "unit_id": self.unit_id, "cmd_id": self.cmd_id,
                "eta_seconds": round(self.eta_seconds, 1), "distance_m": round(self.distance_m, 1),
                "published": self.published, "command": self.payload}


@dataclass
class DispatchUnit(Command):
    """Assigns a unit (the top recommendation when ``unit_id`` is None) and sends it the cmd."""

    ctx: DispatchContext
    actor: Principal
    incident_id: int
    unit_id: str | None = None
    incident: IncidentView | None = None
    candidate: Candidate | None = None

    permission = "incident.dispatch"

    @property
    def principal(self) -> Principal:
        return self.actor

    @property
    def _kind(self) -> str:
        """What happened, in words, for a refusal ("car accident")."""
        return incident_kind(self.incident.category, self.incident.sub_category).lower()

    def check(self) -> None:
        engine = self.ctx.engine
        self.incident = get_incident(engine, self.incident_id)
        if self.incident is None:
            raise Refused.not_found(_("no incident #{incident_id}", incident_id=self.incident_id), "incident_id")
        if self.incident.status not in QUEUE_STATUSES:
            holder = f" ({self.incident.unit_id})" if self.incident.unit_id else ""
            raise Refused.conflict("invalid_state", _("incident #{incident_id} is {status}{holder}; only a new "
                                                      "incident can be dispatched",
                                                      incident_id=self.incident_id,
                                                      status=_(INCIDENT_STATUS_LABELS[self.incident.status]).lower(),
                                                      holder=holder))
        if self.unit_id is not None:
            unit = get_unit(engine, self.unit_id)
            if unit is None:
                raise Refused.not_found(_("no unit {unit_id}", unit_id=repr(self.unit_id)), "unit_id")
            from services.incidents import can_handle

            if not can_handle(unit.capabilities, self.incident.category, self.incident.sub_category):
                handles = ", ".join(incident_kind(*c.partition("/")[::2]).lower() for c in unit.capabilities)
                raise Refused.conflict("not_capable",
                        _("{name} ({unit_id}) cannot handle {kind} incidents (it handles {handles})",
                          name=unit.name, unit_id=unit.unit_id, kind=self._kind,
                          handles=handles), "unit_id")
            if not unit.dispatchable:
                raise Refused.conflict("unit_unavailable", _unit_busy_reason(engine, unit.unit_id), "unit_id")
        candidates = recommend(self.ctx, self.incident)
        if self.unit_id is None:
            if not candidates:
                raise Refused.conflict("no_unit", _("no available unit can handle {kind} incidents right now",
                                                    kind=self._kind))
            self.candidate = candidates[0]
            self.unit_id = self.candidate.unit.unit_id
        else:
            self.candidate = next((c for c in candidates if c.unit.unit_id == self.unit_id), None)
            if self.candidate is None:
                raise Refused.conflict("unreachable", _("{unit_id} cannot reach the incident by road, or did not "
                                                        "accept it before", unit_id=self.unit_id), "unit_id")

    def run(self, now: datetime | None = None) -> DispatchResult:
        now = now or utcnow()
        unit_seen, incident = self.candidate.unit, self.incident
        cmd_id = _new_cmd_id()
        payload = _command_payload(cmd_id, "dispatch", incident, now, self.candidate)
        try:
            with session_scope(self.ctx.engine) as session:
                taken = session.execute(
                    update(ResponseUnit)
                    .where(ResponseUnit.unit_id == self.unit_id, ResponseUnit.status.in_(DISPATCHABLE),
                           ResponseUnit.version == unit_seen.version)
                    .values(status="dispatched", status_since=now, incident_id=incident.id, command_id=cmd_id,
                            version=ResponseUnit.version + 1)).rowcount
                if taken != 1:
                    raise _Lost("unit")
                moved = session.execute(
                    update(Incident)
                    .where(Incident.id == incident.id, Incident.status.in_(QUEUE_STATUSES),
                           Incident.version == incident.version)
                    .values(status="dispatched", unit_id=self.unit_id, dispatched_at=now, status_since=now,
                            updated_at=now, escalated=False, version=Incident.version + 1)).rowcount
                if moved != 1:
                    raise _Lost("incident")
                session.add(UnitCommand(cmd_id=cmd_id, unit_id=self.unit_id, incident_id=incident.id,
                                        command="dispatch", issued_by=self.actor.name, issued_at=now,
                                        eta_seconds=self.candidate.eta_seconds,
                                        distance_m=self.candidate.route.distance_m, payload=payload))
                row = session.get(Incident, incident.id)
                session.refresh(row)
                add_event(session, row, "dispatched", self.actor.name,
                          say("{unit} ({unit_id}) dispatched, ETA {eta}, {km:.2f} km", unit=unit_seen.name,
                              unit_id=self.unit_id, eta=Term("duration", self.candidate.eta_seconds),
                              km=self.candidate.route.distance_m / 1000), now, status_before=incident.status,
                          unit_id=self.unit_id, detail={"cmdId": cmd_id, "rank": self.candidate.rank})
                record(session, self.actor.name, "incident.dispatch", f"incident:{incident.id}",
                       {"status": incident.status, "unit_id": None},
                       {"status": "dispatched", "unit_id": self.unit_id, "cmdId": cmd_id})
                record(session, self.actor.name, "unit.dispatch", f"unit:{self.unit_id}",
                       {"status": unit_seen.status, "incident_id": None},
                       {"status": "dispatched", "incident_id": incident.id})
                view = view_of(row)
        except _Lost as lost:
            if lost.what == "unit":
                raise Refused.conflict("unit_unavailable", _unit_busy_reason(self.ctx.engine, self.unit_id),
                              "unit_id") from None
            fresh = get_incident(self.ctx.engine, incident.id)
            status = _(INCIDENT_STATUS_LABELS[fresh.status]).lower()
            raise Refused.conflict("incident_changed", _(
                "incident #{id} changed meanwhile: it is now {status} with {unit_id}", id=incident.id, status=status,
                unit_id=fresh.unit_id) if fresh.unit_id else _(
                "incident #{id} changed meanwhile: it is now {status}", id=incident.id, status=status)) from None
        published = _publish_recorded(self.ctx, self.unit_id, payload)
        return DispatchResult(view, self.unit_id, cmd_id, self.candidate.eta_seconds,
                              self.candidate.route.distance_m, published, payload)


ON_THE_WAY = ("dispatched", "en_route")  # a unit recalled from these has not handled its incident yet


def _leave_scene(session: Session, incident: Incident, unit: ResponseUnit, now: datetime, actor: str) -> None:
    """The unit goes; the incident it handled stays on scene, for the dispatcher to resolve."""
    before = snapshot(incident)
    incident.unit_id, incident.updated_at = None, now
    incident.version += 1
    add_event(session, incident, "unit_left", actor,
              say("{unit} ({unit_id}) sent back to base from the scene by {actor}; the incident stays on scene until "
                  "resolved", unit=unit.name, unit_id=unit.unit_id, actor=actor), now, unit_id=unit.unit_id)
    record(session, actor, "incident.unit_left", f"incident:{incident.id}", before, snapshot(incident))


class _Lost(Exception):
    def __init__(self, what: str):
        super().__init__(what)
        self.what = what


@dataclass
class ReturnUnit(Command):
    """Sends a unit back to base. A unit recalled before it reached its incident puts the incident back in the
    queue; a unit leaving the scene leaves the incident on scene (handled, to be resolved); an incident that
    is resolved, closed or served by another unit is not touched."""

    ctx: DispatchContext
    actor: Principal
    unit_id: str
    seen_version: int | None = None

    permission = "unit.return"

    @property
    def principal(self) -> Principal:
        return self.actor

    def check(self) -> None:
        unit = get_unit(self.ctx.engine, self.unit_id)
        if unit is None:
            raise Refused.not_found(_("no unit {unit_id}", unit_id=repr(self.unit_id)), "unit_id")
        if unit.status in ("returning", "out_of_service"):
            raise Refused.conflict("invalid_state", _("{name} is already {status}",
                                                      name=unit.name,
                                                      status=_(UNIT_STATUS_LABELS[unit.status]).lower()))
        self.seen_version = unit.version

    def run(self, now: datetime | None = None) -> dict:
        now = now or utcnow()
        cmd_id = _new_cmd_id()
        with session_scope(self.ctx.engine) as session:
            unit = session.get(ResponseUnit, self.unit_id)
            taken = session.execute(update(ResponseUnit).where(ResponseUnit.unit_id == self.unit_id,
                                                               ResponseUnit.version == self.seen_version)
                                    .values(version=ResponseUnit.version + 1)).rowcount
            if taken != 1:
                raise Refused.conflict("changed", _("{unit_id} changed meanwhile; look again and retry",
                                                    unit_id=self.unit_id))
            session.refresh(unit)
            before = {"status": unit.status, "incident_id": unit.incident_id}
            incident = session.get(Incident, unit.incident_id) if unit.incident_id else None
            serving = incident is not None and incident.unit_id == self.unit_id
            command = "cancel" if serving and incident.status in ON_THE_WAY else "return"
            if command == "cancel":
                _queue_after_release(self.ctx, session, incident, self.unit_id, now, self.actor.name, "recalled",
                                     say("{unit} recalled by {actor}; back in the queue", unit=unit.name,
                                         actor=self.actor.name), escalate=False)
            elif serving and incident.status == "on_scene":
                _leave_scene(session, incident, unit, now, self.actor.name)
            session.execute(update(UnitCommand).where(UnitCommand.unit_id == self.unit_id,
                                                      UnitCommand.state.in_(("sent", "accepted", "arrived")))
                            .values(state="superseded"))
            payload = _command_payload(cmd_id, command, view_of(incident) if incident else None, now)
            unit.status, unit.status_since, unit.incident_id, unit.command_id = "returning", now, None, cmd_id
            session.add(UnitCommand(cmd_id=cmd_id, unit_id=self.unit_id, incident_id=incident.id if incident else None,
                                    command=command, issued_by=self.actor.name, issued_at=now, payload=payload))
            record(session, self.actor.name, f"unit.{command}", f"unit:{self.unit_id}", before,
                   {"status": "returning", "incident_id": None})
        published = _publish_recorded(self.ctx, self.unit_id, payload)
        return {"unit_id": self.unit_id, "command": command, "cmd_id": cmd_id, "published": published}


# ---------------------------------------------------------------- driven by the units (ingest role)

SYSTEM = "system"
# The demo's history (services/simulator/history.py) dispatches in the past as this principal; its units'
# replies travel with the dispatch, so the acceptance timeout (counted from a past issuedAt) never applies.
HISTORY_DISPATCHER = "simulator: history dispatcher"


def incidents_from_reports(ctx: DispatchContext, reports: Sequence[CitizenReportIn], now: datetime | None = None,
                           session: Session | None = None) -> int:
    """Opens an incident for each report, once (its ``external_id`` is unique); in ``session`` when
    given (the reactions: with their cursor), else one transaction per report."""
    if session is None:
        created = 0
        for report in reports:
            try:
                with session_scope(ctx.engine) as own:
                    created += incidents_from_reports(ctx, (report,), now, own)
            except IntegrityError:  # the same report, opened at the same moment elsewhere
                continue
        return created
    created = 0
    for report in reports:
        data = input_from_report(report)
        if report.closed or not ctx.city.is_in_area(data.lon, data.lat):
            continue  # a request closed before it was ever seen needs no response
        if session.execute(select(Incident.id).where(Incident.external_id == data.external_id)).first():
            continue  # the same report replayed: its incident exists already
        incident = insert_incident(session, data, "citizen-report", now or utcnow(),
                                   ctx.city.district_of(data.lon, data.lat), report.requested_at)
        record(session, "citizen-report", "incident.create", f"incident:{incident.id}", None, snapshot(incident))
        created += 1
    return created


def incidents_follow_reports(session: Session, reports: tuple[CitizenReportIn, ...],
                             now: datetime | None = None) -> int:
    """A known request received again with a later status updates the incident it opened (never a new one).

    Closed at its source while still in the queue: the incident is cancelled (no response needed).
    Once a unit is on it, the dispatcher decides: the change goes on the incident's timeline.
    Runs in the transaction that stores the update (services/store.py), so it is as durable as the
    message: a report updated in place has no new row for the reactions' cursor to find.
    """
    updated = 0
    for report in reports:
        now = now or utcnow()
        # locked (PostgreSQL) so that a dispatcher's change in flight sees a new version and reloads
        incident = session.execute(select(Incident).where(
            Incident.external_id == input_from_report(report).external_id).with_for_update()).scalar_one_or_none()
        if incident is None:  # it opened none (outside the city, or closed when first seen)
            continue
        before, status_before = snapshot(incident), incident.status
        cancel = report.closed and incident.status in QUEUE_STATUSES
        if cancel:
            incident.status, incident.status_since = "cancelled", now
        incident.updated_at, incident.version = now, incident.version + 1
        status = Term("report_status", report.status or "updated")
        message = (say("the citizen request was {status} at its source; cancelled, no response needed{updated}",
                       status=status, updated=_updated_at_source(report)) if cancel else
                   say("the citizen request was {status} at its source{updated}", status=status,
                       updated=_updated_at_source(report)))
        add_event(session, incident, "status" if cancel else "updated", "citizen-report", message, now,
                  status_before=status_before if cancel else None, unit_id=incident.unit_id)
        record(session, "citizen-report", "incident.update", f"incident:{incident.id}", before, snapshot(incident))
        updated += 1
    return updated


def _updated_at_source(report) -> Said | str:
    return say(" (updated {at})", at=iso(report.updated_at)) if report.updated_at else ""


def apply_reply(ctx: DispatchContext, reply: CommandReplyIn, session: Session | None = None) -> str | None:
    """Moves unit and incident on a cmdexe reply; returns what happened (None: nothing to do). In
    ``session`` when given (the reactions: with their cursor), else in a transaction of its own."""
    if session is None:
        with session_scope(ctx.engine) as own:
            return apply_reply(ctx, reply, own)
    actor = f"unit:{reply.unit_id}"
    now = reply.received_at
    # the rows are locked and read afresh: a command that changed them since (a dispatcher resolving the
    # incident while the unit's reply was on its way) is seen, never overwritten with the older state
    locked = {"with_for_update": True, "populate_existing": True}
    command = session.get(UnitCommand, reply.cmd_id, **locked)
    if command is None or command.unit_id != reply.unit_id:
        return None
    if command.command != "dispatch":
        if reply.result == "accepted" and command.state == "sent":
            command.state, command.answered_at = "accepted", reply.at
        return None
    incident = session.get(Incident, command.incident_id, **locked) if command.incident_id else None
    if command.state in ("timed_out", "superseded", "rejected", "cleared"):
        if incident is not None and reply.result == "accepted" and command.state == "timed_out":
            add_event(session, incident, "late_reply", actor,
                      say("{unit_id} accepted after the timeout; ignored (a cancel was sent)", unit_id=reply.unit_id),
                      now, unit_id=reply.unit_id)
        return None
    steps = {"accepted": ("accepted", "en_route", ("dispatched",), "en_route", ("dispatched",)),
             "arrived": ("arrived", "on_scene", ("dispatched", "en_route"), "on_scene", ("dispatched", "en_route")),
             "cleared": ("cleared", "returning", ("dispatched", "en_route", "on_scene"), "resolved",
                         ("dispatched", "en_route", "on_scene"))}
    if reply.result == "rejected":
        command.state, command.answered_at = "rejected", reply.at
        _free_unit(session, reply.unit_id, reply.cmd_id, "available", now)
        if incident is not None and incident.unit_id == reply.unit_id and incident.status in ACTIVE_STATUSES:
            _queue_after_release(ctx, session, incident, reply.unit_id, now, actor, "escalated",
                                 say("{unit_id} rejected the dispatch; back in the queue", unit_id=reply.unit_id),
                                 escalate=True)
        return "rejected"
    state, unit_status, unit_from, incident_status, incident_from = steps[reply.result]
    command.state, command.answered_at = state, reply.at
    unit_values = {"status": unit_status, "status_since": now, "version": ResponseUnit.version + 1}
    if unit_status == "returning":
        unit_values.update(incident_id=None, command_id=None)
    session.execute(update(ResponseUnit).where(ResponseUnit.unit_id == reply.unit_id,
                                               ResponseUnit.command_id == reply.cmd_id,
                                               ResponseUnit.status.in_(unit_from)).values(**unit_values))
    if incident is not None and incident.unit_id == reply.unit_id and incident.status in incident_from:
        status_before = incident.status
        before = snapshot(incident)
        incident.status, incident.status_since, incident.updated_at = incident_status, now, now
        incident.version += 1
        if incident_status == "on_scene":
            incident.on_scene_at = now
        if incident_status == "resolved":
            incident.resolved_at = now
        add_event(session, incident, "status", actor,
                  say("{unit_id}: {result}", unit_id=reply.unit_id, result=Term("unit_reply", reply.result)), now,
                  status_before=status_before, unit_id=reply.unit_id, detail={"cmdId": reply.cmd_id})
        record(session, actor, f"incident.{reply.result}", f"incident:{incident.id}", before, snapshot(incident))
    return reply.result


def _free_unit(session: Session, unit_id: str, cmd_id: str, status: str, now: datetime) -> None:
    session.execute(update(ResponseUnit).where(ResponseUnit.unit_id == unit_id, ResponseUnit.command_id == cmd_id)
                    .values(status=status, status_since=now, incident_id=None, command_id=None,
                            version=ResponseUnit.version + 1))


def units_back_home(ctx: DispatchContext, observations: Sequence[ObservationIn], now: datetime | None = None,
                    session: Session | None = None) -> int:
    """A returning unit is available again once its own state says parked (or patrolling)."""
    home = {o.device_id for o in observations if o.entity_type == "Vehicle" and moves_unit(o)
            and (o.values or {}).get("serviceStatus") in HOME_SERVICE_STATUSES}
    if not home:
        return 0
    statement = (update(ResponseUnit).where(ResponseUnit.unit_id.in_(sorted(home)), ResponseUnit.status == "returning")
                 .values(status="available", status_since=now or utcnow(), command_id=None,
                         version=ResponseUnit.version + 1))
    if session is not None:
        return session.execute(statement).rowcount
    with ctx.engine.begin() as connection:
        return connection.execute(statement).rowcount


def escalate_overdue(ctx: DispatchContext, now: datetime | None = None, timeout_s: float | None = None) -> list[int]:
    """Dispatches not accepted in time: escalate, free the unit, cancel its command, requeue the incident."""
    now = now or utcnow()
    timeout_s = ctx.config.accept_timeout_s if timeout_s is None else timeout_s
    with ctx.engine.connect() as connection:
        overdue = connection.execute(select(UnitCommand.cmd_id, UnitCommand.unit_id, UnitCommand.incident_id).where(
            UnitCommand.command == "dispatch", UnitCommand.state == "sent",
            UnitCommand.issued_at <= now - timedelta(seconds=timeout_s),
            UnitCommand.issued_by != HISTORY_DISPATCHER)).all()
    escalated: list[int] = []
    for cmd_id, unit_id, incident_id in overdue:
        cancel_id = _new_cmd_id()
        fresh = _fresh_recommendation(ctx, incident_id, unit_id, now) if incident_id else None
        with session_scope(ctx.engine) as session:
            # conditional: only one ingest process (or run) handles each overdue command
            if session.execute(update(UnitCommand).where(UnitCommand.cmd_id == cmd_id, UnitCommand.state == "sent")
                               .values(state="timed_out", answered_at=now)).rowcount != 1:
                continue
            _free_unit(session, unit_id, cmd_id, "available", now)
            incident = session.get(Incident, incident_id) if incident_id else None
            payload = _command_payload(cancel_id, "cancel", view_of(incident) if incident else None, now)
            session.add(UnitCommand(cmd_id=cancel_id, unit_id=unit_id, incident_id=incident_id, command="cancel",
                                    issued_by=SYSTEM, issued_at=now, payload=payload))
            requeued = incident is not None and incident.unit_id == unit_id and incident.status == "dispatched"
            if requeued:
                _queue_after_release(ctx, session, incident, unit_id, now, SYSTEM, "escalated",
                                     say("{unit_id} did not accept within {seconds:g} s; escalated, back in the queue",
                                         unit_id=unit_id, seconds=timeout_s), escalate=True)
                message, candidates = fresh
                add_event(session, incident, "recommendation", SYSTEM, message, now, detail={"candidates": candidates})
                escalated.append(incident_id)
        _publish_recorded(ctx, unit_id, payload)
    return escalated


def _fresh_recommendation(ctx: DispatchContext, incident_id: int, silent_unit: str,
                          now: datetime) -> tuple[Said, list[str]]:
    incident = get_incident(ctx.engine, incident_id)
    candidates = [] if incident is None else recommend_units(
        ctx.engine, ctx.city, incident, now=now, policy=ctx.policy,
        exclude=failed_units(ctx.engine, incident_id) | {silent_unit})
    if not candidates:
        return say("fresh recommendation: no available unit can handle it now"), []
    top = candidates[0]
    return (say("fresh recommendation: {unit} ({unit_id}), ETA {eta}", unit=top.unit.name, unit_id=top.unit.unit_id,
                eta=Term("duration", top.eta_seconds)),
            [c.unit.unit_id for c in candidates[:5]])


REPLY_ORDER = {"accepted": 0, "rejected": 0, "arrived": 1, "cleared": 2}


def apply_replies(ctx: DispatchContext, replies: Sequence[CommandReplyIn], session: Session) -> None:
    """Replies in the order the unit gave them (by their time, then accepted < arrived < cleared)."""
    for reply in sorted(replies, key=lambda r: (r.at, REPLY_ORDER.get(r.result, 9))):
        apply_reply(ctx, reply, session)


def schedule(runtime, scheduler, when: Callable[[], bool] = lambda: True) -> None:
    """The overdue-acceptance check, in the ingest role's scheduler (runtime.start_scheduler), run
    by the leading ingest process only (``when``, services/reactions.py)."""
    ctx = DispatchContext.of(runtime)

    def check() -> None:
        if when():
            escalate_overdue(ctx)

    scheduler.add_job(check, "interval", seconds=ctx.config.check_every_s, id="dispatch-escalation",
                      replace_existing=True)


def assigned_route(engine: Engine, incident_id: int) -> list | None:
    """The route (GeoJSON coordinates) sent with the incident's current dispatch command, if any."""
    with engine.connect() as connection:
        row = connection.execute(select(UnitCommand.payload).where(
            UnitCommand.incident_id == incident_id, UnitCommand.command == "dispatch",
            UnitCommand.state.in_(("sent", "accepted", "arrived"))).order_by(UnitCommand.issued_at.desc())).first()
    route = (row.payload or {}).get("route") if row else None
    return route.get("coordinates") if isinstance(route, dict) else None
