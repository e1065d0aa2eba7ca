"""Overdue orders raise an alarm (services/alarms.py), one per order, cleared when its clock is met.

The leading ingest process looks every ``CHECK_S`` for orders whose running clock passed its
deadline and raises "Request overdue" on them (severity by how fast the service must be served);
any command that stops or meets the clock (accept, resolve, merge, ...) clears it in its own
transaction (``settle_overdue_alarm``).
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlmodel import Session

from services.alarms import RaiseAlarm, Trigger, clear_by_rule_in
from services.db import session_scope
from services.i18n import Term, say
from services.models import WorkOrder, utcnow
from services.requests.catalogue import Catalogue
from services.requests.orders import RESOLUTION_PHASE, RESPONSE_PHASE, time_limits, view_of

log = logging.getLogger("cityops.requests")

OVERDUE_RULE = "request-overdue"
ACTOR = "system:requests"
CHECK_S = 30.0


def alarm_device(order_id: int) -> str:
    return f"work-order:{order_id}"


def _trigger(row: WorkOrder, catalogue: Catalogue, due: datetime, phase: str) -> Trigger:
    response, resolution = time_limits(catalogue, row.service_code)
    fast = (resolution.seconds or 0) and resolution.seconds <= 2 * 3600
    service = catalogue.service(row.service_code)
    what = service.term if service else say("Unclassified request")
    name = service.name_en if service else "Unclassified request"
    department = catalogue.department_term(row.department) if row.department else say("unassigned")
    said = say("#{id} {what} ({department}, {status}): {phase} due {due} UTC passed", id=row.id, what=what,
               department=department, status=Term("request_status", row.status), phase=Term("clock_phase", phase),
               due=f"{due:%Y-%m-%d %H:%M}")
    return Trigger(rule_id=OVERDUE_RULE, rule_name="Request overdue", device_id=alarm_device(row.id),
                   device_type="WorkOrder", device_name=f"#{row.id} {name}",
                   district=row.district, category="infrastructure", sub_category="workOrderOverdue",
                   severity="high" if fast else "medium", description=said.english, said=said,
                   metric=None, value=None, threshold=None, lon=row.lon, lat=row.lat, started_at=due,
                   min_reraise_s=0.0)


def check_overdue(engine, catalogue: Catalogue, now: datetime | None = None) -> list[int]:
    """Raises the alarm of every order that just went overdue; returns their ids."""
    now = now or utcnow()
    overdue = or_(and_(WorkOrder.status.in_(RESPONSE_PHASE), WorkOrder.response_due_at < now),
                  and_(WorkOrder.status.in_(RESOLUTION_PHASE), WorkOrder.resolution_due_at < now))
    from services.simulator.history import past_in_play

    past = past_in_play(engine)  # the demo's past being played: its orders are worked at their past moments
    if past is not None:
        overdue = and_(overdue, WorkOrder.requested_at >= past)
    with engine.connect() as connection:
        ids = list(connection.execute(select(WorkOrder.id).where(overdue, WorkOrder.overdue_alarmed.is_(False),
                                                                 WorkOrder.merged_into.is_(None))).scalars())
    raised = []
    for order_id in ids:
        with session_scope(engine) as session:
            row = session.get(WorkOrder, order_id, with_for_update=True)
            clock = view_of(row, catalogue, now).clock
            if row.overdue_alarmed or clock.state != "overdue":
                continue  # changed meanwhile
            RaiseAlarm(_trigger(row, catalogue, clock.due_at, clock.phase)).validate().run_in(session)
            row.overdue_alarmed = True
            from services.requests.commands import add_fact

            add_fact(session, row, "overdue", ACTOR, say("{phase} deadline {due} UTC passed",
                                                         phase=Term("clock_phase", clock.phase),
                                                         due=f"{clock.due_at:%Y-%m-%d %H:%M}"),
                     now, detail={"phase": clock.phase, "due_at": clock.due_at.isoformat()})
            raised.append(order_id)
    if raised:
        log.info("%d request(s) overdue: %s", len(raised), raised)
    return raised


def settle_overdue_alarm(session: Session, row: WorkOrder, catalogue: Catalogue, now: datetime, actor: str) -> None:
    """After a step: the order's overdue alarm clears once its running clock is no longer overdue."""
    if not row.overdue_alarmed:
        return
    if row.merged_into is None and view_of(row, catalogue, now).clock.state == "overdue":
        return
    clear_by_rule_in(session, OVERDUE_RULE, alarm_device(row.id), None,
                     say("#{id} {status} by {actor}", id=row.id, status=Term("request_status", row.status),
                         actor=actor),
                     actor)
    row.overdue_alarmed = False
