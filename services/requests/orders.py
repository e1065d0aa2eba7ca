"""Work orders: their vocabulary (lifecycle, satisfaction), their clocks, and what screens read.

Lifecycle::

    received ──assign──> assigned ──accept──> accepted ──start──> in_progress ──resolve──> resolved ──close──> closed
        │                 ^   │                  │                     │                     │  (satisfied)     │
        │                 └───┴──transfer────────┴─────────────────────┘                     └──> reopened <────┘
        └──merge──> merged (a duplicate: answered with the order it joined)           (dissatisfied, or an agent)

Clocks: the *response* clock runs until the department accepts the order (its first response),
then the *resolution* clock until it is resolved. Both start when CityOps received the request
(a reopened order gets fresh ones); a transfer does not restart them: passing the buck costs the
citizen nothing. Deadlines are computed in the site time zone (catalogue.TimeLimit). Pages and
the API receive ``WorkOrderView`` values, never rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services.i18n import N_, in_language
from services.incidents import iso
from services.models import WorkOrder, WorkOrderEvent
from services.requests.catalogue import UNCLASSIFIED, Catalogue, TimeLimit
from services.telemetry import SATISFACTION_LEVELS

STATUSES = ("received", "assigned", "accepted", "in_progress", "resolved", "closed", "reopened", "merged")
STATUS_LABELS = {"received": N_("Received"), "assigned": N_("Assigned"), "accepted": N_("Accepted"),
                 "in_progress": N_("In progress"), "resolved": N_("Resolved"), "closed": N_("Closed"),
                 "reopened": N_("Reopened"), "merged": N_("Merged")}
CLOCK_PHASES = {"response": N_("response"), "resolution": N_("resolution")}
RESPONSE_PHASE = ("received", "assigned", "reopened")  # waiting for the department's first response
RESOLUTION_PHASE = ("accepted", "in_progress")
OPEN_STATUSES = RESPONSE_PHASE + RESOLUTION_PHASE  # on a clock
ACTIVE_STATUSES = OPEN_STATUSES + ("resolved",)  # not yet answered for good (the queues show these)
SATISFACTION = dict(zip(SATISFACTION_LEVELS, (N_("Satisfied"), N_("Basically satisfied"), N_("Dissatisfied"))))
SOURCES = ("mqtt", "open311", "hotline")
DUE_STATES = ("on_time", "due_soon", "overdue")


def time_limits(catalogue: Catalogue, service_code: str) -> tuple[TimeLimit, TimeLimit]:
    """(response, resolution) of a service; an unclassified request runs on the default class."""
    service = catalogue.service(service_code)
    return (service.response, service.resolution) if service else catalogue.default_limits


def open311_status(status: str) -> str:
    """GeoReport v2 knows open and closed."""
    return "closed" if status == "closed" else "open"


@dataclass(frozen=True)
class Clock:
    phase: str | None  # response | resolution | None (no clock running)
    due_at: datetime | None
    state: str | None  # on_time | due_soon | overdue
    seconds_left: float | None


def clock_of(status: str, response_due_at, resolution_due_at, limits: tuple[TimeLimit, TimeLimit],
             due_soon: float, now: datetime) -> Clock:
    if status in RESPONSE_PHASE:
        phase, due, limit = "response", response_due_at, limits[0]
    elif status in RESOLUTION_PHASE:
        phase, due, limit = "resolution", resolution_due_at, limits[1]
    else:
        return Clock(None, None, None, None)
    if due is None:
        return Clock(phase, None, None, None)
    left = (due - now).total_seconds()
    state = "overdue" if left < 0 else "due_soon" if left < due_soon * limit.nominal_seconds else "on_time"
    return Clock(phase, due, state, left)


@dataclass(frozen=True)
class WorkOrderView:
    id: int
    request_id: str
    source: str
    service_code: str
    service_name: str | None
    department: str | None
    status: str
    description: str | None
    address: str | None
    district: str | None
    lon: float
    lat: float
    media_url: str | None
    contact_name: str | None
    status_notes: str | None
    requested_at: datetime
    received_at: datetime
    assigned_at: datetime | None
    accepted_at: datetime | None
    started_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    response_due_at: datetime | None
    resolution_due_at: datetime | None
    transfer_count: int
    reopen_count: int
    merged_into: int | None
    satisfaction: str | None
    satisfaction_comment: str | None
    rated_at: datetime | None
    updated_at: datetime
    version: int
    drill: str | None
    clock: Clock
    service_label: str  # the catalogue's English name (or what the citizen's app said)
    service_label_zh: str | None
    department_label: str | None
    department_label_zh: str | None = None

    @property
    def label(self) -> str:
        return f"#{self.id} {self.service_label}"

    @property
    def shown_service(self) -> str:
        """The service's name in the current language (``service_label`` stays English: recorded texts use it)."""
        return in_language(self.service_label, self.service_label_zh)

    @property
    def shown_department(self) -> str | None:
        return in_language(self.department_label, self.department_label_zh)

    @property
    def shown_label(self) -> str:
        return f"#{self.id} {self.shown_service}"

    @property
    def classified(self) -> bool:
        return self.service_code != UNCLASSIFIED

    @property
    def expected_at(self) -> datetime | None:
        return self.resolution_due_at

    def as_json(self) -> dict:
        body = {name: getattr(self, name) for name in self.__dataclass_fields__ if name != "clock"}
        for name, value in body.items():
            if isinstance(value, datetime):
                body[name] = iso(value)
        body["location"] = {"type": "Point", "coordinates": [body.pop("lon"), body.pop("lat")]}
        body.update(open311_status=open311_status(self.status), phase=self.clock.phase,
                    due_at=iso(self.clock.due_at), due_state=self.clock.state,
                    seconds_left=None if self.clock.seconds_left is None else round(self.clock.seconds_left))
        return body


def view_of(row, catalogue: Catalogue, now: datetime) -> WorkOrderView:
    service = catalogue.service(row.service_code)
    department = catalogue.department(row.department)
    clock = clock_of(row.status, row.response_due_at, row.resolution_due_at, time_limits(catalogue, row.service_code),
                     catalogue.due_soon, now)
    fields = {name: getattr(row, name) for name in WorkOrderView.__dataclass_fields__
              if name not in ("clock", "service_label", "service_label_zh", "department_label", "department_label_zh")}
    return WorkOrderView(**fields, clock=clock,
                         service_label=service.name_en if service else (row.service_name or "Unclassified"),
                         service_label_zh=service.name_zh if service else None,
                         department_label=department.name_en if department else row.department,
                         department_label_zh=department.name_zh if department else None)


@dataclass(frozen=True)
class OrderEventView:
    at: datetime
    kind: str
    actor: str
    message: str
    status_before: str | None
    status_after: str | None
    department: str | None
    service_code: str
    district: str | None
    media_url: str | None
    detail: dict | None

    def as_json(self) -> dict:
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        body["at"] = iso(self.at)
        return body


# ---------------------------------------------------------------- queries

@dataclass(frozen=True)
class OrderFilter:
    statuses: tuple[str, ...] | None = ACTIVE_STATUSES  # None: all
    department: str | None = None  # "unclassified": the orders no department has yet
    district: str | None = None
    service_code: str | None = None
    overdue_only: bool = False
    request_ids: tuple[str, ...] = ()
    since: datetime | None = None  # requested at or after
    until: datetime | None = None
    include_merged: bool = False
    limit: int = 500


def list_orders(engine: Engine, catalogue: Catalogue, now: datetime, filters: OrderFilter = OrderFilter()
                ) -> list[WorkOrderView]:
    """Sorted by the running clock's deadline (soonest first; no clock last), then by age."""
    query = select(WorkOrder)
    if filters.statuses:
        query = query.where(WorkOrder.status.in_(filters.statuses))
    if not filters.include_merged:
        query = query.where(WorkOrder.merged_into.is_(None))
    if filters.department == UNCLASSIFIED:
        query = query.where(WorkOrder.department.is_(None))
    elif filters.department:
        query = query.where(WorkOrder.department == filters.department)
    for column, value in ((WorkOrder.district, filters.district), (WorkOrder.service_code, filters.service_code)):
        if value:
            query = query.where(column == value)
    if filters.request_ids:
        query = query.where(WorkOrder.request_id.in_(filters.request_ids))
    if filters.since:
        query = query.where(WorkOrder.requested_at >= filters.since)
    if filters.until:
        query = query.where(WorkOrder.requested_at <= filters.until)
    due = case((WorkOrder.status.in_(RESPONSE_PHASE), WorkOrder.response_due_at),
               (WorkOrder.status.in_(RESOLUTION_PHASE), WorkOrder.resolution_due_at), else_=None)
    if filters.overdue_only:
        query = query.where(due < now)
    query = query.order_by(case((due.is_(None), 1), else_=0), due, WorkOrder.received_at, WorkOrder.id)
    with Session(engine) as session:
        return [view_of(row, catalogue, now) for row in session.execute(query.limit(filters.limit)).scalars()]


def get_order(engine: Engine, catalogue: Catalogue, now: datetime, order_id: int | None = None,
              request_id: str | None = None) -> WorkOrderView | None:
    with Session(engine) as session:
        if order_id is not None:
            row = session.get(WorkOrder, order_id)
        else:
            row = session.execute(select(WorkOrder).where(WorkOrder.request_id == request_id)).scalar_one_or_none()
        return view_of(row, catalogue, now) if row else None


def order_timeline(engine: Engine, order_id: int) -> list[OrderEventView]:
    query = select(WorkOrderEvent).where(WorkOrderEvent.order_id == order_id).order_by(WorkOrderEvent.at,
                                                                                        WorkOrderEvent.id)
    with Session(engine) as session:
        return [OrderEventView(**{name: getattr(e, name) for name in OrderEventView.__dataclass_fields__})
                for e in session.execute(query).scalars()]


def merged_requests(engine: Engine, catalogue: Catalogue, now: datetime, order_id: int) -> list[WorkOrderView]:
    with Session(engine) as session:
        rows = session.execute(select(WorkOrder).where(WorkOrder.merged_into == order_id)
                               .order_by(WorkOrder.id)).scalars()
        return [view_of(row, catalogue, now) for row in rows]


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine), metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(min(1.0, a)))


def duplicate_candidates(session_or_engine, catalogue: Catalogue, order) -> list:
    """Open orders of the same service within the catalogue's distance and time of ``order`` (a row or
    a view): what the agent is offered to merge it into, nearest first (rows)."""
    if order.service_code == UNCLASSIFIED:
        return []
    window = catalogue.duplicate_within
    degrees = catalogue.duplicate_distance_m / 111_000 * 1.5  # a generous box, refined by distance below
    query = select(WorkOrder).where(
        WorkOrder.service_code == order.service_code, WorkOrder.id != order.id, WorkOrder.merged_into.is_(None),
        WorkOrder.status.in_(ACTIVE_STATUSES),
        WorkOrder.received_at >= order.received_at - window, WorkOrder.received_at <= order.received_at + window,
        WorkOrder.lat.between(order.lat - degrees, order.lat + degrees),
        WorkOrder.lon.between(order.lon - degrees * 3, order.lon + degrees * 3))
    if isinstance(session_or_engine, Session):
        rows = list(session_or_engine.execute(query).scalars())
    else:
        with Session(session_or_engine) as session:
            rows = list(session.execute(query).scalars())
            for row in rows:
                session.expunge(row)
    near = [(distance_m(order.lon, order.lat, r.lon, r.lat), r) for r in rows]
    return [r for d, r in sorted(near, key=lambda pair: pair[0]) if d <= catalogue.duplicate_distance_m]
