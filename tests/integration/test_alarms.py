"""Alarms end to end: a real broker, a real ingest, the rules, the database (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from services.access.principal import Principal
from services.config import Settings
from services.alarms import AcknowledgeAlarm, ClearAlarm, IncidentRequest, list_alarms, AlarmFilter, alarm_history
from services.alarms import open_incident_for_alarm
from services.models import Alarm, AuditEntry, utcnow
from services.rules import alarm_service, schedule_alarm_jobs
from tests.brokers import wait_until
from tests.integration.support import Publisher, count_observations, make_settings, retained_messages, start_ingest

RULES = """
rules:
  - id: water-alert
    name: Water level at alert level
    entity_type: [FloodMonitoring, WaterObserved]
    metric: water_level
    op: ">="
    threshold: device.alert_level
    for: 60s
    clear_threshold: device.alert_level - 0.05
    clear_for: 60s
    severity: high
    escalate_after: 2s
    min_reraise: 10m
    category: weather
    sub_category: flood
  - id: water-danger
    name: Water level at danger level
    entity_type: FloodMonitoring
    metric: currentLevel
    op: ">="
    threshold: device.danger_level
    for: 30s
    severity: critical
    incident: auto
    incident_category: naturalDisaster
    incident_sub_category: flood
    incident_priority: 1
    category: weather
    sub_category: flood
  - id: device-offline
    name: Device silent
    kind: silence
    entity_type: [AirQualityObserved, FloodMonitoring]
    intervals: 3
    severity: low
    category: infrastructure
    sub_category: deviceOffline
"""

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)

OPERATOR = Principal("operator-1", "dispatcher", kind="user")


def flood(seconds: int, level: float) -> dict:
    moment = T0 + timedelta(seconds=seconds)
    return {"id": "urn:ngsi-ld:FloodMonitoring:flood-1", "type": "FloodMonitoring", "currentLevel": level,
            "observationDateTime": moment.isoformat().replace("+00:00", "Z")}


@pytest.fixture
def city(database_url, broker, tiny_city, tmp_path):
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES)
    running = start_ingest(make_settings(database_url, broker, tiny_city, rules_file=rules_file))
    publisher = Publisher(broker.host, broker.port)
    yield running, publisher
    publisher.close()
    running.close()
    alarm_service(running.runtime).close()


def send(city, readings, device="flood-1", topic_device: str | None = None) -> None:
    """Publishes the readings on the device's topic (or ``topic_device``'s, a gateway's)."""
    running, publisher = city
    root = running.runtime.settings.topic_root
    before = count_observations(running.runtime.engine, device)
    publisher.publish_all([(f"{root}/telemetry/{topic_device or device}", entity) for entity in readings])
    wait_until(lambda: count_observations(running.runtime.engine, device) >= before + len(readings), 10,
               message="the readings to be stored")
    wait_until(lambda: running.ingest.stats.stored >= before + len(readings), 10, message="the batch")


def alarms(city, rule_id: str | None = None):
    engine = city[0].runtime.engine
    return list_alarms(engine, AlarmFilter(state="all", rule_id=rule_id))


def settle(city) -> None:
    """Waits until the ingest has stored everything received and the reactions have caught up."""
    running = city[0]
    ingest = running.ingest
    wait_until(lambda: ingest._queue is not None and ingest._queue._unfinished_tasks == 0, 10, message="idle ingest")
    wait_until(running.runtime.reactions().caught_up, 10, message="the reactions to catch up")


def test_level_held_above_alert_for_the_rules_duration_raises_exactly_one_alarm(city):
    send(city, [flood(0, 1.0), flood(30, 1.25), flood(60, 1.3)])
    settle(city)
    assert alarms(city) == []  # above the alert level for 30 s of observation time: not yet
    send(city, [flood(90, 1.32), flood(120, 1.35), flood(150, 1.4)])
    found = wait_until(lambda: alarms(city, "water-alert"), 10, message="the alarm")
    settle(city)
    found = alarms(city)
    assert len(found) == 1
    alarm = found[0]
    assert (alarm.rule_id, alarm.device_id, alarm.severity) == ("water-alert", "flood-1", "high")
    assert alarm.active and not alarm.acknowledged and alarm.repeat_count == 0
    assert alarm.started_at == T0 + timedelta(seconds=30)  # when the condition began, in observation time
    assert alarm.threshold == 1.2 and alarm.district == "East"


def test_readings_relayed_by_a_gateway_raise_the_alarm_of_their_own_device(city):
    # flood-1's entities on a gateway's topic: its own id, registered location, thresholds and district
    send(city, [flood(0, 1.3), flood(60, 1.35)], topic_device="harbour-gateway")
    found = wait_until(lambda: alarms(city, "water-alert"), 10, message="the alarm")
    assert [(a.device_id, a.threshold, a.district) for a in found] == [("flood-1", 1.2, "East")]


def test_a_water_station_outside_the_registry_raises_on_the_levels_it_reports(city):
    def gauge(seconds: int, height: float) -> dict:
        moment = T0 + timedelta(seconds=seconds)
        return {"id": "urn:ngsi-ld:WaterObserved:river-9", "type": "WaterObserved", "height": height,
                "alertLevel": 1.0, "dangerLevel": 3.0, "location": {"type": "Point", "coordinates": [24.945, 60.17]},
                "dateObserved": moment.isoformat().replace("+00:00", "Z")}

    send(city, [gauge(0, 1.1), gauge(30, 1.2), gauge(60, 1.3)], device="river-9")
    [alarm] = wait_until(lambda: alarms(city, "water-alert"), 10, message="the alarm")
    assert (alarm.device_id, alarm.threshold, alarm.active) == ("river-9", 1.0, True)


def test_readings_bouncing_inside_the_hysteresis_do_not_raise_a_second_alarm(city):
    send(city, [flood(0, 1.3), flood(60, 1.3)])
    wait_until(lambda: alarms(city), 10, message="the alarm")
    # around the alert level (1.2) but never below the clearing level (1.15) for 60 s
    send(city, [flood(90, 1.18), flood(120, 1.25), flood(150, 1.16), flood(180, 1.22), flood(200, 1.12),
                flood(230, 1.19), flood(260, 1.3)])
    settle(city)
    found = alarms(city)
    assert len(found) == 1 and found[0].active and found[0].repeat_count == 0
    # below the clearing level for 60 s: cleared
    send(city, [flood(300, 1.1), flood(330, 1.05), flood(360, 1.0)])
    wait_until(lambda: not alarms(city)[0].active, 10, message="the clear")
    # back above within min_reraise: the same alarm comes back, counted, not a new one
    send(city, [flood(400, 1.3), flood(460, 1.31)])
    wait_until(lambda: alarms(city)[0].active, 10, message="the re-activation")
    found = alarms(city)
    assert len(found) == 1 and found[0].repeat_count == 1
    kinds = [event.kind for event in alarm_history(city[0].runtime.engine, found[0].id)]
    assert kinds == ["raised", "cleared", "reactivated"]


def test_silent_device_raises_the_offline_alarm_and_clears_when_it_reports(city):
    running, _ = city
    now = utcnow().replace(microsecond=0)
    air = {"id": "air-9", "type": "AirQualityObserved", "pm25": 5, "dateObserved": now.isoformat(),
           "location": {"type": "Point", "coordinates": [24.941, 60.171]}}
    send(city, [air], device="air-9")
    engine = alarm_service(running.runtime).engine
    assert engine.check_silence(now=now + timedelta(seconds=170)) == (0, 0)
    assert engine.check_silence(now=now + timedelta(seconds=181)) == (1, 0)  # 3 x its 60 s interval
    found = alarms(city, "device-offline")
    assert [(a.device_id, a.severity, a.category, a.sub_category) for a in found] == [
        ("air-9", "low", "infrastructure", "deviceOffline")]
    assert engine.check_silence(now=now + timedelta(seconds=400)) == (0, 0)  # one alarm, not one per check
    send(city, [{**air, "dateObserved": (now + timedelta(seconds=300)).isoformat()}], device="air-9")
    assert engine.check_silence(now=now + timedelta(seconds=310)) == (0, 1)  # it reports again: cleared
    assert not alarms(city, "device-offline")[0].active


def test_unacknowledged_alarm_escalates_and_an_acknowledged_one_does_not(city):
    running, _ = city
    send(city, [flood(0, 1.3), flood(60, 1.3)])
    alarm = wait_until(lambda: alarms(city, "water-alert"), 10, message="the alarm")[0]
    engine = alarm_service(running.runtime).engine
    assert engine.escalate(now=utcnow()) == []  # 2 s have not passed
    escalated = engine.escalate(now=utcnow() + timedelta(seconds=3))
    assert [(a.id, a.severity, a.escalation_level, a.escalated) for a in escalated] == [(alarm.id, "critical", 1, True)]
    assert engine.escalate(now=utcnow() + timedelta(seconds=60)) == []  # critical is the top
    # the scheduler of the ingest role runs it
    scheduler = BackgroundScheduler()
    schedule_alarm_jobs(scheduler, running.runtime)
    assert {"alarms-escalation", "alarms-silence", "alarms-publish"} <= {job.id for job in scheduler.get_jobs()}


def test_acknowledged_alarm_is_not_escalated(city):
    running, _ = city
    send(city, [flood(0, 1.3), flood(60, 1.3)])
    alarm = wait_until(lambda: alarms(city, "water-alert"), 10, message="the alarm")[0]
    AcknowledgeAlarm(running.runtime.engine, OPERATOR, alarm.id).validate().run()
    assert alarm_service(running.runtime).engine.escalate(now=utcnow() + timedelta(seconds=30)) == []


def test_alarm_with_auto_incident_opens_one_incident_once(city):
    from services.incidents import list_incidents

    running, _ = city
    send(city, [flood(0, 2.1), flood(30, 2.2)])
    alarm = wait_until(lambda: [a for a in alarms(city, "water-danger") if a.incident_id], 10,
                       message="the alarm's incident")[0]
    # the condition repeats, an operator clicks "open incident": still the one incident
    send(city, [flood(60, 2.3), flood(90, 2.3)])
    settle(city)
    again = open_incident_for_alarm(running.runtime.engine, alarm.id, "operator-1",
                                    IncidentRequest("naturalDisaster", "flood", 1), running.runtime)
    assert again == alarm.incident_id
    assert len(alarms(city, "water-danger")) == 1
    opened = [i for i in list_incidents(running.runtime.engine, statuses=None) if i.source == "alarm"]
    assert [(i.id, i.external_id, i.priority, i.category, i.sub_category, i.drill) for i in opened] == [
        (alarm.incident_id, f"alarm:{alarm.id}", 1, "naturalDisaster", "flood", None)]


def test_a_drill_alarms_incident_is_a_drill_from_the_moment_it_is_created(city):
    running, _ = city
    send(city, [{**flood(0, 2.1), "drill": "storm"}, {**flood(30, 2.2), "drill": "storm"}])
    alarm = wait_until(lambda: [a for a in alarms(city, "water-danger") if a.incident_id], 10,
                       message="the drill alarm's incident")[0]
    assert alarm.drill == "storm"
    with running.runtime.engine.connect() as connection:
        created = connection.execute(select(AuditEntry).where(
            AuditEntry.action == "incident.create", AuditEntry.target == f"incident:{alarm.incident_id}")).one()
    after = created.after if isinstance(created.after, dict) else json.loads(created.after)
    assert after["drill"] == "storm"  # the row was written marked, never marked afterwards


def _retained_alerts(broker, root: str, expected: int) -> dict[str, tuple[dict, bool]]:
    return retained_messages(broker, f"{root}/alerts/#", expected)


def _published(engine, alarm_id: int) -> bool:
    with engine.connect() as connection:
        row = connection.execute(select(Alarm.revision, Alarm.published_revision).where(Alarm.id == alarm_id)).one()
    return row.published_revision == row.revision


def test_alarm_is_a_retained_sdm_alert_on_the_broker_and_is_updated_when_it_clears(city, broker):
    running, _ = city
    root = running.runtime.settings.topic_root
    service = alarm_service(running.runtime)
    send(city, [flood(0, 1.3), flood(60, 1.4)])
    alarm = wait_until(lambda: alarms(city, "water-alert"), 10, message="the alarm")[0]
    wait_until(lambda: _published(running.runtime.engine, alarm.id), 10, message="the PUBACK of the Alert")
    topic = f"{root}/alerts/{alarm.id}"
    entity, retained = _retained_alerts(broker, root, 1)[topic]
    assert retained
    assert entity["type"] == "Alert" and entity["id"] == f"urn:ngsi-ld:Alert:cityops-alarm-{alarm.id}"
    assert (entity["category"], entity["subCategory"], entity["severity"]) == ("weather", "flood", "high")
    assert entity["location"] == {"type": "Point", "coordinates": [24.951, 60.166]}
    assert entity["validFrom"] == "2026-11-22T06:00:00Z"
    assert entity["dateIssued"] and "validTo" not in entity and entity["status"] == "active"
    assert entity["alertSource"] == "urn:ngsi-ld:FloodMonitoring:flood-1"
    assert "1.4" in entity["description"] and "Harbour gauge" in entity["description"]
    # an operator clears it in the web process; the ingest's publisher brings the Alert up to date
    ClearAlarm(running.runtime.engine, OPERATOR, alarm.id, "water pumped away").validate().run()
    service.publish()
    wait_until(lambda: _published(running.runtime.engine, alarm.id), 10, message="the cleared Alert")
    entity, retained = _retained_alerts(broker, root, 1)[topic]
    assert retained and entity["status"] == "cleared" and entity["validTo"]
    assert entity["data"]["state"] == "cleared_unack"


def test_api_lists_acknowledges_clears_assigns_and_comments_with_audit(city):
    running, _ = city
    send(city, [flood(0, 1.3), flood(60, 1.4)])
    alarm = wait_until(lambda: alarms(city, "water-alert"), 10, message="the alarm")[0]
    from app import create_app
    from services.auth import create_token

    runtime = running.runtime
    admin = create_token(runtime.engine, "op", "dispatcher")
    display = create_token(runtime.engine, "wall", "display")
    client = create_app(runtime).server.test_client()
    auth = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731

    body = client.get("/api/v1/alerts?state=active", headers=auth(display)).get_json()
    assert [a["id"] for a in body["alerts"]] == [alarm.id]
    assert body["alerts"][0]["state"] == "active_unack"
    assert client.get("/api/v1/alerts?state=bogus", headers=auth(display)).status_code == 400
    assert client.post(f"/api/v1/alerts/{alarm.id}/ack").status_code == 401
    assert client.post(f"/api/v1/alerts/{alarm.id}/ack", headers=auth(display)).status_code == 403
    assert client.post("/api/v1/alerts/999999/ack", headers=auth(admin)).status_code == 404

    acked = client.post(f"/api/v1/alerts/{alarm.id}/ack", headers=auth(admin))
    assert acked.status_code == 200 and acked.get_json()["acknowledged_by"] == "op"
    again = client.post(f"/api/v1/alerts/{alarm.id}/ack", headers=auth(admin))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_acknowledged"
    assert client.post(f"/api/v1/alerts/{alarm.id}/assign", json={"assignee": "Aino"},
                       headers=auth(admin)).get_json()["assignee"] == "Aino"
    assert client.post(f"/api/v1/alerts/{alarm.id}/comments", json={"text": ""}, headers=auth(admin)).status_code == 422
    assert client.post(f"/api/v1/alerts/{alarm.id}/comments", data="nope", headers=auth(admin)).status_code == 400
    assert client.post(f"/api/v1/alerts/{alarm.id}/comments", json={"text": "pump truck on its way"},
                       headers=auth(admin)).status_code == 200
    cleared = client.post(f"/api/v1/alerts/{alarm.id}/clear", headers=auth(admin)).get_json()
    assert cleared["state"] == "cleared_ack" and cleared["open"] is False

    detail = client.get(f"/api/v1/alerts/{alarm.id}", headers=auth(display)).get_json()
    assert [e["kind"] for e in detail["history"]] == ["raised", "acknowledged", "assigned", "commented", "cleared"]
    with runtime.engine.connect() as connection:
        actions = connection.execute(select(AuditEntry.action, AuditEntry.actor, AuditEntry.before, AuditEntry.after)
                                     .where(AuditEntry.target == f"alarm:{alarm.id}").order_by(AuditEntry.id)).all()
    assert [(a.action, a.actor) for a in actions] == [
        ("alarm.raise", "system:rules"), ("alarm.acknowledge", "op"), ("alarm.assign", "op"),
        ("alarm.comment", "op"), ("alarm.clear", "op")]
    assert actions[1].before["acknowledged"] is False and actions[1].after["acknowledged"] is True


def test_the_pasts_alarms_are_not_escalated_while_the_demo_plays_it_and_the_presents_are(database_url):
    """The history operator acknowledges the past's alarms at their past moments; the escalation check (every
    10 s) found them overdue by the clock first whenever it ran between the rules raising one and the operator
    catching up, and the past's KPI "acknowledged before escalation" counted a lateness nobody had."""
    from services.audit import record
    from services.db import make_engine, migrate, session_scope
    from services.alarms import escalate_due
    from services.simulator.history import FINISHED, HISTORY_ACTOR, STARTED

    engine = make_engine(database_url)
    migrate(engine)
    now = utcnow().replace(microsecond=0)
    end = now - timedelta(minutes=45)  # the past played ends where the live back-fill begins
    played = {"from": (end - timedelta(days=30)).isoformat(), "to": end.isoformat()}

    def alarm(ident: int, raised: datetime) -> Alarm:
        return Alarm(id=ident, rule_id="water-alert", rule_name="water-alert", device_id=f"flood-{ident}",
                     category="weather", sub_category="flood", severity="high", base_severity="high",
                     started_at=raised, raised_at=raised, last_raised_at=raised, updated_at=raised)
    try:
        with session_scope(engine) as session:
            session.add_all([alarm(1, end - timedelta(days=3)), alarm(2, now - timedelta(minutes=5))])
            record(session, HISTORY_ACTOR, STARTED, "city:Helsinki", None, played)
        escalated = escalate_due(engine, {"water-alert": 60.0}, now)
        assert [a.id for a in escalated] == [2]  # the present's alarm, overdue for 4 minutes
        with session_scope(engine) as session:
            record(session, HISTORY_ACTOR, FINISHED, "city:Helsinki", None, played)
        # the play is over: what its operator left unacknowledged is overdue now, as any alarm
        assert [a.id for a in escalate_due(engine, {"water-alert": 60.0}, now)] == [1]
    finally:
        engine.dispose()


def test_a_reading_of_the_present_does_not_stop_the_pasts_alarm_clearing_while_the_demo_plays_it(
        database_url, tiny_city, tmp_path):
    """The live simulator's readings arrive while the demo's past is played: one taken between a past alarm's
    raise and its clear moved the rule's clock to the present, the past's next readings were older and passed
    over, and the alarm stayed active (then the past's later alarms repeated it). Its turn is after the past."""
    from services.audit import record
    from services.db import session_scope
    from services.runtime import open_runtime
    from services.simulator.history import FINISHED, HISTORY_ACTOR, STARTED
    from services.telemetry import ObservationIn

    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES)
    runtime = open_runtime(Settings.from_env({}, database_url=database_url, city=str(tiny_city), data_dir=tmp_path,
                                             rules_file=rules_file))
    engine, now = alarm_service(runtime).engine, utcnow().replace(microsecond=0)
    end = now - timedelta(minutes=15)
    played = {"from": (end - timedelta(days=2)).isoformat(), "to": end.isoformat()}
    past = end - timedelta(days=1)

    def reading(at: datetime, level: float) -> ObservationIn:
        return ObservationIn("flood-1", "FloodMonitoring", at, at, 24.951, 60.166, {"currentLevel": level})

    def react(*readings: ObservationIn) -> None:
        with session_scope(runtime.engine) as session:
            raised = engine.react(session, list(readings))
        engine.after_commit(raised)

    try:
        with session_scope(runtime.engine) as session:
            record(session, HISTORY_ACTOR, STARTED, "city:Tiny", None, played)
        react(reading(past, 1.5), reading(past + timedelta(hours=1), 1.6))  # raised at the past's second hour
        react(reading(now, 0.3))  # the present, taken before the past's next hours
        react(reading(past + timedelta(hours=2), 0.4), reading(past + timedelta(hours=3), 0.3))
        with session_scope(runtime.engine) as session:
            alarm = session.execute(select(Alarm).where(Alarm.rule_id == "water-alert")).scalar_one()
            assert (alarm.active, alarm.raised_at, alarm.cleared_at) == (False, past + timedelta(hours=1),
                                                                        past + timedelta(hours=3))
            record(session, HISTORY_ACTOR, FINISHED, "city:Tiny", None, played)
    finally:
        alarm_service(runtime).close()
        runtime.engine.dispose()
