"""Citizen requests as work orders, on SQLite and PostgreSQL: every lifecycle step and refusal,
deadlines in the site time zone, overdue alarms, duplicates and merging, satisfaction."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlmodel import Session

from services.access.principal import Principal
from services.alarms import AlarmFilter, list_alarms
from services.city import load_city
from services.commands import Refused
from services.db import make_engine, migrate
from services.incidents import list_incidents
from services.models import AuditEntry, utcnow
from services.requests.catalogue import parse_catalogue
from services.requests.commands import (AcceptOrder, AddNote, AssignOrder, CloseOrder, MergeOrder, RateRequest,
                                        ReceiveRequest, ReopenOrder, RequestContext, ResolveOrder, StartWork,
                                        TransferOrder, assign_many)
from services.requests.intake import requests_from_reports
from services.requests.orders import OrderFilter, get_order, list_orders, order_timeline
from services.requests.overdue import check_overdue
from services.db import session_scope
from services.telemetry import CitizenReportIn
from tests.brokers import wait_until

CONFIG = Path(__file__).resolve().parents[2] / "config"
CATALOGUE = parse_catalogue((CONFIG / "services.yaml").read_text(), (CONFIG / "departments.yaml").read_text())
AGENT = Principal("ann", "agent", kind="user")
ROADS = Principal("rob", "department", kind="user", department="roads")
PARKS = Principal("pia", "department", kind="user", department="parks")
MANAGER = Principal("max", "manager", kind="user")
REPORTER = Principal("city-app", "reporter")
HERE = {"lat": 60.170, "long": 24.940}


@pytest.fixture
def ctx(database_url, tiny_city):
    engine = make_engine(database_url)
    migrate(engine)
    published: list[tuple[str, dict]] = []
    context = RequestContext(engine, load_city(tiny_city), lambda: CATALOGUE, "Europe/Helsinki", "test/city",
                             lambda topic, payload: published.append((topic, payload)) or True)
    context.published = published
    yield context
    engine.dispose()


def submit(ctx, code="POT", now=None, principal=AGENT, **fields):
    body = {"service_code": code, **HERE, "description": "Deep pothole", **fields}
    return ReceiveRequest(ctx, principal, body, source="hotline").validate().run(now)


def order(ctx, order_id):
    return get_order(ctx.engine, CATALOGUE, utcnow(), order_id)


def refusal(command) -> Refused:
    with pytest.raises(Refused) as caught:
        command()
    return caught.value


def test_a_request_walks_received_assigned_accepted_in_progress_resolved_and_closes_when_the_citizen_is_satisfied(ctx):
    received = submit(ctx)
    view = received.order
    assert (view.status, view.department, view.service_code) == ("received", None, "POT")
    assert view.request_id == f"CO-{view.id:06d}" and view.district == "West"
    view = AssignOrder(ctx, AGENT, view.id)()
    assert (view.status, view.department) == ("assigned", "roads")
    view = AcceptOrder(ctx, ROADS, view.id)()
    assert view.status == "accepted" and view.accepted_at is not None
    view = StartWork(ctx, ROADS, view.id)()
    assert view.status == "in_progress"
    view = ResolveOrder(ctx, ROADS, view.id, notes="Filled with asphalt")()
    assert view.status == "resolved" and view.status_notes == "Filled with asphalt"
    rated = RateRequest(ctx, REPORTER, view.request_id, "basically_satisfied", "took a while")()
    assert rated.satisfaction == "basically_satisfied"
    closed = order(ctx, view.id)
    assert closed.status == "closed" and closed.closed_at is not None

    facts = order_timeline(ctx.engine, view.id)
    assert [f.kind for f in facts] == ["received", "assigned", "accepted", "started", "resolved", "rated", "closed"]
    assert all(f.service_code == "POT" and f.district == "West" for f in facts)
    assert [f.department for f in facts][2:] == ["roads"] * 5
    with ctx.engine.connect() as connection:
        actions = list(connection.execute(select(AuditEntry.action).where(
            AuditEntry.target == f"request:{view.request_id}").order_by(AuditEntry.id)).scalars())
    assert actions == ["request.receive", "request.assigned", "request.accepted", "request.started",
                       "request.resolved", "request.rate", "request.closed"]
    statuses = [payload["detailed_status"] for topic, payload in ctx.published
                if topic == f"test/city/requests/{view.request_id}/status"]
    assert statuses[-1] == "closed" and "resolved" in statuses
    last = [p for t, p in ctx.published if t.endswith(f"{view.request_id}/status")][-1]
    assert last["status"] == "closed" and last["satisfaction"] == "basically_satisfied"


def test_steps_from_the_wrong_state_are_refused_saying_what_the_request_is(ctx):
    view = submit(ctx).order
    assert refusal(AcceptOrder(ctx, Principal.system("t"), view.id)).code == "wrong_status"
    assert "is received" in refusal(ResolveOrder(ctx, Principal.system("t"), view.id, notes="x")).message
    assert refusal(CloseOrder(ctx, AGENT, view.id)).code == "wrong_status"
    assert refusal(ReopenOrder(ctx, AGENT, view.id, reason="x")).code == "wrong_status"
    assert refusal(RateRequest(ctx, REPORTER, view.request_id, "satisfied")).code == "not_answered"
    AssignOrder(ctx, AGENT, view.id)()
    assert refusal(AssignOrder(ctx, AGENT, view.id)).code == "wrong_status"
    assert refusal(StartWork(ctx, ROADS, view.id)).code == "wrong_status"
    assert refusal(ResolveOrder(ctx, ROADS, view.id, notes="done")).code == "wrong_status"
    AcceptOrder(ctx, ROADS, view.id)()
    assert refusal(ResolveOrder(ctx, ROADS, view.id, notes=" ")).status == 422  # the citizen is told something
    assert refusal(AcceptOrder(ctx, ROADS, view.id, version=1)).code == "changed"  # acted on an old view


def test_roles_and_departments_are_checked_on_every_step(ctx):
    view = submit(ctx).order
    assert refusal(AssignOrder(ctx, MANAGER, view.id)).status == 403
    assert refusal(AssignOrder(ctx, ROADS, view.id)).status == 403  # department staff do not dispatch
    assert refusal(lambda: submit(ctx, principal=MANAGER)).status == 403
    assert refusal(AssignOrder(ctx, None, view.id)).status == 401
    AssignOrder(ctx, AGENT, view.id)()
    other = refusal(AcceptOrder(ctx, PARKS, view.id))
    assert other.status == 403 and "not your department's (parks) but roads" in other.message
    assert refusal(AcceptOrder(ctx, AGENT, view.id)).status == 403  # agents do not work orders
    assert refusal(AddNote(ctx, PARKS, view.id, text="not ours")).status == 403
    assert AddNote(ctx, ROADS, view.id, text="crew booked", media_url="https://img.example/p.jpg")().media_url
    assert submit(ctx, principal=REPORTER).order.status == "received"  # a citizen app submits


def test_an_unknown_service_code_waits_unclassified_until_an_agent_classifies_and_assigns_it(ctx):
    view = submit(ctx, code="XYZ-9", description="Something odd").order
    assert view.service_code == "unclassified" and view.service_name == "XYZ-9"
    queue = list_orders(ctx.engine, CATALOGUE, utcnow(), OrderFilter(department="unclassified"))
    assert [o.id for o in queue] == [view.id]
    assert "choose its service first" in refusal(AssignOrder(ctx, AGENT, view.id)).message
    assert "emergency" in refusal(AssignOrder(ctx, AGENT, view.id, service_code="fire")).message
    assigned = AssignOrder(ctx, AGENT, view.id, service_code="STL")()
    assert (assigned.service_code, assigned.department) == ("STL", "lighting")


def test_an_emergency_service_opens_an_incident_in_the_dispatch_queue_not_a_work_order(ctx):
    received = submit(ctx, code="accident", description="Two cars collided")
    assert received.order is None and received.incident_id is not None
    [incident] = list_incidents(ctx.engine)
    assert (incident.category, incident.sub_category, incident.source) == ("traffic", "carAccident", "citizen")
    assert list_orders(ctx.engine, CATALOGUE, utcnow()) == []


def test_a_transfer_needs_a_reason_goes_to_the_other_department_and_is_counted(ctx):
    view = submit(ctx).order
    AssignOrder(ctx, AGENT, view.id, department="parks")()
    AcceptOrder(ctx, PARKS, view.id)()
    assert refusal(TransferOrder(ctx, PARKS, view.id, department="roads")).field == "reason"
    assert refusal(TransferOrder(ctx, PARKS, view.id, department="parks", reason="x")).field == "department"
    assert refusal(TransferOrder(ctx, PARKS, view.id, department="nowhere", reason="x")).field == "department"
    moved = TransferOrder(ctx, PARKS, view.id, department="roads", reason="the street is not a park")()
    assert (moved.status, moved.department, moved.transfer_count) == ("assigned", "roads", 1)
    assert moved.response_due_at == view.response_due_at  # the citizen's clock does not restart
    again = TransferOrder(ctx, ROADS, view.id, department="lighting", reason="a lamp post hole")()
    assert again.transfer_count == 2
    [fact] = [f for f in order_timeline(ctx.engine, view.id) if f.detail and f.detail.get("to") == "lighting"]
    assert fact.kind == "transferred" and fact.department == "lighting"


def test_deadlines_are_counted_in_the_site_time_zone(ctx):
    # 22:30 UTC on 2 March is already 00:30 on 3 March in Helsinki (UTC+2)
    now = datetime(2026, 3, 2, 22, 30, tzinfo=timezone.utc)
    general = submit(ctx, now=now).order  # POT: response 24h, resolution 7 days
    assert general.response_due_at == now + timedelta(hours=24)
    # the end of the 7th day after 3 March, Helsinki time: 11 March 00:00 +02:00
    assert general.resolution_due_at == datetime(2026, 3, 10, 22, 0, tzinfo=timezone.utc)
    # across the change to summer time (29 March): the 7th day ends at 00:00 +03:00
    summer = submit(ctx, now=datetime(2026, 3, 25, 10, 0, tzinfo=timezone.utc)).order
    assert summer.resolution_due_at == datetime(2026, 4, 1, 21, 0, tzinfo=timezone.utc)
    urgent = submit(ctx, code="TRE", now=now).order
    assert urgent.resolution_due_at == now + timedelta(hours=2)


def test_an_overdue_request_raises_one_alarm_which_clears_when_the_department_responds(ctx):
    view = submit(ctx, code="TRE", now=utcnow() - timedelta(hours=1)).order  # 30 min to respond
    AssignOrder(ctx, AGENT, view.id)()
    assert order(ctx, view.id).clock.state == "overdue"
    assert check_overdue(ctx.engine, CATALOGUE) == [view.id]
    assert check_overdue(ctx.engine, CATALOGUE) == []  # once
    [alarm] = list_alarms(ctx.engine, AlarmFilter(rule_id="request-overdue"))
    assert alarm.active and alarm.device_id == f"work-order:{view.id}" and alarm.severity == "high"
    assert list_orders(ctx.engine, CATALOGUE, utcnow(), OrderFilter(overdue_only=True))[0].id == view.id
    AcceptOrder(ctx, PARKS, view.id)()  # the response clock stops; resolution (2h from receipt) still runs
    [alarm] = list_alarms(ctx.engine, AlarmFilter(rule_id="request-overdue", state="all"))
    assert not alarm.active and alarm.cleared_by == "pia"
    assert [f.kind for f in order_timeline(ctx.engine, view.id)].count("overdue") == 1


def test_a_due_soon_request_is_flagged_before_it_is_overdue(ctx):
    view = submit(ctx, code="TRE", now=utcnow() - timedelta(minutes=25)).order
    assert order(ctx, view.id).clock.state == "due_soon"  # 5 of 30 minutes left
    assert submit(ctx, code="TRE").order.clock.state == "on_time"


def test_a_nearby_request_of_the_same_service_is_offered_as_a_duplicate_and_merged_requests_close_together(ctx):
    first = submit(ctx).order
    second = submit(ctx, lat=60.1703, long=24.9402)  # about 35 m away
    far = submit(ctx, lat=60.176, long=24.950)
    other_service = submit(ctx, code="GRF")
    assert second.duplicates == (first.id,) and far.duplicates == () and other_service.duplicates == ()
    assert refusal(MergeOrder(ctx, AGENT, second.order.id, into_id=other_service.order.id)).field == "into_id"
    merged = MergeOrder(ctx, AGENT, second.order.id, into_id=first.id)()
    assert (merged.status, merged.merged_into) == ("merged", first.id)
    assert second.order.id not in [o.id for o in list_orders(ctx.engine, CATALOGUE, utcnow())]
    AssignOrder(ctx, AGENT, first.id)()
    AcceptOrder(ctx, ROADS, first.id)()
    ResolveOrder(ctx, ROADS, first.id, notes="Repaired")()
    CloseOrder(ctx, AGENT, first.id)()
    duplicate_updates = [p for t, p in ctx.published if t.endswith(f"/{second.request_id}/status")]
    assert duplicate_updates[-1]["status"] == "closed"
    assert duplicate_updates[-1]["status_notes"] == f"Merged with request {first.request_id}: Repaired"
    # the duplicate's citizen rates the order that answered them
    assert RateRequest(ctx, REPORTER, second.request_id, "satisfied")().satisfaction == "satisfied"


def test_a_dissatisfied_citizen_reopens_the_request_for_review_with_fresh_clocks(ctx):
    view = submit(ctx, now=utcnow() - timedelta(days=3)).order
    AssignOrder(ctx, AGENT, view.id)()
    first_response = AcceptOrder(ctx, ROADS, view.id)().accepted_at
    ResolveOrder(ctx, ROADS, view.id, notes="Done")()
    assert refusal(RateRequest(ctx, REPORTER, view.request_id, "meh")).field == "satisfaction"
    RateRequest(ctx, REPORTER, view.request_id, "dissatisfied", "the hole is still there")()
    reopened = order(ctx, view.id)
    assert (reopened.status, reopened.reopen_count, reopened.department) == ("reopened", 1, "roads")
    assert reopened.resolution_due_at > view.resolution_due_at and reopened.satisfaction == "dissatisfied"
    assert [f.kind for f in order_timeline(ctx.engine, view.id)][-2:] == ["rated", "reopened"]
    again = AcceptOrder(ctx, ROADS, view.id)()
    assert again.status == "accepted" and again.accepted_at == first_response  # the first response stays a fact
    ResolveOrder(ctx, ROADS, view.id, notes="Filled properly")()
    CloseOrder(ctx, AGENT, view.id)()
    assert ReopenOrder(ctx, AGENT, view.id, reason="review by the hotline")().status == "reopened"


def test_bulk_assign_assigns_what_it_can_and_says_why_not_for_the_rest(ctx):
    a, b = submit(ctx).order, submit(ctx, code="GRF").order
    odd = submit(ctx, code="???").order
    done, refused = assign_many(ctx, AGENT, [a.id, b.id, odd.id], None)
    assert {v.department for v in done} == {"roads", "sanitation"}
    assert [(order_id, r.field) for order_id, r in refused] == [(odd.id, "service_code")]


def report(request_id: str, code: str, status: str | None = None) -> CitizenReportIn:
    now = utcnow()
    return CitizenReportIn(external_id=request_id, service_code=code, service_name=None, description="seen",
                           address=None, lon=24.941, lat=60.171, status=status, requested_at=now, received_at=now,
                           time_from_receive=False)


def test_mqtt_reports_become_work_orders_or_for_emergencies_incidents_once(ctx):
    reports = [report("r-1", "POT"), report("r-2", "DRN"), report("r-3", "180"), report("r-4", "POT", "closed")]
    with session_scope(ctx.engine) as session:
        assert requests_from_reports(ctx, reports, session) == 3
    with session_scope(ctx.engine) as session:
        assert requests_from_reports(ctx, reports, session) == 0  # replayed
    orders = {o.request_id: o for o in list_orders(ctx.engine, CATALOGUE, utcnow())}
    assert set(orders) == {"r-1", "r-3"} and orders["r-3"].service_label == "Cleaning and snow clearing"
    assert [i.external_id for i in list_incidents(ctx.engine)] == ["open311:r-2"]


def test_a_citizen_apps_satisfaction_on_mqtt_closes_the_resolved_request_and_a_refused_one_is_kept(
        database_url, broker, tiny_city):
    from tests.integration.support import Publisher, count_rejections, make_settings, start_ingest

    running = start_ingest(make_settings(database_url, broker, tiny_city))
    publisher = Publisher("127.0.0.1", broker.port)
    try:
        context = RequestContext.of(running.runtime, publish=lambda topic, payload: False)
        root = running.runtime.settings.topic_root
        view = submit(context).order
        for step in (AssignOrder(context, AGENT, view.id), AcceptOrder(context, ROADS, view.id),
                     ResolveOrder(context, ROADS, view.id, notes="Filled")):
            step()
        publisher.publish_all([
            (f"{root}/requests/{view.request_id}/satisfaction",
             {"service_request_id": view.request_id, "satisfaction": "basically_satisfied", "comment": "slow"}),
            (f"{root}/requests/NO-SUCH/satisfaction", {"satisfaction": "satisfied"}),
            (f"{root}/requests/{view.request_id}/satisfaction", {"service_request_id": "other", "satisfaction": "x"}),
        ])
        closed = wait_until(lambda: (o := get_order(context.engine, CATALOGUE, utcnow(), view.id)).status == "closed"
                            and o, 20, message="the rated request to close")
        assert (closed.satisfaction, closed.satisfaction_comment) == ("basically_satisfied", "slow")
        rated = [f for f in order_timeline(context.engine, view.id) if f.kind == "rated"]
        assert [f.actor for f in rated] == ["citizen-app (mqtt)"]
        assert wait_until(lambda: count_rejections(context.engine).get("request_refused") == 1
                          and count_rejections(context.engine), 20, message="the refused answer kept")
        assert count_rejections(context.engine).get("invalid_value") == 1
    finally:
        publisher.close()
        running.close()


def test_the_same_satisfaction_answer_delivered_again_changes_nothing_but_a_new_resolution_takes_a_new_one(ctx):
    from services.requests.commands import rate

    view = submit(ctx).order
    AssignOrder(ctx, AGENT, view.id)()
    AcceptOrder(ctx, ROADS, view.id)()
    ResolveOrder(ctx, ROADS, view.id, notes="Done")()
    for _ in range(2):  # an MQTT QoS 1 redelivery
        with session_scope(ctx.engine) as session:
            rate(session, ctx, "app", view.request_id, "dissatisfied", "still there", utcnow())
    assert [f.kind for f in order_timeline(ctx.engine, view.id)].count("rated") == 1
    assert order(ctx, view.id).status == "reopened"
    AcceptOrder(ctx, ROADS, view.id)()
    ResolveOrder(ctx, ROADS, view.id, notes="Done properly")()
    with session_scope(ctx.engine) as session:
        rate(session, ctx, "app", view.request_id, "dissatisfied", "still there", utcnow())
    assert [f.kind for f in order_timeline(ctx.engine, view.id)].count("rated") == 2


def test_the_simulators_agent_and_departments_work_its_citizens_requests_through_the_commands(database_url, tiny_city):
    from services.config import Settings
    from services.simulator.hotline import HotlineDesk

    settings = Settings.from_env({}, database_url=database_url, city=str(tiny_city), topic_root="sim/city")
    engine = make_engine(database_url)
    migrate(engine)
    context = RequestContext(engine, load_city(tiny_city), lambda: CATALOGUE, "Europe/Helsinki", "sim/city")
    with session_scope(engine) as session:
        requests_from_reports(context, [report("S42-260312-080000", "POT"), report("S42-260312-080500", "POT"),
                                        report("CO-000009", "POT")], session)
    desk = HotlineDesk(settings, load_city(tiny_city), 42)
    try:
        sent, moment = [], utcnow()
        for _ in range(12):  # each look takes the next step of each order, once its time has come
            moment += timedelta(days=30)
            sent += desk(moment)
        orders = {o.request_id: o for o in list_orders(engine, CATALOGUE, utcnow(), OrderFilter(
            statuses=None, include_merged=True))}
    finally:
        desk.close()
        engine.dispose()
    first, second, persons = orders["S42-260312-080000"], orders["S42-260312-080500"], orders["CO-000009"]
    assert (first.status, second.status, second.merged_into) == ("resolved", "merged", first.id)
    assert persons.status == "received"  # a person's request is left to people
    assert [m.topic for m in sent] == ["sim/city/requests/S42-260312-080000/satisfaction"]
    with Session(engine) as session:
        actors = set(session.execute(select(AuditEntry.actor).where(AuditEntry.action.like("request.%"))).scalars())
    assert {"simulator: hotline agent", "simulator: roads staff"} <= actors


def test_a_system_principal_in_a_role_has_that_roles_rights_and_a_department_only_its_own_orders(ctx):
    view = submit(ctx).order
    AssignOrder(ctx, Principal.system("sim agent", role="agent"), view.id)()
    parks_staff = Principal.system("sim parks", role="department", department="parks")
    assert refusal(AcceptOrder(ctx, parks_staff, view.id)).status == 403
    assert refusal(AssignOrder(ctx, Principal.system("sim roads", role="department", department="roads"),
                               view.id)).status == 403
    assert AcceptOrder(ctx, Principal.system("sim roads", role="department", department="roads"),
                       view.id)().status == "accepted"


def test_an_order_of_the_past_being_played_raises_no_overdue_alarm_until_the_play_has_finished(ctx):
    from services.audit import record
    from services.simulator.history import FINISHED, STARTED

    view = submit(ctx, code="TRE", now=utcnow() - timedelta(hours=2)).order  # 30 min to respond: overdue
    played = {"from": "2026-01-01T00:00:00Z", "to": (utcnow() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
    with session_scope(ctx.engine) as session:
        record(session, "simulator: history", STARTED, "city:Helsinki", None, played)
    assert check_overdue(ctx.engine, CATALOGUE) == []  # the history works it at its past moments
    with session_scope(ctx.engine) as session:
        record(session, "simulator: history", FINISHED, "city:Helsinki", None, played)
    assert check_overdue(ctx.engine, CATALOGUE) == [view.id]  # left open by the past: overdue now
