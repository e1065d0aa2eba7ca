"""A running ingest against a real broker and database, for integration tests."""
from __future__ import annotations

import json
import sys
import threading
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import paho.mqtt.client as mqtt
from sqlalchemy import func, select

from services.config import Settings
from services.ingest import Ingest, start_ingest_thread
from services.models import Device, Observation, RejectedMessage
from services.runtime import Runtime, build_ingest, open_runtime
from tests.brokers import wait_until


def make_settings(database_url: str, broker, city_folder, **overrides) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    values = dict(database_url=database_url, mqtt_url=broker.url, city=str(city_folder),
                  topic_root=f"test{suffix}/city", ingest_client_id=f"cityops-test-{suffix}")
    values.update(overrides)
    return Settings.from_env({}, **values)


def thread_stacks() -> str:
    """Where every thread of this process is now: what a test says when something does not stop."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    return "\n".join(f"--- {names.get(ident, ident)}\n{''.join(traceback.format_stack(frame))}"
                     for ident, frame in sys._current_frames().items())


@dataclass
class RunningIngest:
    runtime: Runtime
    ingest: Ingest
    stop: threading.Event
    thread: threading.Thread

    def close(self) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), f"the ingest did not stop; where each thread is:\n{thread_stacks()}"
        self.runtime.engine.dispose()  # PostgreSQL's connections are shared by every test run on the machine


def start_ingest(settings: Settings) -> RunningIngest:
    runtime = open_runtime(settings)
    ingest = build_ingest(runtime)
    stop = threading.Event()
    thread = start_ingest_thread(ingest, stop)
    wait_until(lambda: ingest.stats.broker_connected, 15, message="the ingest to connect")
    return RunningIngest(runtime, ingest, stop, thread)


@dataclass
class Publisher:
    host: str
    port: int
    client: mqtt.Client = field(init=False)

    def __post_init__(self):
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"pub-{uuid.uuid4().hex[:8]}")
        self.client.max_inflight_messages_set(1000)
        self.client.max_queued_messages_set(0)
        self.client.connect(self.host, self.port)
        self.client.loop_start()

    def publish(self, topic: str, payload, qos: int = 1) -> mqtt.MQTTMessageInfo:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return self.client.publish(topic, data, qos=qos)

    def publish_all(self, messages, qos: int = 1) -> None:
        infos = [self.publish(topic, payload, qos) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(30)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def retained_messages(broker, topic_filter: str, expected: int, timeout: float = 10) -> dict[str, tuple[dict, bool]]:
    """A fresh subscriber, connecting after the publish: what the broker kept, by topic (payload, retain flag)."""
    received: dict[str, tuple[dict, bool]] = {}
    done = threading.Event()

    def on_message(client, userdata, message):
        received[message.topic] = (json.loads(message.payload), message.retain)
        if len(received) >= expected:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{uuid.uuid4().hex[:8]}")
    client.on_message = on_message
    client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        done.wait(timeout)
    finally:
        client.loop_stop()
        client.disconnect()
    return received


def traffic_entity(minute: int, speed: float = 42.0, second: int = 0, device_id: str | None = None) -> dict:
    """A traffic reading; without ``device_id`` it has no ``id`` and is its topic's device's."""
    moment = datetime(2026, 11, 22, 8, 0, tzinfo=timezone.utc) + timedelta(minutes=minute, seconds=second)
    entity = {
        "type": "TrafficFlowObserved",
        "dateObserved": moment.isoformat().replace("+00:00", "Z"),
        "location": {"type": "LineString", "coordinates": [[24.940, 60.170], [24.945, 60.171]]},
        "averageVehicleSpeed": speed, "intensity": 12, "occupancy": 0.2,
    }
    if device_id is not None:
        entity["id"] = f"urn:ngsi-ld:TrafficFlowObserved:{device_id}"
    return entity


def count_observations(engine, device_id: str | None = None) -> int:
    query = select(func.count()).select_from(Observation)
    if device_id is not None:
        query = query.where(Observation.device_id == device_id)
    with engine.connect() as connection:
        return connection.execute(query).scalar_one()


def count_rejections(engine) -> dict[str, int]:
    """Kept rejected messages by their (first) reason."""
    with engine.connect() as connection:
        rows = connection.execute(select(RejectedMessage.reason, func.count()).group_by(RejectedMessage.reason))
        return dict(rows.all())


def count_devices(engine, prefix: str = "") -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Device).where(Device.id.startswith(prefix))).scalar_one()
