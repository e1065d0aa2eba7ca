"""Storage (migrations, retention, idempotent writes) and the REST API, on SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from services.auth import create_token, revoke_token
from services.config import Settings
from services.devices import device_observations, purge_observations
from services.models import AuditEntry
from services.runtime import open_runtime
from services.store import Batch, ObservationStore, RejectedIn
from services.telemetry import ObservationIn

NOW = datetime.now(timezone.utc).replace(microsecond=0)
ADMIN = "test-admin-token"


def observation(device_id: str, minutes_ago: float, speed: float = 40.0) -> ObservationIn:
    return ObservationIn(device_id=device_id, entity_type="TrafficFlowObserved",
                         observed_at=NOW - timedelta(minutes=minutes_ago), received_at=NOW,
                         lon=24.94, lat=60.17, values={"averageVehicleSpeed": speed})


@pytest.fixture
def runtime(database_url, tiny_city, tmp_path):
    runtime = open_runtime(Settings.from_env({}, database_url=database_url, city=str(tiny_city),
                                             admin_token=ADMIN, data_dir=tmp_path))
    yield runtime
    runtime.engine.dispose()  # its idle connections: the PostgreSQL server is shared by every test


@pytest.fixture
def client(runtime):
    from app import create_app

    return create_app(runtime).server.test_client()


def auth(token: str = ADMIN) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_migrations_build_exactly_the_schema_the_models_declare(runtime):
    with runtime.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_migrating_twice_changes_nothing(runtime):
    from services.db import migrate

    migrate(runtime.engine)  # already at head: a no-op, not an error


def test_store_writes_each_observation_once_and_keeps_the_newest_as_latest(runtime):
    store = ObservationStore(runtime.engine)
    first = store.write(Batch(observations=[observation("t1", 2, 30), observation("t1", 1, 35)]))
    again = store.write(Batch(observations=[observation("t1", 1, 35), observation("t1", 5, 20)]))
    assert (first.stored, first.duplicates) == (2, 0)
    assert (again.stored, again.duplicates) == (1, 1)
    history = device_observations(runtime.engine, "t1")
    assert [row.values["averageVehicleSpeed"] for row in history] == [20, 30, 35]  # oldest first
    from services.devices import get_device

    device = get_device(runtime.engine, "t1")
    assert device.last_values["averageVehicleSpeed"] == 35  # an older late arrival does not win


def test_retention_deletes_observations_older_than_the_period(runtime):
    store = ObservationStore(runtime.engine)
    store.write(Batch(observations=[observation("t2", 60 * 24 * 31), observation("t2", 60 * 24 * 29)]))
    assert purge_observations(runtime.engine, timedelta(days=30)) == 1
    assert len(device_observations(runtime.engine, "t2")) == 1


def test_retention_deletes_old_rejected_messages_with_their_further_reasons(runtime):
    from services.rejections import list_rejections, rejection_counts

    store = ObservationStore(runtime.engine)
    store.write(Batch(rejected=[
        RejectedIn("city/telemetry/gw", b"[...]", "unknown_type", "no type", NOW - timedelta(days=31),
                   further=(("out_of_range", "pm25=-1"), ("partial", "pm10 dropped")), count=3),
        RejectedIn("city/telemetry/x", b"{", "not_json", "bad", NOW)]))
    assert rejection_counts(runtime.engine) == {"unknown_type": 1, "out_of_range": 1, "partial": 1, "not_json": 1}
    assert [view.count for view in list_rejections(runtime.engine, reason="partial")] == [3]
    purge_observations(runtime.engine, timedelta(days=30))
    assert rejection_counts(runtime.engine) == {"not_json": 1}


def test_devices_need_a_token_and_list_registered_devices(client):
    assert client.get("/api/v1/devices").status_code == 401
    assert client.get("/api/v1/devices", headers=auth("wrong")).get_json()["error"]["code"] == "unauthorized"
    body = client.get("/api/v1/devices", headers=auth()).get_json()
    by_id = {device["id"]: device for device in body["devices"]}
    assert by_id["flood-1"]["registered"] and by_id["flood-1"]["status"] == "silent" and by_id["flood-1"]["stale"]
    assert by_id["amb-1"]["type"] == "Vehicle"
    only_air = client.get("/api/v1/devices?type=AirQualityObserved", headers=auth()).get_json()
    assert [device["id"] for device in only_air["devices"]] == ["air-1"]


def test_observations_are_filtered_by_since_and_until(runtime, client):
    ObservationStore(runtime.engine).write(Batch(observations=[observation("t3", m) for m in (30, 20, 10)]))
    since = (NOW - timedelta(minutes=25)).isoformat()
    until = (NOW - timedelta(minutes=15)).isoformat()
    response = client.get("/api/v1/devices/t3/observations", query_string={"since": since, "until": until},
                          headers=auth())
    assert response.status_code == 200
    assert [row["observed_at"] for row in response.get_json()["observations"]] == [
        (NOW - timedelta(minutes=20)).isoformat().replace("+00:00", "Z")]


@pytest.mark.parametrize("query, field", [
    ({"since": "yesterday"}, "since"),
    ({"until": "2026-13-01"}, "until"),
    ({"limit": "many"}, "limit"),
    ({"limit": "0"}, "limit"),
    ({"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}, "since"),
])
def test_bad_observation_queries_get_a_400_json_error_naming_the_field(runtime, client, query, field):
    ObservationStore(runtime.engine).write(Batch(observations=[observation("t4", 1)]))
    response = client.get("/api/v1/devices/t4/observations", query_string=query, headers=auth())
    assert response.status_code == 400
    assert response.get_json()["error"]["field"] == field


def test_unknown_device_and_unknown_endpoint_are_json_404s(client):
    response = client.get("/api/v1/devices/nope/observations", headers=auth())
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    response = client.get("/api/v1/no-such-thing", headers=auth())
    assert response.status_code == 404 and "error" in response.get_json()


def test_rejected_messages_are_visible_to_the_administrator_only(runtime, client):
    ObservationStore(runtime.engine).write(Batch(rejected=[
        RejectedIn("city/telemetry/x", b"\xff\xfe", "not_json", "not UTF-8", NOW)]))
    display = create_token(runtime.engine, "kiosk", "display")
    assert client.get("/api/v1/rejected-messages", headers=auth(display)).status_code == 403
    body = client.get("/api/v1/rejected-messages", headers=auth()).get_json()
    assert body["rejected"][0]["reason"] == "not_json" and body["rejected"][0]["topic"] == "city/telemetry/x"
    assert client.get("/api/v1/rejected-messages?reason=bogus", headers=auth()).status_code == 400


def test_display_token_reads_until_revoked_and_both_are_audited(runtime, client):
    token = create_token(runtime.engine, "wall-1", "display")
    assert client.get("/api/v1/devices", headers=auth(token)).status_code == 200
    assert revoke_token(runtime.engine, "wall-1") == 1
    assert client.get("/api/v1/devices", headers=auth(token)).status_code == 401
    from sqlmodel import Session, select

    with Session(runtime.engine) as session:
        actions = [entry.action for entry in session.exec(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["token.create", "token.revoke"]


def test_openapi_document_describes_every_endpoint(client):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.")
    assert {"/health", "/devices", "/devices/{device_id}", "/devices/{device_id}/observations",
            "/rejected-messages", "/openapi.json"} <= set(document["paths"])
    parameters = document["paths"]["/devices/{device_id}/observations"]["get"]["parameters"]
    assert {p["name"] for p in parameters} == {"device_id", "since", "until", "limit"}


def test_health_without_a_running_ingest_says_degraded_with_503(client):
    response = client.get("/api/v1/health")
    body = response.get_json()
    assert response.status_code == 503
    assert body["db"] is True and body["broker"] is False and body["status"] == "degraded"
    assert body["problems"] == ["no ingest process has reported in the last 10 s"]


def test_liveness_answers_200_while_the_pipeline_is_degraded_so_screens_do_not_say_the_server_is_lost(client):
    assert client.get("/api/v1/health").status_code == 503  # no ingest: degraded
    response = client.get("/api/v1/health/live")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
