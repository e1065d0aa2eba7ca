"""Citizen reports from MQTT (``<root>/reports``) into the one queue, on the leading ingest process.

Each stored report (services/reactions.py ReportReactor) is received once, in the reaction's
transaction: an emergency service opens an incident as citizen reports always did (the report's
id is the incident's unique external id), anything else becomes a work order keyed by the
report's ``service_request_id``. A known request received again closed at its source, while no
department has it yet, is closed with a note; later, the change goes on its timeline.

A citizen's satisfaction answer on ``<root>/requests/<service_request_id>/satisfaction`` is applied
by the same ``rate`` as an Open311 one, in the store's transaction (docs/OPEN311.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from services.audit import record
from services.incidents import input_from_report
from services.models import Incident, WorkOrder, utcnow
from services.commands import Refused
from services.i18n import Term, say
from services.requests.commands import RequestContext, RequestInput, add_fact, close, rate, receive, snapshot
from services.telemetry import CitizenRatingIn, CitizenReportIn

ACTOR = "citizen-report"
RATING_ACTOR = "citizen-app (mqtt)"


def request_input(report: CitizenReportIn) -> RequestInput:
    return RequestInput(report.service_code, report.lon, report.lat, "mqtt", service_name=report.service_name,
                        description=report.description, address=report.address, request_id=report.external_id,
                        requested_at=report.requested_at, drill=report.drill)


def requests_from_reports(ctx: RequestContext, reports: Sequence[CitizenReportIn], session: Session,
                          now: datetime | None = None) -> int:
    """Receives each new report once; returns how many became an order or an incident."""
    received = 0
    for report in reports:
        if report.closed or not ctx.city.is_in_area(report.lon, report.lat):
            continue  # closed before it was ever seen: needs no response
        known_order = session.execute(select(WorkOrder.id).where(WorkOrder.request_id == report.external_id)).first()
        known_incident = session.execute(select(Incident.id).where(
            Incident.external_id == input_from_report(report).external_id)).first()
        if known_order or known_incident:
            continue  # the same report replayed
        receive(session, ctx, request_input(report), ACTOR, now or report.received_at)
        received += 1
    return received


def orders_follow_reports(session: Session, reports: tuple[CitizenReportIn, ...], now: datetime | None = None) -> int:
    """A known request received again with a later status (services/store.py, in its transaction)."""
    updated = 0
    for report in reports:
        now = now or utcnow()
        row = session.execute(select(WorkOrder).where(WorkOrder.request_id == report.external_id)
                              .with_for_update()).scalar_one_or_none()
        if row is None:
            continue
        before, status_before = snapshot(row), row.status
        status = Term("report_status", report.status or "updated")
        message = say("the citizen request was {status} at its source", status=status)
        if report.closed and row.status == "received":
            close(row, now, "Closed at its source before a department took it.")
            message = say("the citizen request was {status} at its source; closed, no response needed", status=status)
        row.version, row.updated_at = row.version + 1, now
        add_fact(session, row, "closed" if row.status != status_before else "note", ACTOR, message, now,
                 status_before=status_before if row.status != status_before else None)
        record(session, ACTOR, "request.update", f"request:{row.request_id}", before, snapshot(row))
        updated += 1
    return updated


def ratings_from_mqtt(ctx: RequestContext, session: Session, ratings: tuple[CitizenRatingIn, ...],
                      now: datetime | None = None) -> list[tuple[CitizenRatingIn, str]]:
    """The citizens' satisfaction answers from ``<root>/requests/<id>/satisfaction`` (services/store.py,
    in its transaction), in the order they arrived; returns those refused, with the reason."""
    refused = []
    for rating in ratings:
        try:
            rate(session, ctx, RATING_ACTOR, rating.request_id, rating.satisfaction, rating.comment,
                 now or rating.received_at)
        except Refused as refusal:
            refused.append((rating, refusal.message))
    return refused
