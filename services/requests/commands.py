"""Every step of a citizen request is a command (services/commands.py): ``validate()`` checks the
principal's permission, the department it works for, the input and the order's state, raising
``Refused`` with a reason a person can read; ``run()`` writes the order, its fact (event) and the
audit log in one transaction, then publishes the citizen's status update (services/requests/publish.py).
The /requests pages, the REST API and Open311 call the same commands.

Concurrency: ``run()`` re-reads the order locked (PostgreSQL ``FOR UPDATE``; SQLite has one writer)
and changes it only if its status and version are still those ``validate()`` saw: of two agents
assigning the same order at once, the second is told it changed meanwhile.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, ClassVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.access.principal import Principal
from services.audit import record
from services.city import City
from services.commands import Command, Refused
from services.db import session_scope
from services.i18n import N_, Said, Term, _, either, in_language, say, with_said
from services.incidents import IncidentInput, insert_incident, snapshot as incident_snapshot
from services.models import WorkOrder, WorkOrderEvent, utcnow
from services.requests.catalogue import UNCLASSIFIED, Catalogue, Service
from services.requests.orders import (
    ACTIVE_STATUSES,
    OPEN_STATUSES,
    RESOLUTION_PHASE,
    RESPONSE_PHASE,
    SATISFACTION,
    STATUS_LABELS,
    WorkOrderView,
    duplicate_candidates,
    time_limits,
    view_of,
)

MAX_TEXT = 4000  # GeoReport v2: a description of at most 4,000 characters
REQUEST_ID_PREFIX = "CO-"


def NO_PUBLISHER(_topic: str, _payload: dict) -> bool:  # noqa: N802 (a constant that is a function)
    """A process without a broker connection (the simulator's hotline desk): its commands leave the status
    updates to the ingest role's job (services/requests/jobs.py) instead of re-reading them at every step."""
    return False


@dataclass
class RequestContext:
    """What the commands need from their process: database, city, catalogue, time zone, publishing."""

    engine: Engine
    city: City
    catalogue_source: Callable[[], Catalogue]
    timezone: str
    topic_root: str
    publish: Callable[[str, dict], bool] = NO_PUBLISHER

    @property
    def catalogue(self) -> Catalogue:
        return self.catalogue_source()

    @classmethod
    def of(cls, runtime, **overrides) -> "RequestContext":
        from services.requests.catalogue import catalogue_of

        settings = runtime.settings

        def publish(topic: str, payload: dict) -> bool:
            from services.mqtt_publisher import publisher_for

            return publisher_for(settings.mqtt).publish(topic, payload, qos=1, retain=True)

        values = dict(engine=runtime.engine, city=runtime.city, catalogue_source=lambda: catalogue_of(settings),
                      timezone=runtime.timezone, topic_root=settings.topic_root, publish=publish)
        values.update(overrides)
        return cls(**values)


# ---------------------------------------------------------------- writing (inside a command's transaction)

def snapshot(row: WorkOrder) -> dict:
    """The audit log's before/after of an order."""
    return {"status": row.status, "department": row.department, "service_code": row.service_code,
            "transfer_count": row.transfer_count, "merged_into": row.merged_into,
            "satisfaction": row.satisfaction, "version": row.version}


def add_fact(session: Session, row: WorkOrder, kind: str, actor: str, message: Said | str, now: datetime, *,
             status_before: str | None = None, media_url: str | None = None, detail: dict | None = None) -> None:
    """A fact of the order's life, as it stands now (department, service, district at this moment). ``message``
    is stored in English with what was said (a ``Said``, for the screens); a ``str`` is a person's own words."""
    changed = status_before is not None and status_before != row.status
    said = message if isinstance(message, Said) else None
    session.add(WorkOrderEvent(order_id=row.id, at=now, kind=kind, actor=actor,
                               message=said.english if said else message,
                               status_before=status_before, status_after=row.status if status_before is not None
                               else None, department=row.department, service_code=row.service_code,
                               district=row.district, media_url=media_url, detail=with_said(detail, said),
                               published=not changed))



def start_clocks(row: WorkOrder, catalogue: Catalogue, zone: str, start: datetime) -> None:
    response, resolution = time_limits(catalogue, row.service_code)
    row.response_due_at, row.resolution_due_at = response.due(start, zone), resolution.due(start, zone)


def _text(value: Any, name: str, required: bool = False, limit: int = MAX_TEXT) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Refused.invalid(_("{name} is needed", name=name), name)
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise Refused.invalid(_("{name} must be text of at most {limit} characters", name=name, limit=limit), name)
    return value.strip()


def _url(value: Any) -> str | None:
    url = _text(value, "media_url", limit=2000)
    if url is not None and not url.lower().startswith(("http://", "https://")):
        raise Refused.invalid(_("media_url must be an http(s) URL"), "media_url")
    return url


# ---------------------------------------------------------------- intake

@dataclass(frozen=True)
class RequestInput:
    """A citizen's request as any channel gives it (MQTT report, Open311 POST, the hotline form)."""

    service_code: str | None
    lon: float
    lat: float
    source: str
    service_name: str | None = None
    description: str | None = None
    address: str | None = None
    media_url: str | None = None
    contact_name: str | None = None
    contact_email: str | None = None
    contact_phone: str | None = None
    request_id: str | None = None  # the citizen app's own id (MQTT); None: CityOps numbers it
    requested_at: datetime | None = None
    drill: str | None = None


def read_request_input(body: dict, city: City, source: str) -> RequestInput:
    """The fields of a request from a form or an Open311 POST; raises Refused (invalid) naming the field."""
    if not isinstance(body, dict):
        raise Refused.invalid(_("send the request's fields"), "body")
    code = _text(body.get("service_code"), "service_code", required=True, limit=64)
    try:
        lat, lon = float(body.get("lat")), float(body.get("long", body.get("lon")))
    except (TypeError, ValueError):
        raise Refused.invalid(_("give lat and long (WGS84 degrees)"), "lat") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise Refused.invalid(_("lat must be -90..90 and long -180..180"), "lat")
    if not city.is_in_area(lon, lat):
        raise Refused.invalid(_("the location is outside the city's area"), "lat")
    names = " ".join(part for part in (_text(body.get("first_name"), "first_name", limit=100),
                                       _text(body.get("last_name"), "last_name", limit=100)) if part)
    return RequestInput(code, lon, lat, source, description=_text(body.get("description"), "description"),
                        address=_text(body.get("address_string"), "address_string", limit=500),
                        media_url=_url(body.get("media_url")), contact_name=names or None,
                        contact_email=_text(body.get("email"), "email", limit=200),
                        contact_phone=_text(body.get("phone"), "phone", limit=64))


@dataclass(frozen=True)
class Received:
    """What intake made of a request: a work order, or (an emergency service) an incident."""

    request_id: str
    order: WorkOrderView | None = None
    incident_id: int | None = None
    duplicates: tuple[int, ...] = ()  # open orders it may duplicate (offered for merging)

    @property
    def service_notice(self) -> str:
        """The Open311 answer's ``service_notice``, in the caller's language."""
        if self.incident_id is not None:
            return _("An emergency: passed to the dispatchers at once.")
        if self.order and self.order.resolution_due_at:
            return _("{department} answers by {due} UTC.", department=self.order.shown_department or _("The hotline"),
                     due=f"{self.order.resolution_due_at:%Y-%m-%d %H:%M}")
        return _("Received; the hotline will classify it.")


def receive(session: Session, ctx: RequestContext, data: RequestInput, actor: str, now: datetime) -> Received:
    """Intake in the caller's transaction: an emergency service opens an incident (as citizen
    reports always did), anything else becomes a work order; unknown codes go to the unclassified queue."""
    catalogue = ctx.catalogue
    service = catalogue.service_for(data.service_code, data.service_name)
    district = ctx.city.district_of(data.lon, data.lat)
    request_id = data.request_id
    if service is not None and service.emergency:
        return _receive_emergency(session, service, data, actor, now, district, request_id)
    row = WorkOrder(request_id=request_id or f"pending:{uuid.uuid4().hex}", source=data.source,
                    service_code=service.code if service else UNCLASSIFIED,
                    service_name=data.service_name or (None if service else data.service_code),
                    department=None, status="received", description=data.description, address=data.address,
                    district=district, lon=data.lon, lat=data.lat, media_url=data.media_url,
                    contact_name=data.contact_name, contact_email=data.contact_email,
                    contact_phone=data.contact_phone, requested_at=min(data.requested_at or now, now),
                    received_at=now, created_by=actor, updated_at=now, drill=data.drill)
    start_clocks(row, catalogue, ctx.timezone, now)
    session.add(row)
    session.flush()
    if request_id is None:
        row.request_id = f"{REQUEST_ID_PREFIX}{row.id:06d}"
    what = service.term if service else say("unclassified ({code})",
                                                     code=data.service_code or data.service_name)
    add_fact(session, row, "received", actor,
             say("received from {source}: {what}", source=Term("request_source", data.source), what=what), now,
             status_before="", media_url=data.media_url)
    if service is not None and catalogue.assign_on_receipt:
        row.status, row.department, row.assigned_at = "assigned", service.department, now
        add_fact(session, row, "assigned", actor, say("assigned to {department} on receipt",
                                                      department=catalogue.department_term(service.department)),
                 now, status_before="received")
    record(session, actor, "request.receive", f"request:{row.request_id}", None, snapshot(row))
    duplicates = tuple(r.id for r in duplicate_candidates(session, catalogue, row))
    return Received(row.request_id, view_of(row, catalogue, now), duplicates=duplicates)


def _receive_emergency(session: Session, service: Service, data: RequestInput, actor: str, now: datetime,
                       district: str | None, request_id: str | None) -> Received:
    request_id = request_id or f"{REQUEST_ID_PREFIX}E{uuid.uuid4().hex[:8].upper()}"
    mapping = service.incident
    description = " — ".join(part for part in (service.name_en, data.description) if part)
    incident = insert_incident(session, IncidentInput(
        mapping.category, mapping.sub_category, mapping.priority, data.lon, data.lat, description or None,
        data.address, "citizen", f"open311:{request_id}", drill=data.drill), actor, now, district, data.requested_at)
    record(session, actor, "incident.create", f"incident:{incident.id}", None, incident_snapshot(incident))
    return Received(request_id, incident_id=incident.id)


@dataclass
class ReceiveRequest(Command):
    """A request from the hotline form or an Open311 client."""

    ctx: RequestContext
    principal: Principal
    body: dict | RequestInput
    source: str = "open311"
    data: RequestInput | None = None
    permission = "request.submit"

    def check(self) -> None:
        self.data = self.body if isinstance(self.body, RequestInput) else \
            read_request_input(self.body, self.ctx.city, self.source)

    def run(self, now: datetime | None = None) -> Received:
        now = now or utcnow()
        with session_scope(self.ctx.engine) as session:
            received = receive(session, self.ctx, self.data, self.principal.name, now)
        publish_updates(self.ctx)
        return received


# ---------------------------------------------------------------- the lifecycle

@dataclass
class OrderCommand(Command):
    """A step of one order: allowed ``from_statuses``; department staff only on their department's orders."""

    ctx: RequestContext
    principal: Principal
    order_id: int
    version: int | None = None  # the version the person acted on; None: whatever is current
    current: WorkOrderView | None = field(default=None, init=False)

    from_statuses: ClassVar[tuple[str, ...]] = ()
    verb: ClassVar[str] = ""

    def check(self) -> None:
        from services.requests.orders import get_order

        self.current = get_order(self.ctx.engine, self.ctx.catalogue, utcnow(), self.order_id)
        if self.current is None:
            raise Refused.not_found(_("no request #{order_id}", order_id=self.order_id), "order_id")
        if self.version is not None and self.version != self.current.version:
            raise Refused.conflict("changed",
                    _("{label} changed meanwhile; look again", label=self.current.shown_label))
        if self.principal.role == "department" and self.current.department != self.principal.department:
            raise Refused.forbidden(_("{label} is not your department's ({mine}) but {theirs}",
                                      label=self.current.shown_label, mine=self.principal.department or _("none"),
                                      theirs=self.current.department or _("unassigned")))
        if self.current.status not in self.from_statuses:
            allowed = either([_(STATUS_LABELS[s]).lower() for s in self.from_statuses])
            raise Refused.conflict("wrong_status", _("{label} is {status}; only a {allowed} request can be {verb}",
                                                     label=self.current.shown_label,
                                                     status=_(STATUS_LABELS[self.current.status]).lower(),
                                                     allowed=allowed, verb=_(self.verb)))
        self.check_input()

    def check_input(self) -> None:
        """Each command's own input checks."""

    def apply(self, session: Session, row: WorkOrder, now: datetime) -> tuple[str, Said | str, dict | None]:
        """Changes ``row``; returns the fact (kind, message, detail)."""
        raise NotImplementedError

    def run(self, now: datetime | None = None) -> WorkOrderView:
        now = now or utcnow()
        catalogue = self.ctx.catalogue
        with session_scope(self.ctx.engine) as session:
            row = session.get(WorkOrder, self.order_id, with_for_update=True)
            if row.version != self.current.version or row.status != self.current.status:
                raise Refused.conflict("changed",
                        _("{label} changed meanwhile; look again", label=self.current.shown_label))
            before, status_before = snapshot(row), row.status
            kind, message, detail = self.apply(session, row, now)
            row.version, row.updated_at = row.version + 1, now
            add_fact(session, row, kind, self.principal.name, message, now, status_before=status_before,
                     media_url=getattr(self, "media_url", None), detail=detail)
            from services.requests.overdue import settle_overdue_alarm

            settle_overdue_alarm(session, row, catalogue, now, self.principal.name)
            record(session, self.principal.name, f"request.{kind}", f"request:{row.request_id}", before,
                   snapshot(row))
            view = view_of(row, catalogue, now)
        publish_updates(self.ctx)
        return view


def _department(ctx: RequestContext, department: Any) -> str:
    if ctx.catalogue.department(department) is None:
        known = ", ".join(d.id for d in ctx.catalogue.departments)
        raise Refused.invalid(_("department must be one of {known}", known=known), "department")
    return department


@dataclass
class AssignOrder(OrderCommand):
    """The agent sends a request to a department (classifying it first if it is unclassified)."""

    department: str | None = None  # None: the service's own department
    service_code: str | None = None  # classify (or re-classify) on the way
    permission = "request.assign"
    from_statuses = ("received",)
    verb = N_("assigned (a request already with a department is transferred)")

    def check_input(self) -> None:
        code = self.service_code or self.current.service_code
        service = self.ctx.catalogue.service(code)
        if service is None:
            raise Refused.invalid(_("{label} is unclassified: choose its service first",
                                    label=self.current.shown_label), "service_code")
        if service.emergency:
            raise Refused.invalid(_("{service} is an emergency: open an incident for the dispatchers",
                                    service=in_language(service.name_en, service.name_zh)),
                                  "service_code")
        self.service_code = service.code
        self.department = _department(self.ctx, self.department or service.department)

    def apply(self, session, row, now):
        reclassified = row.service_code != self.service_code
        if reclassified:
            row.service_code = self.service_code
            start_clocks(row, self.ctx.catalogue, self.ctx.timezone, row.received_at)
        row.status, row.department = "assigned", self.department
        row.assigned_at = row.assigned_at or now
        department = self.ctx.catalogue.department_term(self.department)
        said = (say("assigned to {department} as {service_code}", department=department, service_code=self.service_code)
                if reclassified else say("assigned to {department}", department=department))
        return "assigned", said, {"service_code": row.service_code}


@dataclass
class TransferOrder(OrderCommand):
    """To another department, with the reason (counted: passing the buck is a known failure)."""

    department: str = ""
    reason: str = ""
    permission = "request.transfer"
    from_statuses = ("assigned", "accepted", "in_progress", "reopened")
    verb = N_("transferred")

    def check_input(self) -> None:
        self.department = _department(self.ctx, self.department)
        self.reason = _text(self.reason, "reason", required=True)
        if self.department == self.current.department:
            raise Refused.invalid(_("{label} is with {department} already",
                                    label=self.current.shown_label, department=self.department), "department")

    def apply(self, session, row, now):
        source = row.department
        row.status, row.department, row.transfer_count = "assigned", self.department, row.transfer_count + 1
        catalogue = self.ctx.catalogue
        return "transferred", say("transferred from {source} to {department}: {reason}",
                                  source=catalogue.department_term(source),
                                  department=catalogue.department_term(self.department), reason=self.reason), \
            {"from": source, "to": self.department, "reason": self.reason}


@dataclass
class AcceptOrder(OrderCommand):
    """The department takes the order: its first response (the response clock stops)."""

    permission = "request.work"
    from_statuses = ("assigned", "reopened")
    verb = N_("accepted")

    def apply(self, session, row, now):
        first = row.accepted_at is None
        row.status = "accepted"
        row.accepted_at = row.accepted_at or now
        department = self.ctx.catalogue.department_term(row.department)
        said = (say("accepted by {department}", department=department) if first else
                say("accepted by {department} again", department=department))
        return "accepted", said, {"first_response": first}


@dataclass
class StartWork(OrderCommand):
    permission = "request.work"
    from_statuses = ("accepted",)
    verb = N_("started")

    def apply(self, session, row, now):
        row.status, row.started_at = "in_progress", row.started_at or now
        return "started", say("work started by {department}",
                              department=self.ctx.catalogue.department_term(row.department)), None


@dataclass
class ResolveOrder(OrderCommand):
    """Done: ``notes`` are what the citizen is told (Open311 status_notes)."""

    notes: str = ""
    media_url: str | None = None
    permission = "request.work"
    from_statuses = RESOLUTION_PHASE
    verb = N_("resolved")

    def check_input(self) -> None:
        self.notes = _text(self.notes, "notes", required=True)
        self.media_url = _url(self.media_url)

    def apply(self, session, row, now):
        row.status, row.resolved_at, row.status_notes = "resolved", now, self.notes
        return "resolved", say("resolved by {department}: {notes}",
                               department=self.ctx.catalogue.department_term(row.department), notes=self.notes), None


@dataclass
class CloseOrder(OrderCommand):
    """The hotline closes a resolved order (after calling the citizen back); its duplicates close with it."""

    notes: str | None = None
    permission = "request.assign"
    from_statuses = ("resolved",)
    verb = N_("closed")

    def check_input(self) -> None:
        self.notes = _text(self.notes, "notes")

    def apply(self, session, row, now):
        close(row, now, self.notes)
        return "closed", say("closed: {notes}", notes=self.notes) if self.notes else say("closed"), None


def close(row: WorkOrder, now: datetime, notes: str | None) -> None:
    row.status, row.closed_at = "closed", now
    if notes:
        row.status_notes = notes


@dataclass
class ReopenOrder(OrderCommand):
    """Back to its department with fresh clocks (a dissatisfied citizen, or the hotline's review)."""

    reason: str = ""
    permission = "request.assign"
    from_statuses = ("resolved", "closed")
    verb = N_("reopened")

    def check_input(self) -> None:
        self.reason = _text(self.reason, "reason", required=True)

    def apply(self, session, row, now):
        reopen(row, self.ctx, now)
        return "reopened", say("reopened: {reason}", reason=self.reason), {"reason": self.reason}


def reopen(row: WorkOrder, ctx: RequestContext, now: datetime) -> None:
    row.status, row.reopen_count, row.resolved_at, row.closed_at = "reopened", row.reopen_count + 1, None, None
    start_clocks(row, ctx.catalogue, ctx.timezone, now)


@dataclass
class AddNote(OrderCommand):
    text: str = ""
    media_url: str | None = None
    permission = "request.note"
    from_statuses = ACTIVE_STATUSES + ("closed",)
    verb = N_("noted")

    def check_input(self) -> None:
        self.media_url = _url(self.media_url)
        self.text = _text(self.text, "text", required=self.media_url is None) or "photo"

    def apply(self, session, row, now):
        if self.media_url:
            row.media_url = row.media_url or self.media_url
        return "note", self.text, None


@dataclass
class MergeOrder(OrderCommand):
    """A duplicate joins an open order of the same service: it is answered when that one is."""

    into_id: int = 0
    permission = "request.assign"
    from_statuses = OPEN_STATUSES
    verb = N_("merged")

    def check_input(self) -> None:
        from services.requests.orders import get_order

        target = get_order(self.ctx.engine, self.ctx.catalogue, utcnow(), self.into_id)
        if target is None or self.into_id == self.order_id:
            raise Refused.not_found(_("no other request #{into_id} to merge into", into_id=self.into_id), "into_id")
        if target.merged_into is not None or target.status not in ACTIVE_STATUSES:
            raise Refused.conflict("wrong_status", _("{label} is {status}; merge into an open request",
                                                     label=target.shown_label,
                                                     status=_(STATUS_LABELS[target.status]).lower()))
        if target.service_code != self.current.service_code:
            raise Refused.invalid(_("{label} is another service ({service_label})",
                                    label=target.shown_label, service_label=target.shown_service), "into_id")
        self.target = target

    def apply(self, session, row, now):
        row.status, row.merged_into = "merged", self.into_id
        primary = session.get(WorkOrder, self.into_id, with_for_update=True)
        add_fact(session, primary, "merged", self.principal.name,
                 say("request {request_id} (#{id}) merged into this one", request_id=row.request_id, id=row.id), now,
                 detail={"duplicate": row.id})
        return "merged", say("merged into #{into_id} ({request_id})", into_id=self.into_id,
                             request_id=primary.request_id), {"into": self.into_id}


# ---------------------------------------------------------------- the citizen's answer

@dataclass
class RateRequest(Command):
    """The citizen's satisfaction with a resolved or closed request (by its service_request_id),
    from Open311 or the page; MQTT answers go through ``rate`` directly (the broker's ACL is their check)."""

    ctx: RequestContext
    principal: Principal
    request_id: str
    satisfaction: str
    comment: str | None = None
    permission = "request.rate"

    def check(self) -> None:
        from services.requests.orders import get_order

        self.comment = _rating_input(self.satisfaction, self.comment)
        rated = get_order(self.ctx.engine, self.ctx.catalogue, utcnow(), request_id=self.request_id)
        if rated is None:
            raise Refused.not_found(_("no request {request_id}", request_id=self.request_id), "service_request_id")

    def run(self, now: datetime | None = None) -> WorkOrderView:
        now = now or utcnow()
        with session_scope(self.ctx.engine) as session:
            row = rate(session, self.ctx, self.principal.name, self.request_id, self.satisfaction, self.comment, now)
            view = view_of(row, self.ctx.catalogue, now)
        publish_updates(self.ctx)
        return view


def _rating_input(satisfaction: Any, comment: Any) -> str | None:
    """The comment, once the answer is one of SATISFACTION; raises Refused."""
    if satisfaction not in SATISFACTION:
        raise Refused.invalid(_("satisfaction must be one of {choices}",
                                choices=', '.join(SATISFACTION)), "satisfaction")
    return _text(comment, "comment")


def rate(session: Session, ctx: RequestContext, actor: str, request_id: str, satisfaction: str,
         comment: str | None, now: datetime) -> WorkOrder:
    """The citizen's answer, in the caller's transaction; raises Refused (nothing written then).

    Satisfied / basically satisfied: a resolved order closes. Dissatisfied: the order reopens for
    review, with the comment as its reason. A duplicate's citizen rates the order that answered it.
    The same answer delivered again for the same resolution (an MQTT redelivery) changes nothing."""
    comment = _rating_input(satisfaction, comment)
    row = session.execute(select(WorkOrder).where(WorkOrder.request_id == request_id)
                          .with_for_update()).scalar_one_or_none()
    if row is None:
        raise Refused.not_found(_("no request {request_id}", request_id=request_id), "service_request_id")
    primary = row if row.merged_into is None else session.get(WorkOrder, row.merged_into, with_for_update=True)
    replayed = (row.satisfaction, row.satisfaction_comment) == (satisfaction, comment) and row.rated_at is not None \
        and (primary.resolved_at is None or row.rated_at >= primary.resolved_at)  # no resolution since
    if replayed:
        return row
    if primary.status not in ("resolved", "closed"):
        raise Refused.conflict("not_answered", _("request {request_id} is {status}: rate it once resolved",
                                                 request_id=request_id,
                                                 status=_(STATUS_LABELS[primary.status]).lower()))
    before = snapshot(row)
    row.satisfaction, row.satisfaction_comment, row.rated_at = satisfaction, comment, now
    row.version, row.updated_at = row.version + 1, now
    level = Term("satisfaction", satisfaction)
    words = say("{level}: {comment}", level=level, comment=comment) if comment else level
    add_fact(session, row, "rated", actor, say("the citizen is {words}", words=words), now,
             detail={"satisfaction": satisfaction, "comment": comment})
    record(session, actor, "request.rate", f"request:{row.request_id}", before, snapshot(row))
    status_before, primary_before = primary.status, snapshot(primary)
    if satisfaction == "dissatisfied":
        reopen(primary, ctx, now)
        add_fact(session, primary, "reopened", actor, say("reopened for review: the citizen is {words}", words=words),
                 now,
                 status_before=status_before, detail={"reason": "dissatisfied"})
    elif primary.status == "resolved":
        close(primary, now, None)
        add_fact(session, primary, "closed", actor, say("closed: the citizen is {words}", words=words), now,
                 status_before=status_before)
    if primary.status != status_before:
        primary.version, primary.updated_at = primary.version + (primary is not row), now
        record(session, actor, f"request.{primary.status}", f"request:{primary.request_id}",
               primary_before, snapshot(primary))
    return row


def assign_many(ctx: RequestContext, principal: Principal, order_ids: list[int], department: str | None
                ) -> tuple[list[WorkOrderView], list[tuple[int, Refused]]]:
    """Bulk assign: each order its own command; what was refused says why."""
    done, refused = [], []
    for order_id in order_ids:
        try:
            done.append(AssignOrder(ctx, principal, order_id, department=department or None)())
        except Refused as refusal:
            refused.append((order_id, refusal))
    return done, refused


def publish_updates(ctx: RequestContext) -> int:
    from services.requests.publish import publish_pending

    return 0 if ctx.publish is NO_PUBLISHER else publish_pending(ctx)


def order_of_request(engine: Engine, request_id: str) -> int | None:
    with engine.connect() as connection:
        return connection.execute(select(WorkOrder.id).where(WorkOrder.request_id == request_id)).scalar()


__all__ = ["RequestContext", "RequestInput", "Received", "ReceiveRequest", "AssignOrder", "TransferOrder",
           "AcceptOrder", "StartWork", "ResolveOrder", "CloseOrder", "ReopenOrder", "AddNote", "MergeOrder",
           "RateRequest", "rate", "assign_many", "receive", "read_request_input", "RESPONSE_PHASE"]
