"""Dispatch against a real broker and database (SQLite and PostgreSQL): reports become incidents,
dispatch publishes the SPEC cmd, unit replies drive the lifecycle, races have one winner, silence escalates."""
from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from flask import Flask
from sqlalchemy import select, update

from api.core import register_api
from services.auth import Principal, create_token
from services.config import PROJECT_ROOT
from services.devices import device_observations
from services.dispatch import (CreateIncident, DispatchContext, DispatchUnit, Refused, ResolveIncident, ReturnUnit,
                               UpdateIncident, units_back_home)
from services.incidents import get_incident, incident_timeline, list_incidents
from services.models import AuditEntry, ResponseUnit, utcnow
from services.runtime import start_scheduler
from services.telemetry import ObservationIn
from services.units import get_unit
from tests.brokers import wait_until
from tests.integration.support import Publisher, make_settings, start_ingest

HELSINKI = PROJECT_ROOT / "cities" / "helsinki"
DISPATCHER = Principal("dispatcher-a", "dispatcher")
HEART_ATTACK = {"category": "health", "subCategory": "heartAttack", "priority": "P1",
                "location": {"type": "Point", "coordinates": [24.9410, 60.1695]},
                "description": "Man collapsed at the station", "address": "Rautatientori"}


class CommandWatcher:
    """A plain paho subscriber on <root>/units/+/cmd."""

    def __init__(self, broker, root: str):
        self.messages: list[tuple[str, dict]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"watch-{uuid.uuid4().hex[:8]}")
        subscribed = threading.Event()
        self.client.on_message = lambda _c, _u, m: self.messages.append((m.topic, json.loads(m.payload)))
        self.client.on_subscribe = lambda *_a: subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe(f"{root}/units/+/cmd", qos=1)
        assert subscribed.wait(10), "subscription not acknowledged"

    def for_unit(self, unit_id: str, command: str | None = None) -> list[dict]:
        return [p for t, p in self.messages if t.endswith(f"/units/{unit_id}/cmd")
                and (command is None or p.get("command") == command)]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def city_running(database_url, broker, monkeypatch):
    monkeypatch.setenv("CITYOPS_DISPATCH_ACCEPT_TIMEOUT_S", "1")
    monkeypatch.setenv("CITYOPS_DISPATCH_CHECK_S", "0.3")
    running = start_ingest(make_settings(database_url, broker, HELSINKI))
    publisher = Publisher(broker.host, broker.port)
    watcher = CommandWatcher(broker, running.runtime.settings.topic_root)
    yield running, publisher, watcher, DispatchContext.of(running.runtime)
    watcher.close()
    publisher.close()
    running.close()


def _reply(publisher, root, unit_id, cmd_id, result):
    publisher.publish_all([(f"{root}/units/{unit_id}/cmdexe",
                            {"cmdId": cmd_id, "result": result, "at": utcnow().isoformat()})])


def test_citizen_report_on_reports_topic_becomes_a_queued_incident(city_running):
    running, publisher, _, _ = city_running
    root = running.runtime.settings.topic_root
    report = {"id": "urn:ngsi-ld:Open311ServiceRequest:r-1", "type": "Open311ServiceRequest",
              "service_request_id": "r-1", "service_code": "DRN", "service_name": "blocked drain",
              "description": "Drain overflowing at the crossing", "address_string": "Mannerheimintie 5",
              "location": {"type": "Point", "coordinates": [24.9405, 60.1690]},
              "requested_datetime": utcnow().isoformat()}
    publisher.publish_all([(f"{root}/reports", report), (f"{root}/reports", report)])  # a replay, too
    engine = running.runtime.engine
    incidents = wait_until(lambda: list_incidents(engine), 10, message="the report's incident")
    wait_until(lambda: running.ingest.stats.received >= 2, 10, message="both deliveries")
    assert len(list_incidents(engine)) == 1
    incident = incidents[0]
    assert (incident.source, incident.category, incident.sub_category) == ("citizen", "infrastructure", "blockedDrain")
    assert incident.priority == 3 and incident.status == "new"
    assert incident.address == "Mannerheimintie 5" and "overflowing" in incident.description
    assert [e.kind for e in incident_timeline(engine, incident.id)] == ["created"]


def test_dispatch_publishes_the_cmd_and_unit_replies_drive_incident_and_unit(city_running):
    running, publisher, watcher, ctx = city_running
    root, engine = running.runtime.settings.topic_root, running.runtime.engine
    incident = CreateIncident(ctx, DISPATCHER, HEART_ATTACK)()
    result = DispatchUnit(ctx, DISPATCHER, incident.id)()
    assert result.published and result.incident.status == "dispatched"
    unit_id = result.unit_id
    assert unit_id.startswith("amb-")

    commands = wait_until(lambda: watcher.for_unit(unit_id, "dispatch"), 10, message="the cmd on the broker")
    cmd = commands[0]
    assert set(cmd) >= {"cmdId", "command", "incidentId", "destination", "route", "etaSeconds", "issuedAt"}
    assert cmd["incidentId"] == str(incident.id)
    assert cmd["destination"] == {"type": "Point", "coordinates": [24.9410, 60.1695]}
    assert cmd["route"]["type"] == "LineString" and len(cmd["route"]["coordinates"]) >= 2
    assert cmd["etaSeconds"] == pytest.approx(result.eta_seconds, abs=0.1) and cmd["etaSeconds"] > 0
    assert get_unit(engine, unit_id).status == "dispatched"

    expected = (("accepted", "en_route", "en_route"), ("arrived", "on_scene", "on_scene"),
                ("cleared", "resolved", "returning"))
    for answer, incident_status, unit_status in expected:
        _reply(publisher, root, unit_id, cmd["cmdId"], answer)
        wait_until(lambda status=incident_status: get_incident(engine, incident.id).status == status, 10,
                   message=f"incident {incident_status} after {answer}")
        assert get_unit(engine, unit_id).status == unit_status
    unit = get_unit(engine, unit_id)
    assert unit.incident_id is None

    # the unit reports itself parked at base: available again
    publisher.publish_all([(f"{root}/units/{unit_id}/state", {
        "id": f"urn:ngsi-ld:Vehicle:{unit_id}", "type": "Vehicle", "vehicleType": "ambulance",
        "location": {"type": "Point", "coordinates": [24.9380, 60.1694]}, "serviceStatus": "parked",
        "speed": 0, "bearing": 0, "observationDateTime": utcnow().isoformat()})])
    wait_until(lambda: get_unit(engine, unit_id).status == "available", 10, message="the unit available again")

    kinds = [(e.kind, e.status_after) for e in incident_timeline(engine, incident.id)]
    assert kinds == [("created", "new"), ("dispatched", "dispatched"), ("status", "en_route"),
                     ("status", "on_scene"), ("status", "resolved")]
    with engine.connect() as connection:
        actions = [row.action for row in connection.execute(select(AuditEntry.action).order_by(AuditEntry.id))]
    assert {"incident.create", "incident.dispatch", "unit.dispatch", "incident.cleared"} <= set(actions)

    # resolved -> closed by hand; closed is final
    assert UpdateIncident(ctx, DISPATCHER, incident.id, {"status": "closed"})().status == "closed"
    with pytest.raises(Refused) as refused:
        UpdateIncident(ctx, DISPATCHER, incident.id, {"status": "new"})()
    assert refused.value.status == 409 and "closed" in refused.value.message


def test_same_unit_sent_by_two_dispatchers_at_once_has_exactly_one_winner(city_running):
    running, _, watcher, ctx = city_running
    first = CreateIncident(ctx, DISPATCHER, HEART_ATTACK)()
    second = CreateIncident(ctx, DISPATCHER, {**HEART_ATTACK, "description": "Cyclist fell",
                                              "location": {"type": "Point", "coordinates": [24.9420, 60.1700]}})()
    barrier = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def send(name: str, incident_id: int) -> None:
        command = DispatchUnit(ctx, Principal(name, "dispatcher"), incident_id, "amb-2")
        command.validate()  # both see amb-2 available
        barrier.wait(5)
        try:
            outcomes[name] = command.run()
        except Refused as error:
            outcomes[name] = error

    threads = [threading.Thread(target=send, args=("dispatcher-a", first.id)),
               threading.Thread(target=send, args=("dispatcher-b", second.id))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refusals = [o for o in outcomes.values() if isinstance(o, Refused)]
    wins = [o for o in outcomes.values() if not isinstance(o, Refused)]
    assert len(wins) == 1 and len(refusals) == 1, outcomes
    assert refusals[0].code == "unit_unavailable" and refusals[0].status == 409
    assert "amb-2" in refusals[0].message and f"incident #{wins[0].incident.id}" in refusals[0].message
    engine = running.runtime.engine
    statuses = sorted(get_incident(engine, i).status for i in (first.id, second.id))
    assert statuses == ["dispatched", "new"]
    assert get_unit(engine, "amb-2").incident_id == wins[0].incident.id
    wait_until(lambda: len(watcher.for_unit("amb-2", "dispatch")) == 1, 10, message="one cmd")


def test_unit_that_never_accepts_escalates_and_the_incident_returns_to_the_queue(city_running):
    running, _, watcher, ctx = city_running
    engine = running.runtime.engine
    assert ctx.config.accept_timeout_s == 1
    scheduler = start_scheduler(running.runtime)  # the ingest role's job checks every 0.3 s here
    try:
        incident = CreateIncident(ctx, DISPATCHER, HEART_ATTACK)()
        silent = DispatchUnit(ctx, DISPATCHER, incident.id)().unit_id
        escalated = wait_until(lambda: (lambda i: i if i.escalated else None)(get_incident(engine, incident.id)),
                               10, message="the escalation")
    finally:
        scheduler.shutdown(wait=False)
    assert escalated.status == "new" and escalated.unit_id is None
    assert silent in escalated.escalation_reason and "did not accept" in escalated.escalation_reason
    assert get_unit(engine, silent).status == "available"
    timeline = incident_timeline(engine, incident.id)
    assert [e.kind for e in timeline][-2:] == ["escalated", "recommendation"]
    assert silent not in timeline[-1].message  # the fresh recommendation is another unit
    wait_until(lambda: watcher.for_unit(silent, "cancel"), 10, message="a cancel to the silent unit")
    # back in the queue: the top recommendation is dispatched next, not the silent unit
    again = DispatchUnit(ctx, DISPATCHER, incident.id)()
    assert again.unit_id != silent and get_incident(engine, incident.id).escalated is False


def test_return_to_base_recalls_the_unit_and_requeues_its_incident(city_running):
    running, _, watcher, ctx = city_running
    engine = running.runtime.engine
    incident = CreateIncident(ctx, DISPATCHER, {**HEART_ATTACK, "category": "fire", "subCategory": "buildingFire"})()
    unit_id = DispatchUnit(ctx, DISPATCHER, incident.id)().unit_id
    assert unit_id.startswith("fire-")
    answer = ReturnUnit(ctx, DISPATCHER, unit_id)()
    assert answer["command"] == "cancel"
    assert get_unit(engine, unit_id).status == "returning"
    assert get_incident(engine, incident.id).status == "new"
    wait_until(lambda: watcher.for_unit(unit_id, "cancel"), 10, message="the cancel cmd")


def _on_scene(city_running, body=HEART_ATTACK):
    """An incident whose unit accepted and arrived (the unit's replies on the broker)."""
    running, publisher, watcher, ctx = city_running
    root, engine = running.runtime.settings.topic_root, running.runtime.engine
    incident = CreateIncident(ctx, DISPATCHER, body)()
    sent = DispatchUnit(ctx, DISPATCHER, incident.id)()
    for answer, status in (("accepted", "en_route"), ("arrived", "on_scene")):
        _reply(publisher, root, sent.unit_id, sent.cmd_id, answer)
        wait_until(lambda status=status: get_incident(engine, incident.id).status == status, 10,
                   message=f"incident {status} after {answer}")
    return incident, sent.unit_id


def test_resolving_an_incident_on_scene_closes_it_with_its_outcome_and_sends_its_unit_back(city_running):
    running, _, watcher, ctx = city_running
    engine = running.runtime.engine
    incident, unit_id = _on_scene(city_running)
    resolved = ResolveIncident(ctx, DISPATCHER, incident.id,
                               {"outcome": "Patient stabilised, taken to Meilahti", "disposition": "transported"})()
    assert resolved.status == "closed" and resolved.unit_id is None
    assert resolved.resolved_at is not None and resolved.closed_at is not None
    unit = get_unit(engine, unit_id)
    assert unit.status == "returning" and unit.incident_id is None
    wait_until(lambda: watcher.for_unit(unit_id, "return"), 10, message="the return cmd on the broker")
    last = incident_timeline(engine, incident.id)[-1]
    assert (last.kind, last.actor, last.status_before, last.status_after) == ("resolved", "dispatcher-a",
                                                                              "on_scene", "closed")
    assert last.detail["outcome"] == "Patient stabilised, taken to Meilahti"
    assert last.detail["disposition"] == "transported" and last.detail["released"] == [unit_id]
    assert "Transported" in last.message
    with engine.connect() as connection:
        audit = connection.execute(select(AuditEntry).where(AuditEntry.action == "incident.resolve")).one()
    assert audit.actor == "dispatcher-a" and audit.after["disposition"] == "transported"
    with pytest.raises(Refused) as again:
        ResolveIncident(ctx, DISPATCHER, incident.id, {"outcome": "twice", "disposition": "false_alarm"})()
    assert again.value.status == 409 and "already closed" in again.value.message


def test_returning_a_unit_from_the_scene_leaves_its_incident_on_scene_not_back_in_the_queue(city_running):
    running, _, watcher, ctx = city_running
    engine = running.runtime.engine
    incident, unit_id = _on_scene(city_running)
    answer = ReturnUnit(ctx, DISPATCHER, unit_id)()
    assert answer["command"] == "return"
    handled = get_incident(engine, incident.id)
    assert handled.status == "on_scene" and handled.unit_id is None and not handled.escalated
    assert get_unit(engine, unit_id).status == "returning"
    assert incident_timeline(engine, incident.id)[-1].kind == "unit_left"
    wait_until(lambda: watcher.for_unit(unit_id, "return"), 10, message="the return cmd")
    # still the dispatcher's to close, with no unit left to release
    closed = ResolveIncident(ctx, DISPATCHER, incident.id, {"outcome": "done", "disposition": "treated_on_scene"})()
    assert closed.status == "closed"
    assert incident_timeline(engine, incident.id)[-1].detail["released"] == []


# ---------------------------------------------------------------- the REST API

@pytest.fixture
def api(city_running):
    running = city_running[0]
    server = Flask("dispatch-api-test")
    register_api(server)
    client = server.test_client()
    engine = running.runtime.engine
    tokens = {role: create_token(engine, f"{role}-1", role) for role in ("dispatcher", "manager", "display")}
    return client, tokens, running


def _auth(token):
    return {"Authorization": f"Bearer {token}"}


def test_api_creates_recommends_dispatches_and_refuses_with_reasons(api):
    client, tokens, running = api
    response = client.post("/api/v1/incidents", json=HEART_ATTACK, headers=_auth(tokens["dispatcher"]))
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["severity"] == "critical" and created["status"] == "new" and created["source"] == "api"

    ranked = client.get(f"/api/v1/incidents/{created['id']}/recommendations", headers=_auth(tokens["display"]))
    candidates = ranked.get_json()["candidates"]
    assert candidates and all(c["kind"] == "ambulance" for c in candidates)
    assert [c["eta_seconds"] for c in candidates] == sorted(c["eta_seconds"] for c in candidates)
    assert candidates[0]["route"]["type"] == "LineString"

    assert client.post(f"/api/v1/incidents/{created['id']}/dispatch", json={"unit_id": "amb-1"},
                       headers=_auth(tokens["manager"])).status_code == 403
    fire = client.post(f"/api/v1/incidents/{created['id']}/dispatch", json={"unit_id": "fire-1"},
                       headers=_auth(tokens["dispatcher"]))
    assert fire.status_code == 409 and fire.get_json()["error"]["code"] == "not_capable"
    chosen = candidates[-1]["unit_id"]
    sent = client.post(f"/api/v1/incidents/{created['id']}/dispatch", json={"unit_id": chosen},
                       headers=_auth(tokens["dispatcher"]))
    assert sent.status_code == 200 and sent.get_json()["unit_id"] == chosen
    again = client.post(f"/api/v1/incidents/{created['id']}/dispatch", json={},
                        headers=_auth(tokens["dispatcher"]))
    assert again.status_code == 409 and "dispatched" in again.get_json()["error"]["message"]

    detail = client.get(f"/api/v1/incidents/{created['id']}", headers=_auth(tokens["display"])).get_json()
    assert [e["kind"] for e in detail["timeline"]] == ["created", "dispatched"]
    units = client.get("/api/v1/units", headers=_auth(tokens["display"])).get_json()["units"]
    assert next(u for u in units if u["id"] == chosen)["incident_id"] == created["id"]
    listed = client.get("/api/v1/incidents?status=dispatched", headers=_auth(tokens["display"])).get_json()
    assert [i["id"] for i in listed["incidents"]] == [created["id"]]

    cancelled = client.post(f"/api/v1/incidents/{created['id']}/cancel", headers=_auth(tokens["dispatcher"]))
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert get_unit(running.runtime.engine, chosen).status == "returning"
    with running.runtime.engine.connect() as connection:
        audit = connection.execute(select(AuditEntry).where(AuditEntry.target == f"incident:{created['id']}")
                                   .order_by(AuditEntry.id)).all()
    assert [(a.actor, a.action) for a in audit] == [("dispatcher-1", "incident.create"),
                                                    ("dispatcher-1", "incident.dispatch"),
                                                    ("dispatcher-1", "incident.update")]
    assert audit[-1].before["status"] == "dispatched" and audit[-1].after["status"] == "cancelled"


BAD_INPUT = [
    ({**HEART_ATTACK, "category": "spaceship"}, "category"),
    ({**HEART_ATTACK, "subCategory": "flood"}, "subCategory"),
    ({**HEART_ATTACK, "priority": 7}, "priority"),
    ({**HEART_ATTACK, "location": {"type": "Point", "coordinates": [2.35, 48.85]}}, "location"),
    ({"category": "health"}, "location"),
]


def test_api_bad_incident_input_is_a_4xx_json_error_with_its_field(api):
    client, tokens, _ = api
    for body, field in BAD_INPUT:
        response = client.post("/api/v1/incidents", json=body, headers=_auth(tokens["dispatcher"]))
        assert response.status_code == 422, body
        assert response.get_json()["error"]["field"] == field, body
    assert client.post("/api/v1/incidents", data="{nope", headers={**_auth(tokens["dispatcher"]),
                       "Content-Type": "application/json"}).status_code == 400
    assert client.get("/api/v1/incidents/999999", headers=_auth(tokens["display"])).status_code == 404
    assert client.post("/api/v1/incidents", json=HEART_ATTACK, headers=_auth(tokens["display"])).status_code == 403
    patched = client.patch("/api/v1/incidents/999999", json={"priority": 2}, headers=_auth(tokens["dispatcher"]))
    assert patched.status_code == 404 and patched.get_json()["error"]["code"] == "not_found"


def test_a_fix_outside_the_city_or_at_an_impossible_speed_is_kept_flagged_but_does_not_move_the_unit(city_running):
    running, publisher, _, _ = city_running
    root, engine, city = running.runtime.settings.topic_root, running.runtime.engine, running.runtime.city
    start = utcnow() - timedelta(minutes=5)

    def fix(seconds: float, lon: float, lat: float, status: str = "onRoute") -> tuple[str, dict]:
        return (f"{root}/units/amb-1/state", {
            "id": "urn:ngsi-ld:Vehicle:amb-1", "type": "Vehicle", "vehicleType": "ambulance",
            "location": {"type": "Point", "coordinates": [lon, lat]}, "serviceStatus": status, "speed": 40,
            "observationDateTime": (start + timedelta(seconds=seconds)).isoformat()})

    def position() -> tuple[float | None, float | None]:
        unit = get_unit(engine, "amb-1")
        return unit.lon, unit.lat

    def stored_flags() -> list[list[str]]:
        return [o.flags for o in device_observations(engine, "amb-1")]

    publisher.publish_all([fix(0, 24.9380, 60.1694)])
    wait_until(lambda: position() == (24.9380, 60.1694), 10, message="the first fix")
    jump = (24.9380 + 0.05, 60.1694)  # ~2.8 km in 2 s: 5,000 km/h, yet inside the city's area
    assert city.is_in_area(*jump)
    publisher.publish_all([fix(5, 2.3522, 48.8566), fix(7, *jump)])  # Paris, then the jump
    wait_until(lambda: len(stored_flags()) == 3, 10, message="both bad fixes stored")
    assert stored_flags()[1:] == [["out_of_area"], ["impossible_speed"]]
    assert position() == (24.9380, 60.1694)

    publisher.publish_all([fix(60, 24.9420, 60.1700)])  # ~250 m in 60 s from the last good fix: it drives
    wait_until(lambda: position() == (24.9420, 60.1700), 10, message="a plausible fix to move the unit")
    assert stored_flags()[-1] == []


def test_a_returning_unit_is_not_made_available_by_an_impossible_fix_saying_parked(city_running):
    running, _, _, ctx = city_running
    engine = running.runtime.engine
    with engine.begin() as connection:
        connection.execute(update(ResponseUnit).where(ResponseUnit.unit_id == "amb-2").values(status="returning"))

    def parked(*flags: str) -> ObservationIn:
        return ObservationIn("amb-2", "Vehicle", utcnow(), utcnow(), 24.94, 60.17, {"serviceStatus": "parked"},
                             flags=flags)

    assert units_back_home(ctx, (parked("impossible_speed"), parked("out_of_area"))) == 0
    assert get_unit(engine, "amb-2").status == "returning"
    assert units_back_home(ctx, (parked(),)) == 1
    assert get_unit(engine, "amb-2").status == "available"


REQUESTED_AT = utcnow().replace(microsecond=0) - timedelta(hours=1)


def citizen_request(request_id: str, status: str = "open", updated_minutes: float | None = None,
                    description: str = "Drain overflowing at the crossing") -> dict:
    report = {"id": f"urn:ngsi-ld:Open311ServiceRequest:{request_id}", "type": "Open311ServiceRequest",
              "service_request_id": request_id, "service_code": "DRN", "service_name": "blocked drain",
              "description": description, "address_string": "Mannerheimintie 5", "status": status,
              "location": {"type": "Point", "coordinates": [24.9405, 60.1690]},
              "requested_datetime": REQUESTED_AT.isoformat()}
    if updated_minutes is not None:
        report["updated_datetime"] = (REQUESTED_AT + timedelta(minutes=updated_minutes)).isoformat()
    return report


def incidents_of(engine, request_id: str):
    return [i for i in list_incidents(engine, statuses=None) if i.external_id == f"open311:{request_id}"]


def test_a_citizen_request_received_again_closed_cancels_its_queued_incident_and_opens_no_other(city_running):
    running, publisher, _, _ = city_running
    root, engine = running.runtime.settings.topic_root, running.runtime.engine
    publisher.publish_all([(f"{root}/reports", citizen_request("r-7", updated_minutes=1))])
    [incident] = wait_until(lambda: incidents_of(engine, "r-7"), 10, message="the request's incident")
    assert incident.status == "new"

    publisher.publish_all([(f"{root}/reports", citizen_request("r-7", "closed", updated_minutes=20))])
    wait_until(lambda: incidents_of(engine, "r-7")[0].status == "cancelled", 10, message="the incident cancelled")
    # a late, older update and a redelivery change nothing; a marker request shows they were handled
    publisher.publish_all([(f"{root}/reports", citizen_request("r-7", "open", updated_minutes=10)),
                           (f"{root}/reports", citizen_request("r-7", "closed", updated_minutes=20)),
                           (f"{root}/reports", citizen_request("r-marker"))])
    wait_until(lambda: incidents_of(engine, "r-marker"), 10, message="the marker request's incident")
    [incident] = incidents_of(engine, "r-7")
    assert incident.status == "cancelled"
    events = [(e.kind, e.status_before, e.status_after) for e in incident_timeline(engine, incident.id)]
    assert events == [("created", "", "new"), ("status", "new", "cancelled")]


def test_a_newer_update_of_a_request_a_unit_is_on_goes_on_its_timeline_and_leaves_the_dispatch(city_running):
    running, publisher, _, ctx = city_running
    root, engine = running.runtime.settings.topic_root, running.runtime.engine
    publisher.publish_all([(f"{root}/reports", citizen_request("r-5", updated_minutes=1))])
    [incident] = wait_until(lambda: incidents_of(engine, "r-5"), 10, message="the request's incident")
    DispatchUnit(ctx, DISPATCHER, incident.id)()

    publisher.publish_all([(f"{root}/reports", citizen_request("r-5", "closed", updated_minutes=5))])
    wait_until(lambda: [e for e in incident_timeline(engine, incident.id) if e.actor == "citizen-report"
                        and e.kind == "updated"], 10, message="the update on the timeline")
    [incident] = incidents_of(engine, "r-5")
    assert incident.status == "dispatched"


def test_a_citizen_request_closed_before_it_was_ever_seen_opens_no_incident(city_running):
    running, publisher, _, _ = city_running
    root, engine = running.runtime.settings.topic_root, running.runtime.engine
    publisher.publish_all([(f"{root}/reports", citizen_request("r-8", "closed")),
                           (f"{root}/reports", citizen_request("r-9"))])
    wait_until(lambda: incidents_of(engine, "r-9"), 10, message="the open request's incident")
    assert incidents_of(engine, "r-8") == []


def test_api_resolve_closes_a_handled_incident_and_refuses_bad_input_or_a_final_state(api, city_running):
    client, tokens, running = api
    engine = running.runtime.engine
    incident, unit_id = _on_scene(city_running)
    path = f"/api/v1/incidents/{incident.id}/resolve"
    dispatcher = _auth(tokens["dispatcher"])
    for body, field in (({"disposition": "transported"}, "outcome"), ({"outcome": "  ", "disposition": "transported"},
                        "outcome"), ({"outcome": "ok", "disposition": "vanished"}, "disposition"),
                        ({"outcome": "ok"}, "disposition"), ({"outcome": 5, "disposition": "referred"}, "outcome")):
        response = client.post(path, json=body, headers=dispatcher)
        assert response.status_code == 422 and response.get_json()["error"]["field"] == field, body
    assert client.post(path, data="[", headers={**dispatcher, "Content-Type": "application/json"}).status_code == 400
    assert client.post(path, json={"outcome": "ok", "disposition": "referred"},
                       headers=_auth(tokens["manager"])).status_code == 403
    assert client.post("/api/v1/incidents/999999/resolve", json={"outcome": "ok", "disposition": "referred"},
                       headers=dispatcher).status_code == 404
    assert get_incident(engine, incident.id).status == "on_scene"  # nothing changed by the refusals

    done = client.post(path, json={"outcome": "Minor cut, patched up", "disposition": "treated_on_scene"},
                       headers=dispatcher)
    assert done.status_code == 200 and done.get_json()["status"] == "closed"
    assert get_unit(engine, unit_id).status == "returning"
    timeline = client.get(f"/api/v1/incidents/{incident.id}", headers=_auth(tokens["display"])).get_json()["timeline"]
    assert timeline[-1]["kind"] == "resolved" and timeline[-1]["actor"] == "dispatcher-1" and timeline[-1]["at"]
    assert timeline[-1]["detail"]["outcome"] == "Minor cut, patched up"
    again = client.post(path, json={"outcome": "again", "disposition": "referred"}, headers=dispatcher)
    assert again.status_code == 409 and "already closed" in again.get_json()["error"]["message"]

    queued = client.post("/api/v1/incidents", json=HEART_ATTACK, headers=dispatcher).get_json()
    assert client.post(f"/api/v1/incidents/{queued['id']}/cancel", headers=dispatcher).status_code == 200
    cancelled = client.post(f"/api/v1/incidents/{queued['id']}/resolve",
                            json={"outcome": "x", "disposition": "false_alarm"}, headers=dispatcher)
    assert cancelled.status_code == 409 and "already cancelled" in cancelled.get_json()["error"]["message"]


def test_a_units_reply_read_before_a_resolve_commits_never_reopens_the_closed_incident(city_running):
    """The reactions read the command and the incident, a dispatcher resolves the incident meanwhile,
    then the unit's "accepted" is applied: the closed incident stays closed (it came back as en_route)."""
    from services.db import session_scope
    from services.dispatch import apply_reply
    from services.models.dispatch import Incident, UnitCommand
    from services.telemetry import CommandReplyIn

    running, _, _, ctx = city_running
    engine = running.runtime.engine
    incident = CreateIncident(ctx, DISPATCHER, HEART_ATTACK)()
    sent = DispatchUnit(ctx, DISPATCHER, incident.id)()
    with session_scope(engine) as session:
        seen = session.get(UnitCommand, sent.cmd_id), session.get(Incident, incident.id)  # read first, kept
        assert (seen[0].state, seen[1].status) == ("sent", "dispatched")
        ResolveIncident(ctx, DISPATCHER, incident.id, {"outcome": "false alarm", "disposition": "false_alarm"})()
        assert apply_reply(ctx, CommandReplyIn(sent.unit_id, sent.cmd_id, "accepted", utcnow(), utcnow()),
                           session) is None
    after = get_incident(engine, incident.id)
    assert (after.status, after.unit_id) == ("closed", None)
