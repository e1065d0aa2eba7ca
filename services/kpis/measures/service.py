"""Citizen service (12345): Beijing 12345's three rates, overdue orders, transfers and time to close.

The orders of a period are those CityOps received in it (``received_at``, when the clocks start);
drills are left out, and so are duplicates merged into another order (they are answered with it), except
for satisfaction, where every citizen's rating counts. Each KPI gives the city (or district) value and,
in ``detail``, the same KPI per service (``by_service``) and per department (``by_department``: the
department that holds the order now; for overdue orders the one that held it when it went overdue).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select

from services.drills import not_drill
from services.kpis.measures.common import breakdown, once, per_district, percent, record, within
from services.kpis.registry import MEAN, NO_DATA, MeasureContext, Measured, Period, measure
from services.models import WorkOrder, WorkOrderEvent
from services.telemetry import SATISFACTION_LEVELS

SATISFIED = SATISFACTION_LEVELS[:2]  # satisfied, basically satisfied (满意 + 基本满意)
RESOLVED = ("resolved", "closed")


@dataclass(frozen=True)
class Order:
    id: int
    service_code: str
    department: str | None
    status: str
    merged: bool
    received_at: datetime
    accepted_at: datetime | None
    response_due_at: datetime | None
    closed_at: datetime | None
    transfer_count: int
    satisfaction: str | None
    response_overdue_at: datetime | None  # when its response clock was first found overdue
    district: str | None = None


def orders(ctx: MeasureContext, period: Period) -> list[Order]:
    """The orders received in the period (drills excluded), merged duplicates included (``merged``)."""
    received = (within(WorkOrder.received_at, period), not_drill(WorkOrder))
    overdue: dict[int, datetime] = {}
    for order_id, at, detail in ctx.session.execute(
            select(WorkOrderEvent.order_id, WorkOrderEvent.at, WorkOrderEvent.detail)
            .where(WorkOrderEvent.kind == "overdue", WorkOrderEvent.order_id.in_(select(WorkOrder.id).where(*received)))
            .order_by(WorkOrderEvent.at)):
        if (detail or {}).get("phase") == "response":
            overdue.setdefault(order_id, at)
    rows = ctx.session.execute(select(
        WorkOrder.id, WorkOrder.service_code, WorkOrder.department, WorkOrder.status, WorkOrder.merged_into,
        WorkOrder.received_at, WorkOrder.accepted_at, WorkOrder.response_due_at, WorkOrder.closed_at,
        WorkOrder.transfer_count, WorkOrder.satisfaction, WorkOrder.district).where(*received).order_by(WorkOrder.id))
    return [Order(row.id, row.service_code, row.department, row.status, row.merged_into is not None, row.received_at,
                  row.accepted_at, row.response_due_at, row.closed_at, row.transfer_count, row.satisfaction,
                  overdue.get(row.id), row.district) for row in rows]


def _per_order_kpi(value: Callable[[list[Order]], float | None], *, merged_too: bool = False):
    """A KPI over the period's orders: the city value, and the same per service and department."""

    def of_orders(found: list[Order], _) -> Measured:
        detail = {"by_service": breakdown(found, lambda o: o.service_code, value),
                  "by_department": breakdown(found, lambda o: o.department, value),
                  "records": [record("request", o.id) for o in found]}
        return Measured(value(found) if found else None, len(found), None, detail)

    def measure_orders(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
        found = [o for o in once(ctx, ("orders", period), lambda: orders(ctx, period)) if merged_too or not o.merged]
        return per_district(ctx, found, lambda o: o.district, of_orders)

    measure_orders.__name__ = value.__name__
    return measure_orders


def responded_on_time(order: Order) -> bool | None:
    """True: the department's first response (``accepted_at``, kept across reopenings) came within the
    response time limit; False: it came late, or the limit passed without one; None: still running.
    Late is a response after ``response_due_at`` or after the overdue fact of the response clock (the
    only record of the first limit once a reopened order got fresh clocks)."""
    if order.accepted_at is None:
        return False if order.response_overdue_at is not None else None
    if order.response_overdue_at is not None and order.response_overdue_at <= order.accepted_at:
        return False
    return order.response_due_at is None or order.accepted_at <= order.response_due_at


def response_rate(found: list[Order]) -> float | None:
    """Responded within the limit, in % of the orders whose response is settled (given or overdue)."""
    settled = [on_time for on_time in map(responded_on_time, found) if on_time is not None]
    return percent(sum(settled), len(settled))


def resolution_rate(found: list[Order]) -> float | None:
    """Resolved (or closed after resolution), in % of the orders received."""
    return percent(sum(1 for o in found if o.status in RESOLVED), len(found))


def satisfaction_rate(found: list[Order]) -> float | None:
    """Satisfied or basically satisfied, in % of the orders the citizen rated (their latest rating)."""
    rated = [o.satisfaction for o in found if o.satisfaction is not None]
    return percent(sum(1 for s in rated if s in SATISFIED), len(rated))


def transfers_per_order(found: list[Order]) -> float | None:
    return sum(o.transfer_count for o in found) / len(found) if found else None


def median_hours_to_close(found: list[Order]) -> float | None:
    """Median (mean of the two middle values for an even count) of received -> closed, closed orders only."""
    hours = [(o.closed_at - o.received_at).total_seconds() / 3600 for o in found if o.closed_at is not None]
    return statistics.median(hours) if hours else None


measure("service.response_rate")(_per_order_kpi(response_rate))
measure("service.resolution_rate", combine=MEAN)(_per_order_kpi(resolution_rate))
measure("service.satisfaction_rate")(_per_order_kpi(satisfaction_rate, merged_too=True))
measure("service.transfers_per_order", combine=MEAN)(_per_order_kpi(transfers_per_order))
measure("service.time_to_close")(_per_order_kpi(median_hours_to_close))


@measure("service.overdue_count")
def overdue_count(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """Orders that went overdue (response or resolution limit passed) during the period, counted once each,
    with the district, service and department they had then. No data (None) when the period neither
    received an order nor saw one go overdue; 0 is a period with orders and none overdue."""
    facts = ctx.session.execute(
        select(WorkOrderEvent.order_id, WorkOrderEvent.service_code, WorkOrderEvent.department,
               WorkOrderEvent.district)
        .join(WorkOrder, WorkOrder.id == WorkOrderEvent.order_id)
        .where(WorkOrderEvent.kind == "overdue", within(WorkOrderEvent.at, period), not_drill(WorkOrder))
        .order_by(WorkOrderEvent.at, WorkOrderEvent.id)).all()
    receiving = set(ctx.session.execute(select(WorkOrder.district).where(
        within(WorkOrder.received_at, period), not_drill(WorkOrder)).distinct()).scalars())

    def overdue(found, district: str | None) -> Measured:
        firsts: dict[int, object] = {}
        for fact in found:
            firsts.setdefault(fact.order_id, fact)  # an order overdue twice (response, then resolution) counts once
        first = list(firsts.values())
        if not first and not (receiving if district is None else district in receiving):
            return NO_DATA
        return Measured(float(len(first)), len(first), None, {
            "by_service": breakdown(first, lambda f: f.service_code, len),
            "by_department": breakdown(first, lambda f: f.department, len),
            "records": [record("request", f.order_id) for f in sorted(first, key=lambda f: f.order_id)]})

    return per_district(ctx, facts, lambda fact: fact.district, overdue)
