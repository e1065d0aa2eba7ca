"""The broker with CityOps's shipped accounts, ACL and TLS (deploy/mosquitto/): a real Mosquitto
with a password file, the shipped ACL and a TLS listener signed by a throwaway CA."""
from __future__ import annotations

import json
import shutil
import ssl
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from services.broker import broker_reachable
from services.config import CITIES_DIR, MqttTarget, Settings
from services.ingest import start_ingest_thread
from services.mqtt_publisher import MqttPublisher
from services.runtime import build_ingest, open_runtime
from services.simulator import start_simulator_thread
from tests.brokers import BrokerAccess, MosquittoBroker, wait_until
from tests.integration.support import count_observations, make_settings, start_ingest, traffic_entity
from tests.tls import make_test_ca

pytestmark = pytest.mark.skipif(not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()),
                                reason="needs Mosquitto (apt install mosquitto)")

ROOT = f"sec{uuid.uuid4().hex[:6]}/city"
ACCOUNTS = {
    "cityops": ("cityops-pass", "cityops"),
    "traffic-77": ("device-pass", "device"),
    "amb-1": ("vehicle-pass", "device"),
    "simulator": ("sim-pass", "simulator"),
}


@dataclass
class SecuredBroker:
    broker: MosquittoBroker
    ca_file: Path

    @property
    def tls_port(self) -> int:
        return self.broker.access.tls_port

    def url(self, name: str, password: str | None = None) -> str:
        return f"mqtts://{name}:{password or ACCOUNTS[name][0]}@127.0.0.1:{self.tls_port}"


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> SecuredBroker:
    tls = make_test_ca(tmp_path_factory.mktemp("tls"))
    broker = MosquittoBroker(access=BrokerAccess(ACCOUNTS, root=ROOT, tls=tls))
    broker.start()
    wait_until(lambda: broker_reachable("127.0.0.1", broker.access.tls_port, 0.2), 10, message="the TLS listener")
    yield SecuredBroker(broker, tls.ca_file)
    broker.close()


class Client:
    """A paho client of a test (a device, a vehicle, an intruder) with what it received."""

    def __init__(self, port: int, username: str | None, password: str | None, context: ssl.SSLContext | None):
        self.connack = threading.Event()
        self.subscribed = threading.Event()
        self.disconnected = threading.Event()
        self.reason: mqtt.ReasonCode | None = None
        self.received: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}")
        if username:
            self.client.username_pw_set(username, password)
        if context:
            self.client.tls_set_context(context)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda _c, _u, message: self.received.append((message.topic, message.payload))
        self.client.on_subscribe = lambda *_args: self.subscribed.set()
        self.client.on_disconnect = lambda *_args: self.disconnected.set()
        self.client.connect("127.0.0.1", port)  # the TLS handshake happens here
        self.client.loop_start()

    def _on_connect(self, _client, _userdata, _flags, reason_code, _properties):
        self.reason = reason_code
        self.connack.set()

    def accepted(self) -> bool:
        assert self.connack.wait(10), "no CONNACK"
        return not self.reason.is_failure

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(10), "no SUBACK"

    def publish(self, topic: str, payload) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.client.publish(topic, data, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def trusting(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


@pytest.fixture
def clients():
    opened: list[Client] = []

    def open_client(port, username=None, password=None, context=None) -> Client:
        client = Client(port, username, password, context)
        opened.append(client)
        return client

    yield open_client
    for client in opened:
        client.close()


@pytest.fixture
def secure_ingest(database_url, secured, tiny_city):
    settings = make_settings(database_url, secured.broker, tiny_city, topic_root=ROOT,
                             mqtt_url=secured.url("cityops"), mqtt_ca_file=secured.ca_file)
    running = start_ingest(settings)
    yield running
    running.close()


def test_ingest_signs_in_over_tls_and_stores_a_device_reading(secure_ingest, secured, clients):
    assert secure_ingest.runtime.settings.mqtt.tls
    device = clients(secured.tls_port, "traffic-77", "device-pass", trusting(secured.ca_file))
    assert device.accepted()
    device.publish(f"{ROOT}/telemetry/traffic-77", {**traffic_entity(1, speed=33.0), "id": "traffic-77"})
    wait_until(lambda: count_observations(secure_ingest.runtime.engine, "traffic-77") == 1, 15,
               message="the reading sent over TLS to be stored")


def forbidden(secured, clients, name: str, topic: str, payload) -> None:
    """Publishes as ``name`` where it may not: Mosquitto drops the message and, as MQTT 3.1.1
    allows (MQTT-3.3.5-2), closes that client's connection."""
    client = clients(secured.tls_port, name, ACCOUNTS[name][0], trusting(secured.ca_file))
    assert client.accepted()
    client.client.publish(topic, json.dumps(payload).encode(), qos=1)
    assert client.disconnected.wait(10), f"{name} may publish on {topic}"


def test_device_cannot_publish_commands_alerts_kpis_or_for_another_device(secure_ingest, secured, clients):
    for topic, payload in [
        (f"{ROOT}/units/amb-1/cmd", {"cmdId": "forged", "command": "dispatch", "incidentId": 1}),
        (f"{ROOT}/alerts/999", {"id": "999", "type": "Alert", "severity": "critical"}),
        (f"{ROOT}/kpis/response/all", {"kpiValue": 1}),
        (f"{ROOT}/telemetry/traffic-78", {**traffic_entity(2), "id": "traffic-78"}),
        (f"{ROOT}/units/amb-1/state", {"id": "amb-1", "type": "Vehicle"}),
        (f"{ROOT}/reports", {"service_request_id": "x", "service_code": "pothole"}),
    ]:
        forbidden(secured, clients, "traffic-77", topic, payload)
    # then one message it may send: the broker handles one message after the other and keeps the
    # order towards the ingest, so once this one is stored, a refused one would have come first
    device = clients(secured.tls_port, "traffic-77", "device-pass", trusting(secured.ca_file))
    assert device.accepted()
    device.publish(f"{ROOT}/telemetry/traffic-77", {**traffic_entity(3), "id": "traffic-77"})
    engine = secure_ingest.runtime.engine
    wait_until(lambda: count_observations(engine, "traffic-77") == 1, 15, message="the permitted reading")
    assert secure_ingest.ingest.stats.received == 1
    assert count_observations(engine) == 1
    assert not device.disconnected.is_set()


def test_only_cityops_commands_reach_a_vehicle(secured, clients):
    vehicle = clients(secured.tls_port, "amb-1", "vehicle-pass", trusting(secured.ca_file))
    assert vehicle.accepted()
    vehicle.subscribe(f"{ROOT}/units/+/cmd")  # it may ask for every unit's; it gets its own
    forbidden(secured, clients, "traffic-77", f"{ROOT}/units/amb-1/cmd", {"cmdId": "forged"})
    publisher = MqttPublisher(MqttTarget.from_url(secured.url("cityops"), ca_file=secured.ca_file))
    try:
        wait_until(lambda: publisher.connected, 15, message="CityOps's command publisher to sign in")
        assert publisher.publish(f"{ROOT}/units/amb-2/cmd", {"cmdId": "other-unit"}, timeout=10)
        assert publisher.publish(f"{ROOT}/units/amb-1/cmd", {"cmdId": "genuine"}, timeout=10)
        wait_until(lambda: vehicle.received, 10, message="the genuine command")
    finally:
        publisher.close()
    assert [json.loads(payload)["cmdId"] for _, payload in vehicle.received] == ["genuine"]


@pytest.mark.parametrize("listener", ["tls", "plain"])
def test_anonymous_and_wrong_password_connections_are_refused(secured, clients, listener):
    port, context = ((secured.tls_port, trusting(secured.ca_file)) if listener == "tls"
                     else (secured.broker.port, None))
    assert not clients(port, None, None, context).accepted()
    assert not clients(port, "cityops", "not-the-password", context).accepted()
    assert not clients(port, "nobody", "cityops-pass", context).accepted()
    assert clients(port, "cityops", "cityops-pass", context).accepted()


def test_ingest_with_a_wrong_password_stays_disconnected_and_says_so(database_url, secured, tiny_city, caplog):
    settings = make_settings(database_url, secured.broker, tiny_city, topic_root=ROOT,
                             mqtt_url=secured.url("cityops", "wrong-pass-4711"), mqtt_ca_file=secured.ca_file)
    ingest = build_ingest(open_runtime(settings))
    stop = threading.Event()
    thread = start_ingest_thread(ingest, stop)
    try:
        wait_until(lambda: "broker unreachable" in caplog.text, 15, message="the refusal to be logged")
        assert not ingest.stats.broker_connected and ingest.stats.connections == 0
    finally:
        stop.set()
        thread.join(30)
    assert "wrong-pass-4711" not in caplog.text


def test_server_certificate_is_checked(secured, clients):
    untrusted = ssl.create_default_context()  # the system's CAs: not the test CA
    with pytest.raises(ssl.SSLCertVerificationError):
        clients(secured.tls_port, "cityops", "cityops-pass", untrusted)


def test_simulator_publishes_through_the_acl_with_its_own_account(secured, clients):
    listener = clients(secured.tls_port, "cityops", "cityops-pass", trusting(secured.ca_file))
    assert listener.accepted()
    listener.subscribe(f"{ROOT}/#")
    settings = Settings.from_env({}, city=str(CITIES_DIR / "helsinki"), topic_root=ROOT,
                                 mqtt_url=secured.url("cityops"), sim_mqtt_url=secured.url("simulator"),
                                 mqtt_ca_file=secured.ca_file)
    stop = threading.Event()
    thread = start_simulator_thread(settings, stop, backfill=timedelta(minutes=2), seed=7)
    try:
        wait_until(lambda: any("/telemetry/" in topic for topic, _ in listener.received), 60,
                   message="the simulator's telemetry")
        wait_until(lambda: any(topic.endswith("/state") for topic, _ in listener.received), 30,
                   message="the simulator's vehicle states")
    finally:
        stop.set()
        thread.join(30)
