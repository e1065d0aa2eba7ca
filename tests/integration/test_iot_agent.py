"""IoT Agent devices (issue 15, point 6): provisioned through the REST API (administrator only),
read by the running ingest on their own topics; an unprovisioned device is kept as a rejection."""
from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from services.auth import create_token
from services.devices import get_device
from services.models import AuditEntry, RejectedMessage
from tests.brokers import wait_until
from tests.integration.support import Publisher, count_observations, make_settings, start_ingest

ADMIN = "test-admin-token"


def auth(token: str = ADMIN) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def running(database_url, broker, tiny_city, tmp_path):
    settings = make_settings(database_url, broker, tiny_city, admin_token=ADMIN, data_dir=tmp_path,
                             iot_agent_file=tmp_path / "no-iot-agent.yaml")
    ingest = start_ingest(settings)
    publisher = Publisher(broker.host, broker.port)
    from app import create_app

    client = create_app(ingest.runtime).server.test_client()
    yield ingest, publisher, client
    publisher.close()
    ingest.close()


def test_device_provisioned_through_the_api_is_read_by_the_running_ingest(running):
    ingest, publisher, client = running
    apikey = f"key{uuid.uuid4().hex[:10]}"
    group = {"apikey": apikey, "entity_type": "WeatherObserved",
             "attributes": [{"object_id": "t", "name": "temperature"}, {"object_id": "h", "name": "relativeHumidity"}],
             "static_attributes": [{"name": "location", "value": {"type": "Point", "coordinates": [24.941, 60.171]}}]}
    assert client.post("/api/v1/iot/services", json={"services": [group]}, headers=auth()).status_code == 201
    device = {"apikey": apikey, "device_id": "weather-7", "entity_name": "urn:ngsi-ld:WeatherObserved:roof-7"}
    assert client.post("/api/v1/iot/devices", json={"devices": [device]}, headers=auth()).status_code == 201
    listed = client.get("/api/v1/iot/devices", headers=auth()).get_json()["devices"]
    assert [row["entity_name"] for row in listed] == [device["entity_name"]]

    publisher.publish_all([(f"/ul/{apikey}/weather-7/attrs", b"t|15|h|70"),
                           (f"/ul/{apikey}/weather-8/attrs", b"t|16")])
    engine = ingest.runtime.engine
    wait_until(lambda: count_observations(engine, "roof-7") == 1, 10, message="the UltraLight measure to be stored")
    stored = get_device(engine, "roof-7")
    assert stored.type == "WeatherObserved" and (stored.lon, stored.lat) == (24.941, 60.171)
    assert stored.last_values == {"temperature": 15.0, "relativeHumidity": 0.7}

    def unprovisioned():
        with engine.connect() as connection:
            return connection.execute(select(RejectedMessage.reason, RejectedMessage.detail, RejectedMessage.topic)
                                      .where(RejectedMessage.reason == "unprovisioned")).all()

    rows = wait_until(unprovisioned, 10, message="the unprovisioned device's rejection")
    assert "weather-8" in rows[0].detail and rows[0].topic == f"/ul/{apikey}/weather-8/attrs"
    with engine.connect() as connection:
        actions = connection.execute(select(AuditEntry.action, AuditEntry.actor)).all()
    assert ("iot_agent.service_group.save", "admin-token") in actions
    assert ("iot_agent.device.save", "admin-token") in actions


def test_provisioning_is_for_administrators_only_and_bad_input_says_which_field(running):
    ingest, _publisher, client = running
    display = create_token(ingest.runtime.engine, "wall", "display")
    group = {"apikey": "k1", "entity_type": "WeatherObserved"}
    assert client.get("/api/v1/iot/services").status_code == 401
    assert client.post("/api/v1/iot/services", json=group, headers=auth(display)).status_code == 403
    refused = client.post("/api/v1/iot/services", json={**group, "entity_type": "Spaceship"}, headers=auth())
    assert refused.status_code == 400 and refused.get_json()["error"]["field"] == "entity_type"
    assert client.post("/api/v1/iot/services", json=group, headers=auth()).status_code == 201
    assert client.delete("/api/v1/iot/services/k1", headers=auth()).status_code == 200
    assert client.delete("/api/v1/iot/services/k1", headers=auth()).status_code == 404
    assert client.get("/api/v1/iot/services", headers=auth()).get_json()["count"] == 0
