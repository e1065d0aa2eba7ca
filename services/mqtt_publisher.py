"""Publishing commands from the web (and ingest) process: one paho client per broker, reused.

The client runs its own network loop thread, reconnects by itself, and publishes with QoS 1;
``publish`` waits for the broker's PUBACK for a bounded time and says whether it came. A
message that cannot be confirmed is reported (the dispatch timeline records it) rather than
retried forever: the acceptance timeout then escalates the incident.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import uuid

import paho.mqtt.client as mqtt

from services.config import MqttTarget

log = logging.getLogger("cityops.mqtt_publisher")

CONNECT_WAIT_S = 3.0
PUBLISH_WAIT_S = 3.0


class MqttPublisher:
    def __init__(self, target: MqttTarget, client_id: str | None = None):
        self.target = target
        self._connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2,
                                  client_id=client_id or f"cityops-cmd-{os.getpid()}-{uuid.uuid4().hex[:6]}",
                                  clean_session=True)
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set_context(target.tls_context())
        self.client.max_queued_messages_set(1000)
        self.client.reconnect_delay_set(0.5, 10)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.connect_async(target.host, target.port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties):
        if not reason_code.is_failure:
            self._connected.set()
            log.info("command publisher connected to %s:%s", self.target.host, self.target.port)

    def _on_disconnect(self, *_args):
        self._connected.clear()

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def publish(self, topic: str, payload: dict | bytes, *, qos: int = 1, retain: bool = False,
                timeout: float = PUBLISH_WAIT_S) -> bool:
        """True once the broker acknowledged the message (QoS 1) within ``timeout``."""
        data = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
        if not self._connected.wait(CONNECT_WAIT_S):
            log.warning("not connected to the broker: %s not published", topic)
            return False
        info = self.client.publish(topic, data, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            log.warning("publishing %s failed: %s", topic, mqtt.error_string(info.rc))
            return False
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as error:
            log.warning("publishing %s failed: %s", topic, error)
            return False
        return info.is_published()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


_publishers: dict[tuple, MqttPublisher] = {}
_lock = threading.Lock()


def publisher_for(target: MqttTarget) -> MqttPublisher:
    """The process's publisher for this broker (created on first use, never per request)."""
    key = (target.host, target.port, target.tls, target.username)
    with _lock:
        publisher = _publishers.get(key)
        if publisher is None:
            publisher = _publishers[key] = MqttPublisher(target)
        return publisher
