"""Alarms on MQTT: each alarm as a Smart Data Models ``Alert`` on ``<root>/alerts/<id>``, retained, QoS 1.

The alarms table is the outbox: every change that matters to the outside (raise, re-activation,
escalation, acknowledgment, clear) increments ``alarms.revision``; ``AlertPublisher.flush``
publishes each alarm whose ``published_revision`` is behind, and paho's on_publish (the broker's
PUBACK) records the revision as published. So changes made by the web process (an operator's
acknowledgment or clear) are published by the ingest process, and nothing is lost while the
broker is away. The publisher is a small paho client with its own network loop thread.

Alert mapping (SDM dataModel.Alert, key-values):
  id           urn:ngsi-ld:Alert:cityops-alarm-<alarm id>
  category / subCategory   from the rule: environment/airPollution, weather/flood, weather/rainfall,
               traffic/trafficJam; a silent device is infrastructure/deviceOffline (CityOps's own)
  severity     the alarm's current severity (informational | low | medium | high | critical)
  location     GeoJSON Point of the device
  dateIssued   when CityOps raised it; validFrom: when the condition began (observation time)
  validTo      when it cleared (absent while active)
  description  what happened, in words; alertSource: the device (urn:ngsi-ld:<Type>:<id>)
  status       active | cleared (CityOps extension), dateModified, and ``data``: rule, state,
               acknowledged, escalation level, repeat count, value, threshold, incident id
"""
from __future__ import annotations

import json
import logging
import threading
import uuid

import paho.mqtt.client as mqtt
from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from services.config import Settings
from services.models import Alarm

log = logging.getLogger("cityops.alarms.publish")

BATCH = 200
CONNECT_WAIT_S = 5.0


def alert_topic(root: str, alarm_id: int) -> str:
    return f"{root}/alerts/{alarm_id}"


def alert_entity(alarm) -> dict:
    """The SDM Alert of an alarm row (or AlarmView)."""
    source_type = alarm.device_type or "Device"
    entity = {
        "id": f"urn:ngsi-ld:Alert:cityops-alarm-{alarm.id}",
        "type": "Alert",
        "name": alarm.rule_name,
        "category": alarm.category,
        "subCategory": alarm.sub_category,
        "severity": alarm.severity,
        "location": {"type": "Point", "coordinates": [alarm.lon, alarm.lat]} if alarm.lon is not None else None,
        "dateIssued": _iso(alarm.raised_at),
        "validFrom": _iso(alarm.started_at),
        "description": alarm.description,
        "alertSource": f"urn:ngsi-ld:{source_type}:{alarm.device_id}",
        "status": "active" if alarm.active else "cleared",
        "dateModified": _iso(alarm.updated_at),
        "data": {
            "alarmId": alarm.id, "rule": alarm.rule_id, "deviceId": alarm.device_id, "district": alarm.district,
            "state": f"{'active' if alarm.active else 'cleared'}_{'ack' if alarm.acknowledged else 'unack'}",
            "acknowledged": alarm.acknowledged, "escalationLevel": alarm.escalation_level,
            "baseSeverity": alarm.base_severity, "repeatCount": alarm.repeat_count, "metric": alarm.metric,
            "value": alarm.value, "threshold": alarm.threshold, "incidentId": alarm.incident_id,
        },
    }
    if entity["location"] is None:
        del entity["location"]
    if not alarm.active and alarm.cleared_at is not None:
        entity["validTo"] = _iso(alarm.cleared_at)
    return entity


class AlertPublisher:
    """Publishes the alarms outbox; connects lazily (nothing runs until there is an alarm)."""

    def __init__(self, settings: Settings, engine: Engine):
        self.settings = settings
        self.engine = engine
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._in_flight: dict[int, tuple[int, int]] = {}  # mid -> (alarm id, revision)
        self._sent: dict[int, int] = {}  # alarm id -> revision in flight
        self._acked_early: set[int] = set()
        self._flush_lock = threading.Lock()
        self.published = 0

    def flush(self) -> int:
        """Publishes what is behind; returns how many messages were handed to the broker."""
        with self.engine.connect() as connection:
            rows = connection.execute(select(Alarm).where(Alarm.published_revision < Alarm.revision)
                                      .order_by(Alarm.id).limit(BATCH)).all()
        if not rows:
            return 0
        if not self._ensure_connected():
            return 0
        sent = 0
        with self._flush_lock:  # one flusher at a time; never hold self._lock around paho calls
            for row in rows:
                with self._lock:
                    if self._sent.get(row.id, 0) >= row.revision:
                        continue  # already on its way
                    self._sent[row.id] = row.revision
                payload = json.dumps(alert_entity(row), separators=(",", ":")).encode()
                info = self._client.publish(alert_topic(self.settings.topic_root, row.id), payload, qos=1, retain=True)
                if info.rc != mqtt.MQTT_ERR_SUCCESS:
                    log.warning("publishing alert %s failed (rc %s); retried on the next flush", row.id, info.rc)
                    with self._lock:
                        self._sent.pop(row.id, None)
                    break
                with self._lock:
                    early = info.mid in self._acked_early
                    if early:
                        self._acked_early.discard(info.mid)
                    else:
                        self._in_flight[info.mid] = (row.id, row.revision)
                if early:
                    self._record(row.id, row.revision)
                sent += 1
        return sent

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once every message handed to the broker is acknowledged (tests, shutdown)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._in_flight:
                    return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            client.loop_stop()

    # ------------------------------------------------------------ paho

    def _ensure_connected(self) -> bool:
        if self._client is None:
            target = self.settings.mqtt
            client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                 client_id=f"cityops-alerts-{uuid.uuid4().hex[:8]}", clean_session=True)
            if target.username:
                client.username_pw_set(target.username, target.password)
            if target.tls:
                client.tls_set_context(target.tls_context())
            client.max_inflight_messages_set(100)
            client.on_connect = self._on_connect
            client.on_disconnect = self._on_disconnect
            client.on_publish = self._on_publish
            client.reconnect_delay_set(1, 10)
            client.connect_async(target.host, target.port, keepalive=30)
            client.loop_start()
            self._client = client
        return self._connected.wait(CONNECT_WAIT_S)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if not reason_code.is_failure:
            self._connected.set()
            log.info("alert publisher connected")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connected.clear()
        with self._lock:  # what was not acknowledged is published again on the next flush
            self._in_flight.clear()
            self._sent.clear()
            self._acked_early.clear()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        with self._lock:
            item = self._in_flight.pop(mid, None)
            if item is None:  # acknowledged before flush() noted the mid
                self._acked_early.add(mid)
                return
        self._record(*item)

    def _record(self, alarm_id: int, revision: int) -> None:
        try:
            with self.engine.begin() as connection:
                connection.execute(update(Alarm).where(Alarm.id == alarm_id, Alarm.published_revision < revision)
                                   .values(published_revision=revision))
            self.published += 1
        except Exception:
            log.exception("recording alert %s revision %s as published failed", alarm_id, revision)
        finally:
            with self._lock:
                if self._sent.get(alarm_id) == revision:
                    del self._sent[alarm_id]


def _iso(moment) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
