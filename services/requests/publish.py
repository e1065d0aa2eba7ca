"""The citizen hears back: every status change of an order is published on MQTT (an outbox).

Topic ``<root>/requests/<service_request_id>/status`` (QoS 1, retained: a citizen app that
subscribes later gets the latest), payload a Smart Data Models ``service_requests`` entity in
key-values form: ``service_request_id``, ``status`` (open | closed), ``status_notes``,
``detailed_status`` (the CityOps lifecycle state), ``service_code``, ``service_name``,
``agency_responsible``, ``updated_datetime``, ``expected_datetime``, and once rated
``satisfaction``. A duplicate merged into an order is published with it. A fact whose update the
broker did not take stays unpublished and is sent again by the next command or by the ingest
role's job.
"""
from __future__ import annotations

import logging

from sqlalchemy import select, update
from sqlmodel import Session

from services.incidents import iso
from services.models import WorkOrder, WorkOrderEvent, utcnow
from services.requests.orders import open311_status, view_of

log = logging.getLogger("cityops.requests")

BATCH = 200


def status_topic(root: str, request_id: str) -> str:
    return f"{root}/requests/{request_id}/status"


def status_entity(order, answering=None) -> dict:
    """The ``service_requests`` entity of an order (``answering``: the order a duplicate was merged into)."""
    source = answering or order
    notes = source.status_notes
    if answering is not None:
        notes = f"Merged with request {answering.request_id}" + (f": {notes}" if notes else "")
    return {"id": f"urn:ngsi-ld:service_requests:{order.request_id}", "type": "service_requests",
            "service_request_id": order.request_id, "status": open311_status(source.status),
            "detailed_status": source.status, "status_notes": notes, "service_code": order.service_code,
            "service_name": order.service_label, "agency_responsible": source.department_label,
            "requested_datetime": iso(order.requested_at), "updated_datetime": iso(source.updated_at),
            "expected_datetime": iso(source.resolution_due_at), "satisfaction": order.satisfaction}


def publish_pending(ctx) -> int:
    """Publishes the orders of unpublished status facts (and their duplicates); returns how many facts."""
    catalogue, now = ctx.catalogue, utcnow()
    with Session(ctx.engine) as session:
        facts = list(session.execute(select(WorkOrderEvent.id, WorkOrderEvent.order_id)
                                     .where(WorkOrderEvent.published.is_(False)).order_by(WorkOrderEvent.id)
                                     .limit(BATCH)).all())
        if not facts:
            return 0
        order_ids = sorted({order_id for _, order_id in facts})
        orders = {row.id: view_of(row, catalogue, now)
                  for row in session.execute(select(WorkOrder).where(WorkOrder.id.in_(order_ids))).scalars()}
        duplicates = [view_of(row, catalogue, now) for row in session.execute(
            select(WorkOrder).where(WorkOrder.merged_into.in_(order_ids))).scalars()]
    sent: set[int] = set()
    for order in orders.values():
        answering = orders.get(order.merged_into) if order.merged_into else None
        if _publish(ctx, order.request_id, status_entity(order, answering)):
            sent.add(order.id)
    for duplicate in duplicates:
        _publish(ctx, duplicate.request_id, status_entity(duplicate, orders[duplicate.merged_into]))
    done = [fact_id for fact_id, order_id in facts if order_id in sent]
    if done:
        with ctx.engine.begin() as connection:
            connection.execute(update(WorkOrderEvent).where(WorkOrderEvent.id.in_(done)).values(published=True))
    return len(done)


def _publish(ctx, request_id: str, payload: dict) -> bool:
    try:
        return bool(ctx.publish(status_topic(ctx.topic_root, request_id), payload))
    except Exception:  # the broker's absence must not undo a committed step
        log.exception("publishing the status of request %s failed", request_id)
        return False
