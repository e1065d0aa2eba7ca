"""The shipped Mosquitto configuration with the real ingest: size limits and crashes (kill -9)."""
from __future__ import annotations

import json
import re
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest
from sqlalchemy import select

from services.ingest import BACKOFF_JITTER, BACKOFF_MAX_S, reconnect_delay
from services.models import Observation, RejectedMessage
from services.store import MAX_KEPT_PAYLOAD
from services.telemetry import MAX_PAYLOAD_BYTES
from tests.brokers import CONFIG, wait_until
from tests.integration.support import Publisher, count_observations, count_rejections, make_settings, start_ingest, traffic_entity


def _shipped_setting(name: str) -> str:
    match = re.search(rf"^{name}\s+(\S+)", CONFIG.read_text(), re.MULTILINE)
    assert match, f"{name} is not set in {CONFIG}"
    return match.group(1)


def _require_mosquitto(broker) -> None:
    if broker.kind != "mosquitto":
        pytest.skip("needs Mosquitto with CityOps's shipped configuration")


def test_shipped_broker_limit_is_above_cityops_own_payload_limit():
    assert int(_shipped_setting("max_packet_size")) > MAX_PAYLOAD_BYTES
    assert not re.search(r"^message_size_limit\s+[1-9]", CONFIG.read_text(), re.MULTILINE)  # it acks, then drops


def test_message_of_one_and_a_half_megabytes_passes_the_broker_and_is_kept_as_too_large(database_url, broker, tiny_city):
    _require_mosquitto(broker)
    running = start_ingest(make_settings(database_url, broker, tiny_city))
    publisher = Publisher(broker.host, broker.port)
    root = running.runtime.settings.topic_root
    engine = running.runtime.engine
    try:
        huge = b'{"id": "big-1", "type": "TrafficFlowObserved", "pad": "' + b"x" * 1_500_000 + b'"}'
        publisher.publish_all([(f"{root}/telemetry/big-1", huge)])
        wait_until(lambda: count_rejections(engine).get("too_large") == 1, 20, message="the oversized message to be kept")
        with engine.connect() as connection:
            kept = connection.execute(select(RejectedMessage)).one()
        assert kept.reason == "too_large"
        assert kept.payload_size == len(huge)
        assert kept.payload == huge[:MAX_KEPT_PAYLOAD]  # bounded
        assert kept.topic == f"{root}/telemetry/big-1"
        publisher.publish_all([(f"{root}/telemetry/traffic-12", traffic_entity(7))])  # still running
        wait_until(lambda: count_observations(engine) == 1, 10, message="a good message after the big one")
    finally:
        publisher.close()
        running.close()


def test_reconnect_delay_is_capped_at_a_few_seconds_with_jitter():
    backoffs = [0.5 * 2 ** attempt for attempt in range(12)]
    longest = [reconnect_delay(backoff, draw=lambda low, high: low) for backoff in backoffs]
    shortest = [reconnect_delay(backoff, draw=lambda low, high: high) for backoff in backoffs]
    assert max(longest) == BACKOFF_MAX_S <= 5.0
    assert shortest[-1] == pytest.approx(BACKOFF_MAX_S * (1 - BACKOFF_JITTER))
    assert 0 < BACKOFF_JITTER < 1


class _CountingPublisher:
    """A QoS 1 publisher that records when the broker acknowledged each message (PUBACK)."""

    def __init__(self, host: str, port: int):
        self._index_of_mid: dict[int, int] = {}
        self._acked_at_of_mid: dict[int, float] = {}
        self._lock = threading.Lock()  # never held while calling paho, which holds its own locks
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(100)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 1)
        self.client.on_publish = self._on_publish
        self.client.connect(host, port)
        self.client.loop_start()

    def _on_publish(self, _client, _userdata, mid, _reason, _properties) -> None:
        with self._lock:
            self._acked_at_of_mid[mid] = time.time()  # compared with the persistence file's mtime

    def publish(self, index: int, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        with self._lock:
            self._index_of_mid[info.mid] = index

    @property
    def acked_at(self) -> dict[int, float]:
        with self._lock:
            return {self._index_of_mid[mid]: moment for mid, moment in self._acked_at_of_mid.items()
                    if mid in self._index_of_mid}

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _stored_indices(engine, prefix: str) -> set[int]:
    with engine.connect() as connection:
        ids = connection.execute(select(Observation.device_id).where(Observation.device_id.like(f"{prefix}%"))).scalars()
        return {int(device_id[len(prefix):]) for device_id in ids}


def test_broker_killed_and_restarted_loses_nothing_acknowledged_before_its_last_save(
        database_url, private_broker, tiny_city):
    """What it asserts, precisely, with the shipped configuration and a real Mosquitto:
    1. the ingest's persistent session is on disk within 5 s of its subscription;
    2. every QoS 1 message the broker acknowledged to the publisher before its last save
       preceding a kill -9 (the persistence file's mtime) is stored once, although the ingest
       was offline and the broker held it only in its queue;
    3. every message the broker acknowledged after its restart on the same port is stored once.
    Messages acknowledged between the last save and the kill may be lost (Mosquitto saves when
    more than ``autosave_interval`` whole seconds have passed: about the last 2 s of them);
    messages sent while the broker was down were never acknowledged and are the publisher's.
    """
    _require_mosquitto(private_broker)
    assert int(_shipped_setting("autosave_interval")) <= 2
    settings = make_settings(database_url, private_broker, tiny_city)
    root = settings.topic_root
    first = start_ingest(settings)
    wait_until(lambda: private_broker.persistence_file.exists(), 5,
               message=f"the broker to save the ingest's session (log: {private_broker.log_text()[-500:]})")
    first.close()  # from here the broker queues for the offline session

    publisher = _CountingPublisher(private_broker.host, private_broker.port)
    prefix = "rs-"

    def publish(index: int) -> None:
        entity = {**traffic_entity(index // 60, second=index % 60), "id": f"urn:ngsi-ld:TrafficFlowObserved:{prefix}{index}"}
        publisher.publish(index, f"{root}/telemetry/{prefix}{index}", json.dumps(entity).encode())

    for index in range(1000):
        publish(index)
    wait_until(lambda: len(publisher.acked_at) == 1000, 30, message="the first 1,000 acknowledgments")
    last_ack = max(publisher.acked_at.values())
    wait_until(lambda: private_broker.persistence_file.stat().st_mtime > last_ack, 10,
               message="a save after the first 1,000 acknowledgments")

    def keep_publishing() -> None:  # before, during and after the crash
        for index in range(1000, 1600):
            publish(index)
            time.sleep(0.005)

    publishing = threading.Thread(target=keep_publishing)
    publishing.start()
    wait_until(lambda: len(publisher.acked_at) >= 1100, 30, message="acknowledgments of the second burst")
    last_save = private_broker.persistence_file.stat().st_mtime
    private_broker.kill()
    private_broker.start()
    restarted_at = time.time()
    publishing.join(60)
    wait_until(lambda: len(publisher.acked_at) >= 1500, 60, message="acknowledgments after the restart")
    publisher.close()
    saved = {index for index, moment in publisher.acked_at.items() if moment < last_save}
    after_restart = {index for index, moment in publisher.acked_at.items() if moment > restarted_at}
    assert len(saved) >= 1000 and after_restart

    second = start_ingest(settings)
    try:
        engine = second.runtime.engine
        wait_until(lambda: saved | after_restart <= _stored_indices(engine, prefix), 60, interval=0.25,
                   message="every message acknowledged before the last save or after the restart to be stored")
        assert count_observations(engine) == len(_stored_indices(engine, prefix))  # each stored once
    finally:
        second.close()
