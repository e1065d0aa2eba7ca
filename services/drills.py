"""Drills on the CityOps side: starting and stopping them, and marking what they produce.

How ``manage.py drill start NAME`` reaches a running simulator: a RETAINED MQTT message on
``<root>/sim/drill`` (``{"drill", "startedAt", "until", "by"}``; stop publishes an empty retained
message, which also removes it from the broker). The simulator subscribes to that topic, wherever
it runs (``manage.py serve`` in demo mode or a separate ``manage.py simulate``), and a simulator
started or restarted during a drill gets the retained message and plays the drill's remainder. The
broker is the one thing every simulator already shares with CityOps; a database row would tie the
simulator to the database and make it poll.

What a drill produces is marked ``drill = "<name>"``: its entities and reports carry the attribute
(kept by the ingest, services/telemetry.py), the alarms raised from its readings and the incidents
opened from them or from its calls carry the ``drill`` column (migration 0009_drills), and screens
show a DRILL badge. Scoring: ``EXCLUDED_FROM_SCORING`` documents that any KPI or scorecard leaves
out rows whose ``drill`` is set (``not_drill()`` is the filter to use).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Connection

from services.config import Settings
from services.models import Alarm, Incident, utcnow
from services.simulator.drills import DRILLS, Drill, UnknownDrill, control_topic, drill_named  # noqa: F401
from services.telemetry import DRILL_ATTRIBUTE

EXCLUDED_FROM_SCORING = True  # scorecards and KPIs count no incident or alarm with a drill set


def not_drill(table):
    """The WHERE clause that keeps drills out of scores: ``select(...).where(not_drill(Incident))``."""
    return table.drill.is_(None)


def list_drills() -> list[Drill]:
    return list(DRILLS.values())


def start_message(name: str, by: str, now: datetime | None = None) -> dict:
    drill = drill_named(name)
    now = (now or utcnow()).replace(microsecond=0)
    until = now + timedelta(minutes=drill.minutes)
    return {"drill": drill.name, "startedAt": _iso(now), "until": _iso(until), "by": by}


def publish_start(settings: Settings, name: str, by: str) -> dict:
    body = start_message(name, by)
    _publish(settings, json.dumps(body).encode())
    return body


def publish_stop(settings: Settings) -> None:
    _publish(settings, b"")


def _publish(settings: Settings, payload: bytes) -> None:
    from services.mqtt_publisher import MqttPublisher

    publisher = MqttPublisher(settings.mqtt)
    try:
        if not publisher.publish(control_topic(settings.topic_root), payload, qos=1, retain=True, timeout=10):
            raise ConnectionError(f"the broker at {settings.mqtt.host}:{settings.mqtt.port} did not take the "
                                  f"drill message; is it running?")
    finally:
        publisher.close()


# ---------------------------------------------------------------- marking (ingest role)

def drill_of(values: dict | None) -> str | None:
    drill = (values or {}).get(DRILL_ATTRIBUTE)
    return drill if isinstance(drill, str) and drill else None


def mark_alarm(connection: Connection, alarm_id: int, drill: str | None) -> None:
    """A new alarm raised from a drill's reading says so (an alarm already open from real data is left alone)."""
    if drill:
        connection.execute(update(Alarm).where(Alarm.id == alarm_id, Alarm.drill.is_(None)).values(drill=drill))


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
