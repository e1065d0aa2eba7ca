"""Durable reactions and several ingest processes, with real `manage.py ingest` processes on a real
Mosquitto and both databases.

- An ingest killed (SIGKILL) right after a commit, before any reaction: after its restart the
  report's incident, the unit's status and the alarm each exist exactly once.
- Three ingest processes on one shared subscription behave as one: a level held for the rule's
  duration raises one alarm, readings bouncing inside the hysteresis (or around the threshold)
  raise none, a silent device raises one offline alarm.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from services.alarms import AlarmFilter, alarm_history, list_alarms
from services.auth import Principal
from services.config import PROJECT_ROOT
from services.db import make_engine
from services.dispatch import CreateIncident, DispatchContext, DispatchUnit
from services.incidents import incident_timeline, list_incidents
from services.models import AuditEntry, CitizenReport, IngestStatus, Observation, UnitCommandReply, utcnow
from services.reactions import CURSORS, Leadership, Reactions, Reactor
from services.runtime import open_runtime
from services.units import get_unit
from tests.brokers import wait_until
from tests.integration.support import Publisher, make_settings

RULES = """
rules:
  - id: water-alert
    name: Water level at alert level
    entity_type: FloodMonitoring
    metric: water_level
    op: ">="
    threshold: device.alert_level
    for: 60s
    clear_threshold: device.alert_level - 0.05
    clear_for: 60s
    severity: high
    category: weather
    sub_category: flood
  - id: device-offline
    name: Device silent
    kind: silence
    entity_type: AirQualityObserved
    intervals: 3
    severity: low
    category: infrastructure
    sub_category: deviceOffline
"""

T0 = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)
DISPATCHER = Principal("dispatcher-a", "dispatcher")


def flood(device: str, seconds: int, level: float) -> dict:
    moment = T0 + timedelta(seconds=seconds)
    return {"id": f"urn:ngsi-ld:FloodMonitoring:{device}", "type": "FloodMonitoring", "currentLevel": level,
            "observationDateTime": moment.isoformat().replace("+00:00", "Z")}


class IngestProcesses:
    """`python manage.py ingest` processes of one city, started and killed like in production."""

    def __init__(self, settings, folder: Path):
        self.settings = settings
        self.folder = folder
        self.processes: list[subprocess.Popen] = []
        self.engine = make_engine(settings.database_url)

    def start(self, client_id: str, **env) -> subprocess.Popen:
        inherited = {name: value for name, value in os.environ.items() if not name.startswith("CITYOPS_")}
        variables = {
            **inherited, "CITYOPS_DATABASE_URL": self.settings.database_url,
            "CITYOPS_MQTT_URL": self.settings.mqtt_url, "CITYOPS_CITY": self.settings.city,
            "CITYOPS_TOPIC_ROOT": self.settings.topic_root, "CITYOPS_INGEST_CLIENT_ID": client_id,
            "CITYOPS_RULES_FILE": str(self.settings.rules_file), "CITYOPS_DATA_DIR": str(self.folder),
            "CITYOPS_LOG_LEVEL": "WARNING", "CITYOPS_DEMO": "0", "PYTHONUNBUFFERED": "1", **env,
        }
        log = (self.folder / f"ingest-{client_id}-{len(self.processes)}.log").open("ab")
        process = subprocess.Popen([sys.executable, "manage.py", "ingest"], cwd=PROJECT_ROOT, env=variables,
                                   stdout=log, stderr=subprocess.STDOUT)
        self.processes.append(process)
        return process

    def connected(self) -> int:
        """How many ingest processes report a live broker connection (their heartbeat)."""
        recent = utcnow() - timedelta(seconds=5)
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(IngestStatus).where(
                IngestStatus.broker_connected.is_(True), IngestStatus.updated_at >= recent)).scalar_one()

    def alive_since(self, moment: datetime) -> int:
        """How many ingest processes wrote their heartbeat after ``moment``."""
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(IngestStatus).where(
                IngestStatus.updated_at >= moment)).scalar_one()

    def count(self, model) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(model)).scalar_one()

    def caught_up(self) -> bool:
        with self.engine.connect() as connection:
            cursors = dict(connection.execute(select(CURSORS.c.name, CURSORS.c.last_id)).all())
            return all((connection.execute(select(func.max(model.id))).scalar() or 0) <= cursors[model.__tablename__]
                       for model in (Observation, CitizenReport, UnitCommandReply))

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        self.engine.dispose()

    def state(self) -> str:
        """What a timed-out wait says: each process's exit code, the heartbeats, the cursors, the logs."""
        with self.engine.connect() as connection:
            beats = connection.execute(select(IngestStatus.instance_id, IngestStatus.broker_connected,
                                              IngestStatus.received, IngestStatus.stored,
                                              IngestStatus.updated_at)).all()
            cursors = connection.execute(select(CURSORS.c.name, CURSORS.c.last_id)).all()
        return (f"exit codes {[process.poll() for process in self.processes]} at {utcnow():%H:%M:%S}\n"
                f"heartbeats {beats}\ncursors {cursors}\n{self.log_text()}")

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace")[-3000:] for path in sorted(self.folder.glob("ingest-*.log")))


@pytest.fixture
def city(database_url, broker, tiny_city, tmp_path):
    """The tiny city with a second gauge and a fast-reporting air station, its rules, the runtime."""
    sites = json.loads((tiny_city / "sites.json").read_text())
    sites["devices"] += [
        {"device_id": "flood-2", "type": "FloodMonitoring", "lon": 24.950, "lat": 60.167, "district": "East",
         "interval_s": 30, "name": "Pier gauge", "alert_level": 1.2, "danger_level": 2.0},
        {"device_id": "air-s", "type": "AirQualityObserved", "lon": 24.941, "lat": 60.171, "district": "West",
         "interval_s": 1, "name": "Fast air"},
    ]
    (tiny_city / "sites.json").write_text(json.dumps(sites))
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(RULES)
    settings = make_settings(database_url, broker, tiny_city, rules_file=rules_file)
    runtime = open_runtime(settings)  # migrates, registers the devices, seeds the units
    processes = IngestProcesses(settings, tmp_path)
    publisher = Publisher(broker.host, broker.port)
    yield runtime, processes, publisher
    publisher.close()
    processes.close()
    runtime.engine.dispose()


def _alarms(engine, rule_id: str):
    return list_alarms(engine, AlarmFilter(state="all", rule_id=rule_id))


def test_ingest_killed_between_commit_and_reaction_reacts_exactly_once_after_restart(city):
    runtime, processes, publisher = city
    engine, root = runtime.engine, runtime.settings.topic_root
    ctx = DispatchContext.of(runtime)
    incident = CreateIncident(ctx, DISPATCHER, {
        "category": "health", "subCategory": "heartAttack", "priority": "P1",
        "location": {"type": "Point", "coordinates": [24.9410, 60.1695]}, "description": "Collapsed"})()
    dispatched = DispatchUnit(ctx, DISPATCHER, incident.id)()
    report = {"id": "urn:ngsi-ld:Open311ServiceRequest:r-1", "type": "Open311ServiceRequest",
              "service_request_id": "r-1", "service_code": "DRN", "description": "Drain overflowing",
              "location": {"type": "Point", "coordinates": [24.9405, 60.1690]},
              "requested_datetime": utcnow().isoformat()}
    reply = {"cmdId": dispatched.cmd_id, "result": "accepted", "at": utcnow().isoformat()}
    readings = [flood("flood-1", seconds, 1.3) for seconds in (0, 30, 60, 90)]
    messages = ([(f"{root}/reports", report), (f"{root}/units/{dispatched.unit_id}/cmdexe", reply)]
                + [(f"{root}/telemetry/flood-1", reading) for reading in readings])
    client_id = f"cityops-crash-{uuid.uuid4().hex[:6]}"

    # 1. the ingest is killed right after the commit that stores the 6th row (hold-back: 3 s, so no
    #    reaction can have run on rows committed just before)
    # (the unit's acceptance deadline is set beyond the test: on a loaded machine the kill and the restart
    # took longer than its 30 s, the overdue check timed the dispatch out and the late acceptance moved nothing)
    first = processes.start(client_id, CITYOPS_TEST_CRASH_AFTER_COMMIT="6", CITYOPS_REACTION_HOLD_BACK_S="3",
                            CITYOPS_DISPATCH_ACCEPT_TIMEOUT_S="3600")
    wait_until(lambda: processes.connected() >= 1, 120, message="the ingest to connect")
    publisher.publish_all(messages)
    assert first.wait(60) == -signal.SIGKILL, processes.log_text()
    assert processes.count(Observation) == 4 and processes.count(CitizenReport) == 1
    assert processes.count(UnitCommandReply) == 1
    assert list_incidents(engine, statuses=None) and all(i.source != "citizen" for i in list_incidents(engine,
                                                                                                      statuses=None))
    assert get_unit(engine, dispatched.unit_id).status == "dispatched"
    assert _alarms(engine, "water-alert") == []  # killed between the commit and every reaction

    # 2. restarted (same persistent session: the unacknowledged messages come again, as duplicates)
    processes.start(client_id, CITYOPS_DISPATCH_ACCEPT_TIMEOUT_S="3600")
    wait_until(lambda: get_unit(engine, dispatched.unit_id).status == "en_route", 120,
               message=lambda: f"the unit's status after the restart\n{processes.state()}")
    wait_until(lambda: [i for i in list_incidents(engine) if i.source == "citizen"], 120, message="the incident")
    wait_until(lambda: _alarms(engine, "water-alert"), 120, message="the alarm")
    with engine.connect() as connection:
        wait_until(lambda: connection.execute(select(func.sum(IngestStatus.duplicates))).scalar() or 0, 20,
                   message="the redelivered duplicates")
    wait_until(processes.caught_up, 120, message="the reactions to catch up")

    citizen = [i for i in list_incidents(engine, statuses=None) if i.source == "citizen"]
    assert [i.external_id for i in citizen] == ["open311:r-1"]
    timeline = [(e.kind, e.status_after) for e in incident_timeline(engine, incident.id)]
    assert timeline == [("created", "new"), ("dispatched", "dispatched"), ("status", "en_route")]
    [alarm] = _alarms(engine, "water-alert")
    assert alarm.started_at == T0 and alarm.repeat_count == 0
    assert [e.kind for e in alarm_history(engine, alarm.id)] == ["raised"]
    with engine.connect() as connection:
        actions = [a for (a,) in connection.execute(select(AuditEntry.action))]
    assert actions.count("incident.accepted") == 1 and actions.count("alarm.raise") == 1


def test_rows_stored_while_another_process_leads_are_reacted_to_once_it_lets_go(city):
    """A process giving up the lead releases it. On PostgreSQL the lead is an advisory lock of a
    session, and the release closed that session's connection, which only returned it to the engine's
    pool, lock and all: nobody else could lead until the process exited."""
    runtime, processes, publisher = city
    engine, root = runtime.engine, runtime.settings.topic_root
    elsewhere = Leadership(engine, holder="elsewhere")
    assert elsewhere.hold()
    keep = threading.Event()

    def keep_leading():  # SQLite's lease is renewed; PostgreSQL's lock is held by the connection
        while not keep.wait(0.5):
            elsewhere.hold()

    renewer = threading.Thread(target=keep_leading, daemon=True)
    renewer.start()
    try:
        processes.start(f"cityops-late-{uuid.uuid4().hex[:6]}")
        wait_until(lambda: processes.connected() >= 1, 120, message=lambda: f"the ingest to connect\n{processes.state()}")
        publisher.publish_all([(f"{root}/telemetry/flood-1", flood("flood-1", s, 1.3)) for s in (0, 30, 60, 90)])
        wait_until(lambda: processes.count(Observation) == 4, 120, message="the readings stored")
        with engine.connect() as connection:
            cursors = dict(connection.execute(select(CURSORS.c.name, CURSORS.c.last_id)).all())
        assert cursors == {"observations": 0, "citizen_reports": 0, "unit_command_replies": 0}  # not led here
    finally:
        keep.set()
        renewer.join()
        elsewhere.release()
    alarm = wait_until(lambda: _alarms(engine, "water-alert"), 120,
                       message=lambda: f"the alarm once the ingest leads\n{processes.state()}")[0]
    assert alarm.started_at == T0


def test_three_ingest_processes_on_a_shared_subscription_behave_as_one(city):
    runtime, processes, publisher = city
    engine, root = runtime.engine, runtime.settings.topic_root
    group = f"g{uuid.uuid4().hex[:6]}"
    for n in range(3):
        processes.start(f"cityops-shared-{group}-{n}", CITYOPS_INGEST_SHARED_GROUP=group,
                        CITYOPS_SILENCE_CHECK_S="1")
    wait_until(lambda: processes.connected() == 3, 120, message=f"three ingests to connect\n{processes.log_text()}")

    def send(device: str, readings: list[tuple[int, float]]) -> None:
        # As a device sends them: each reading after the one before is in (they are 30 s apart in
        # observation time). A burst of one device's readings spread over several processes is
        # ordered only within the reactions' hold-back (docs/ARCHITECTURE.md); on a loaded machine a
        # process can take longer than that to commit, and a burst would then be judged out of order.
        for s, level in readings:
            before = processes.count(Observation)
            publisher.publish_all([(f"{root}/telemetry/{device}", flood(device, s, level))])
            wait_until(lambda: processes.count(Observation) > before, 120, message="the reading stored")
        wait_until(processes.caught_up, 120, message="the reactions to catch up")

    # a level above the alert level: not for 60 s of observation time yet, then long enough
    send("flood-1", [(0, 1.0), (30, 1.25), (60, 1.3)])
    assert _alarms(engine, "water-alert") == []
    send("flood-1", [(90, 1.32), (120, 1.35), (150, 1.4)])
    [alarm] = _alarms(engine, "water-alert")
    assert alarm.device_id == "flood-1" and alarm.started_at == T0 + timedelta(seconds=30)

    # bouncing inside the hysteresis (never below 1.15 for 60 s): no clear, no second alarm
    send("flood-1", [(180, 1.18), (210, 1.25), (240, 1.16), (270, 1.22), (300, 1.12), (330, 1.19), (360, 1.3)])
    # and a second gauge bouncing around its threshold, never above it for 60 s: no alarm
    send("flood-2", [(s, 1.1 if (s // 30) % 3 == 2 else 1.3) for s in range(0, 540, 30)])
    [alarm] = _alarms(engine, "water-alert")
    assert alarm.active and alarm.repeat_count == 0
    assert [e.kind for e in alarm_history(engine, alarm.id)] == ["raised"]

    # a station that reports once, then falls silent (every 1 s expected): one offline alarm
    now = utcnow().replace(microsecond=0)
    publisher.publish_all([(f"{root}/telemetry/air-s", {
        "id": "air-s", "type": "AirQualityObserved", "pm25": 5, "dateObserved": now.isoformat(),
        "location": {"type": "Point", "coordinates": [24.941, 60.171]}})])
    offline = wait_until(lambda: _alarms(engine, "device-offline"), 120, message="the offline alarm")
    # every process lived on for 3 s of 1-s silence checks after the alarm: no second one, no repeat
    wait_until(lambda: processes.alive_since(offline[0].raised_at + timedelta(seconds=3)) == 3, 30,
               message="three more seconds of every process")
    [offline] = _alarms(engine, "device-offline")
    assert offline.device_id == "air-s" and offline.repeat_count == 0
    assert [e.kind for e in alarm_history(engine, offline.id)] == ["raised"]
    assert all(process.poll() is None for process in processes.processes), processes.log_text()



def _leader_pid(engine) -> int | None:
    from services.reactions import LEADER, LEASES

    with engine.connect() as connection:
        holder = connection.execute(select(LEASES.c.holder).where(LEASES.c.name == LEADER)).scalar()
    return int(holder.split(":")[1]) if holder else None


def test_when_the_leading_ingest_is_killed_another_takes_over_and_resumes_the_rules_state(city):
    runtime, processes, publisher = city
    engine, root = runtime.engine, runtime.settings.topic_root
    group = f"g{uuid.uuid4().hex[:6]}"
    client_ids = [f"cityops-failover-{group}-{n}" for n in range(2)]
    started = {process.pid: client_id for client_id in client_ids
               for process in [processes.start(client_id, CITYOPS_INGEST_SHARED_GROUP=group)]}
    wait_until(lambda: processes.connected() == 2 and _leader_pid(engine) in started, 120,
               message=f"two ingests and a leader\n{processes.log_text()}")

    def send(readings: list[tuple[int, float]]) -> None:
        before = processes.count(Observation)
        publisher.publish_all([(f"{root}/telemetry/flood-1", flood("flood-1", s, level)) for s, level in readings])
        wait_until(lambda: processes.count(Observation) >= before + len(readings), 120, message="the readings stored")

    # above the alert level for 30 s of the rule's 60 s: the condition is building up on the leader
    send([(0, 1.3), (30, 1.3)])
    wait_until(processes.caught_up, 120, message="the reactions to catch up")
    assert _alarms(engine, "water-alert") == []
    leader = _leader_pid(engine)
    os.kill(leader, signal.SIGKILL)
    survivor = next(pid for pid in started if pid != leader)
    wait_until(lambda: _leader_pid(engine) == survivor, 120, message=f"the survivor to lead\n{processes.log_text()}")

    # the condition goes on: the new leader resumes it where the dead one left it
    processes.start(started[leader], CITYOPS_INGEST_SHARED_GROUP=group)  # restarted, as a supervisor would
    send([(60, 1.35), (90, 1.4)])
    alarm = wait_until(lambda: _alarms(engine, "water-alert"), 120, message="the alarm")[0]
    wait_until(processes.caught_up, 120, message="the reactions to catch up")
    assert alarm.started_at == T0 and alarm.repeat_count == 0
    assert [e.kind for e in alarm_history(engine, alarm.id)] == ["raised"]


class RecordingReactor(Reactor):
    """Records the observations it reacts to (the ids, in the order it saw them)."""

    table = Observation.__table__
    columns = ("id", "device_id")

    def __init__(self):
        self.seen: list[str] = []

    def react(self, session, rows) -> None:
        self.seen += [row.device_id for row in rows]


def test_a_row_committed_after_a_higher_id_is_not_skipped(database_url, monkeypatch):
    """PostgreSQL draws ids at insert but commits in any order: the cursor must not pass id n
    while the transaction holding it is open and id n+1 is already committed."""
    import asyncio

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time: its ids are committed in order")
    from services.db import migrate

    monkeypatch.setattr("services.reactions.LOCK_TIMEOUT", "200ms")
    engine = make_engine(database_url)
    migrate(engine)
    reactor = RecordingReactor()
    reactions = Reactions(engine, [reactor], hold_back_s=0)

    def row(device: str) -> dict:
        return {"device_id": device, "entity_type": "WeatherObserved", "observed_at": T0, "received_at": T0,
                "values": {}}

    slow = engine.connect()
    try:
        slow_transaction = slow.begin()
        slow.execute(Observation.__table__.insert().values(row("drawn-first")))  # id n, not committed
        with engine.begin() as connection:
            connection.execute(Observation.__table__.insert().values(row("committed-first")))  # id n+1
        with pytest.raises(Exception, match="lock timeout"):
            asyncio.run(reactions.run_once())  # the safe point waits for the open writer
        assert reactor.seen == []
        slow_transaction.commit()
    finally:
        slow.close()
    asyncio.run(reactions.run_once())
    assert reactor.seen == ["drawn-first", "committed-first"]
    engine.dispose()


def test_the_safe_point_locks_its_tables_in_the_writers_order_so_a_batch_of_readings_and_reports_never_deadlocks(
        database_url):
    """The ingest's writer stores a batch's observations, then its citizen reports, in one transaction
    (services/store.py). The safe point's LOCK TABLE took citizen_reports first: holding it, it waited for the
    writer's observations while the writer waited for citizen_reports, and PostgreSQL ended one of them
    ("deadlock detected", seen in a series run)."""
    from services.db import migrate
    from services.reactions import safe_points

    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one writer at a time and no table locks to order")
    engine = make_engine(database_url)
    migrate(engine)
    tables = [CitizenReport.__table__, UnitCommandReply.__table__, Observation.__table__]  # the reactors' order
    reading = {"device_id": "air-1", "entity_type": "AirQualityObserved", "observed_at": T0, "received_at": T0,
               "values": {}}
    report = {"external_id": "r-1", "lon": 24.94, "lat": 60.17, "requested_at": T0, "received_at": T0}
    found: dict = {}

    def take_safe_points() -> None:
        try:
            found["points"] = safe_points(engine, tables)
        except Exception as error:  # noqa: BLE001 (the test reports it)
            found["error"] = error

    def waiting_for_observations() -> bool:
        with engine.connect() as connection:
            return connection.execute(text(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE NOT l.granted AND c.relname = 'observations'")).scalar() > 0

    writer = engine.connect()
    locker = threading.Thread(target=take_safe_points)
    try:
        with writer.begin():
            writer.execute(Observation.__table__.insert().values(reading))  # the batch's readings
            locker.start()
            wait_until(waiting_for_observations, 10, interval=0.05, message="the safe point waiting for the writer")
            writer.execute(CitizenReport.__table__.insert().values(report))  # then its reports: no deadlock
        locker.join(10)
    finally:
        writer.close()
        engine.dispose()
    assert "error" not in found, found.get("error")
    assert found["points"]["observations"] >= 1 and found["points"]["citizen_reports"] >= 1  # it waited, then saw them
