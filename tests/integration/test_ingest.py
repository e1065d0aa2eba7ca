"""The ingest against a real broker and a real database (SQLite and PostgreSQL)."""
from __future__ import annotations

import asyncio
import socket
import threading
import tracemalloc
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest
from pydantic import SecretStr
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

import services.health
import services.ingest
from services.db import make_engine
from services.devices import get_device
from services.health import ingest_health
from services.ingest import _Pending
from services.models import RejectedMessage, RejectionReason
from services.rejections import list_rejections
from services.rules import alarm_service
from services.runtime import build_ingest, open_runtime
from services.store import Batch
from services.telemetry import MAX_KEPT_REASONS, ObservationIn, ParsedMessage, parse_message
from services.units import get_unit
from tests.brokers import wait_until
from tests.dash_calls import callback_body, response_text
from tests.integration.support import (
    Publisher,
    count_devices,
    count_observations,
    count_rejections,
    make_settings,
    start_ingest,
    traffic_entity,
)


@dataclass
class _NoBroker:
    """For tests that drive the ingest's write path without a broker."""

    url: str = "mqtt://127.0.0.1:1"


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # free once closed: nothing listens there


def count_rows(engine, table) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.fixture
def running(database_url, broker, tiny_city):
    ingest = start_ingest(make_settings(database_url, broker, tiny_city))
    publisher = Publisher(broker.host, broker.port)
    yield ingest, publisher
    publisher.close()
    ingest.close()


def test_published_observation_is_stored_with_latest_state(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    publisher.publish_all([(f"{root}/telemetry/traffic-7", traffic_entity(1, speed=37.5))])
    engine = ingest.runtime.engine
    wait_until(lambda: count_observations(engine, "traffic-7") == 1, 10, message="the observation to be stored")
    device = get_device(engine, "traffic-7")
    assert device.type == "TrafficFlowObserved"
    assert device.last_values["averageVehicleSpeed"] == 37.5
    assert device.district == "West"  # from the city's districts, by location
    assert device.last_observed_at.isoformat() == "2026-11-22T08:01:00+00:00"


def test_same_message_twice_is_stored_once(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    message = (f"{root}/telemetry/traffic-8", traffic_entity(2))
    publisher.publish_all([message, message])
    wait_until(lambda: ingest.ingest.stats.received >= 2, 10, message="both deliveries")
    wait_until(lambda: ingest.ingest.stats.stored + ingest.ingest.stats.duplicates >= 2, 10, message="both written")
    assert count_observations(ingest.runtime.engine, "traffic-8") == 1
    assert ingest.ingest.stats.duplicates == 1


def test_hundred_malformed_messages_are_kept_with_reasons_and_ingest_keeps_running(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    bad = []
    for i in range(25):
        bad.append((f"{root}/telemetry/bad-{i}", b"{not json"))
        only_measure_out_of_range = {**traffic_entity(i), "averageVehicleSpeed": 999}
        del only_measure_out_of_range["intensity"], only_measure_out_of_range["occupancy"]
        bad.append((f"{root}/telemetry/bad-{i}", only_measure_out_of_range))
        bad.append((f"{root}/telemetry/bad-{i}", {**traffic_entity(i), "type": "Spaceship"}))
        no_location = traffic_entity(i)
        del no_location["location"]
        bad.append((f"{root}/telemetry/unregistered-{i}", no_location))
    publisher.publish_all(bad)
    engine = ingest.runtime.engine
    wait_until(lambda: sum(count_rejections(engine).values()) == 100, 15, message="100 kept rejections")
    assert count_rejections(engine) == {"not_json": 25, "out_of_range": 25, "unknown_type": 25,
                                        "missing_location": 25}
    assert ingest.ingest.stats.rejected == 100
    # still running: a good message after the bad ones is stored
    publisher.publish_all([(f"{root}/telemetry/traffic-9", traffic_entity(3))])
    wait_until(lambda: count_observations(engine, "traffic-9") == 1, 10, message="a good message after the bad")
    assert ingest.thread.is_alive()


def test_entity_without_location_takes_its_registered_location(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    publisher.publish_all([(f"{root}/telemetry/flood-1", {
        "id": "urn:ngsi-ld:FloodMonitoring:flood-1", "type": "FloodMonitoring", "currentLevel": 0.98,
        "alertLevel": 1.2, "dangerLevel": 2.0, "observationDateTime": "2026-11-22T10:00:00Z"})])
    engine = ingest.runtime.engine
    wait_until(lambda: count_observations(engine, "flood-1") == 1, 10, message="the flood observation")
    device = get_device(engine, "flood-1")
    assert (device.lon, device.lat) == (24.951, 60.166)


def test_location_far_outside_the_city_is_stored_and_flagged_on_its_device(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    swapped = {**traffic_entity(4), "location": {"type": "Point", "coordinates": [60.170, 24.940]}}
    publisher.publish_all([(f"{root}/telemetry/swapped-1", swapped)])
    engine = ingest.runtime.engine
    wait_until(lambda: count_observations(engine, "swapped-1") == 1, 10, message="the swapped observation")
    device = get_device(engine, "swapped-1")
    assert device.out_of_area and device.status == "out_of_area"


def test_health_reports_broker_database_and_counters(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    publisher.publish_all([(f"{root}/telemetry/traffic-10", traffic_entity(5)), (f"{root}/telemetry/x", b"??")])
    wait_until(lambda: ingest_health(ingest.runtime.engine)["received"] >= 2, 10, message="the heartbeat")
    from app import create_app

    client = create_app(ingest.runtime).server.test_client()
    body = client.get("/api/v1/health").get_json()
    assert body["broker"] is True and body["db"] is True and body["status"] == "ok"
    assert body["ingest"]["stored"] >= 1 and body["ingest"]["rejected"] >= 1
    assert body["ingest"]["rejected_by_reason"]["not_json"] >= 1
    assert body["ingest"]["lag_seconds"] is not None


def test_ingest_reconnects_by_itself_after_the_broker_restarts(tmp_path, private_broker, tiny_city):
    ingest = start_ingest(make_settings(f"sqlite:///{tmp_path / 'db.sqlite'}", private_broker, tiny_city))
    root = ingest.runtime.settings.topic_root
    try:
        connections = ingest.ingest.stats.connections
        private_broker.stop()
        wait_until(lambda: not ingest.ingest.stats.broker_connected, 15, message="the ingest to see the loss")
        private_broker.start()
        wait_until(lambda: ingest.ingest.stats.connections > connections and ingest.ingest.stats.broker_connected,
                   30, message="the ingest to reconnect")
        publisher = Publisher(private_broker.host, private_broker.port)
        publisher.publish_all([(f"{root}/telemetry/traffic-11", traffic_entity(6))])
        publisher.close()
        wait_until(lambda: count_observations(ingest.runtime.engine, "traffic-11") == 1, 10,
                   message="an observation after the reconnect")
    finally:
        ingest.close()


def test_messages_published_while_the_ingest_is_down_are_all_stored_once(database_url, private_broker, tiny_city):
    if private_broker.kind != "mosquitto":
        pytest.skip("the offline backlog needs Mosquitto with CityOps's queue configuration")
    settings = make_settings(database_url, private_broker, tiny_city)
    first = start_ingest(settings)  # creates the persistent session
    first.close()
    root = settings.topic_root
    publisher = Publisher(private_broker.host, private_broker.port)
    publisher.publish_all(
        ((f"{root}/telemetry/backlog-{i % 100}", traffic_entity(i // 100, second=i % 60)) for i in range(10_000)), qos=1)
    publisher.close()
    second = start_ingest(settings)
    try:
        engine = second.runtime.engine
        wait_until(lambda: second.ingest.stats.received >= 10_000, 120, interval=0.5,
                   message="the 10,000 queued messages")
        wait_until(lambda: second.ingest.stats.stored + second.ingest.stats.duplicates >= 10_000, 60, interval=0.5,
                   message="the backlog to be written")
        assert count_observations(engine) == 10_000
        assert second.ingest.stats.rejected == 0
    finally:
        second.close()

    # every one of them was acknowledged after its commit: a restarted ingest is redelivered none
    # (redeliveries would arrive before this marker, published after it connected)
    third = start_ingest(settings)
    try:
        publisher = Publisher(private_broker.host, private_broker.port)
        publisher.publish_all([(f"{root}/telemetry/marker", traffic_entity(0, second=0))], qos=1)
        publisher.close()
        wait_until(lambda: count_observations(third.runtime.engine, "marker") == 1, 30, message="the marker")
        assert third.ingest.stats.received == 1
    finally:
        third.close()


# ---------------------------------------------------------------- the entity's own id is the device

def test_gateway_topic_with_20_sensors_publishing_50_times_stores_1000_observations_of_20_devices(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    publisher.publish_all([(f"{root}/telemetry/gateway-1", traffic_entity(minute, device_id=f"gw-sensor-{n:02d}"))
                           for minute in range(50) for n in range(20)])
    stats, engine = ingest.ingest.stats, ingest.runtime.engine
    wait_until(lambda: stats.stored + stats.duplicates >= 1000, 30, message="the 1,000 observations written")
    assert count_observations(engine) == 1000 and stats.duplicates == 0 and stats.rejected == 0
    assert count_devices(engine, "gw-sensor-") == 20 and get_device(engine, "gateway-1") is None
    device = get_device(engine, "gw-sensor-07")
    assert device.last_observed_at.isoformat() == "2026-11-22T08:49:00+00:00"  # its own latest state


def test_json_array_of_50_entities_of_50_sensors_stores_50_devices_located_by_their_own_ids(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    entities = [traffic_entity(1, speed=10 + n, device_id=f"arr-{n:02d}") for n in range(49)]
    entities.append({"id": "urn:ngsi-ld:FloodMonitoring:flood-1", "type": "FloodMonitoring",  # registered, no location
                     "currentLevel": 0.5, "observationDateTime": "2026-11-22T10:00:00Z"})
    publisher.publish_all([(f"{root}/telemetry/gateway-2", entities)])
    engine = ingest.runtime.engine
    wait_until(lambda: count_observations(engine) == 50, 15, message="the 50 observations")
    assert count_devices(engine, "arr-") == 49 and get_device(engine, "gateway-2") is None
    assert get_device(engine, "arr-12").last_values["averageVehicleSpeed"] == 22
    flood = get_device(engine, "flood-1")
    assert (flood.lon, flood.lat) == (24.951, 60.166) and flood.last_values["currentLevel"] == 0.5


def test_vehicle_state_with_its_fleet_id_moves_the_unit_of_its_topic(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    publisher.publish_all([(f"{root}/units/amb-1/state", {
        "id": "urn:ngsi-ld:Vehicle:fleet-tracker-0042", "type": "Vehicle", "serviceStatus": "onRoute",
        "location": {"type": "Point", "coordinates": [24.947, 60.172]}, "speed": 40,
        "observationDateTime": "2026-11-22T10:00:00Z"})])
    engine = ingest.runtime.engine
    wait_until(lambda: count_observations(engine, "amb-1") == 1, 10, message="the unit's state")
    unit = get_unit(engine, "amb-1")
    assert (unit.lon, unit.lat, unit.speed_kmh, unit.service_status) == (24.947, 60.172, 40, "onRoute")
    assert get_device(engine, "fleet-tracker-0042") is None


# ---------------------------------------------------------------- one bad attribute does not lose the entity

def test_entity_with_a_boolean_precipitation_is_stored_without_it_and_the_attribute_kept_as_partial(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    weather = {"id": "weather-1", "type": "WeatherObserved", "dateObserved": "2026-11-22T10:00:00Z",
               "location": {"type": "Point", "coordinates": [24.941, 60.171]},
               "temperature": 3.5, "precipitation": True, "windSpeed": 4}
    publisher.publish_all([(f"{root}/telemetry/weather-1", weather)])
    engine = ingest.runtime.engine
    wait_until(lambda: count_rejections(engine).get("partial") == 1, 10, message="the partial rejection")
    assert count_observations(engine, "weather-1") == 1
    assert get_device(engine, "weather-1").last_values == {"temperature": 3.5, "windSpeed": 4}
    assert ingest.ingest.stats.rejected == 0 and ingest.ingest.stats.rejected_by_reason == {"partial": 1}
    (kept,) = list_rejections(engine, reason="partial")
    assert kept.detail.startswith("precipitation dropped (invalid value): ") and kept.topic.endswith("/weather-1")

    from app import create_app

    app = create_app(ingest.runtime)
    client = app.server.test_client()
    ingest.runtime.settings = ingest.runtime.settings.model_copy(update={"admin_token": SecretStr("admin-t")})
    admin = {"Authorization": "Bearer admin-t"}
    body = client.get("/api/v1/rejected-messages?reason=partial", headers=admin).get_json()
    assert [r["reason"] for r in body["rejected"]] == ["partial"] and "precipitation" in body["rejected"][0]["detail"]
    # the sensors page's rejections table, as the administrator's browser asks for it
    page = client.post("/_dash-update-component", headers=admin,
                       json=callback_body(app, "refresh_rejections", [0, "partial"]))
    assert "precipitation dropped" in response_text(page)
    wait_until(lambda: ingest_health(engine)["rejected_by_reason"].get("partial") == 1, 10, message="the heartbeat")


# ---------------------------------------------------------------- one bad message never stalls the ingest

def test_too_long_device_and_unit_ids_are_rejected_and_the_rest_of_their_batch_is_stored(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    vehicle = {"type": "Vehicle", "location": {"type": "Point", "coordinates": [24.947, 60.172]},
               "serviceStatus": "parked", "observationDateTime": "2026-11-22T10:00:00Z"}
    messages = [(f"{root}/telemetry/long-{n}", traffic_entity(n)) for n in range(20)]
    messages.insert(7, (f"{root}/telemetry/{'d' * 129}", traffic_entity(1)))
    messages.insert(15, (f"{root}/units/{'u' * 200}/state", vehicle))
    publisher.publish_all(messages)
    engine, stats = ingest.runtime.engine, ingest.ingest.stats
    wait_until(lambda: count_observations(engine) == 20 and sum(count_rejections(engine).values()) == 2, 15,
               message="the 20 good messages stored and the 2 bad ones kept")
    details = sorted(r.detail for r in list_rejections(engine))
    assert details[0].startswith("device id longer than 128") and details[1].startswith("unit id longer than 128")
    assert count_rejections(engine) == {"invalid_value": 2}
    # the ingest counts a batch just after its commit: read as the test saw the rows, the count could still
    # miss the last batch's, and "one more" never came (a series run); so the 20 counted first
    wait_until(lambda: stats.stored == 20, 10, message=lambda: f"the 20 counted (counted {stats.stored})")
    publisher.publish_all([(f"{root}/telemetry/long-after", traffic_entity(30))])
    wait_until(lambda: stats.stored == 21 and count_observations(engine) == 21, 10,
               message=lambda: f"stored to keep rising (counted {stats.stored})")


def test_message_the_database_refuses_is_kept_as_a_rejection_and_the_rest_of_its_batch_is_stored(running):
    """Parse-time checks keep known bad values away from the database; what still gets through
    (here a NUL character, which PostgreSQL refuses in text and SQLite takes) costs one message."""
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    report = {"service_request_id": "nul-1", "service_code": "pothole", "description": "a hole\u0000",
              "location": {"type": "Point", "coordinates": [24.941, 60.171]}}
    messages = [(f"{root}/telemetry/refuse-{n}", traffic_entity(n)) for n in range(10)]
    messages.insert(5, (f"{root}/reports", report))
    publisher.publish_all(messages)
    engine, stats = ingest.runtime.engine, ingest.ingest.stats
    wait_until(lambda: count_observations(engine) == 10, 15, message="the 10 good messages")
    if engine.dialect.name == "postgresql":
        wait_until(lambda: count_rejections(engine) == {"refused_by_database": 1}, 10, message="the refusal")
        (kept,) = list_rejections(engine)
        assert kept.topic == f"{root}/reports" and "NUL" in kept.detail and "nul-1" in kept.preview
        assert stats.rejected_by_reason == {"refused_by_database": 1}
    else:
        wait_until(lambda: stats.stored + stats.duplicates >= 10 and ingest.ingest._queue._unfinished_tasks == 0,
                   10, message="the batch")
        assert count_rejections(engine) == {}


def test_batch_refused_for_its_data_is_split_down_to_the_message_the_database_refuses(database_url, tiny_city):
    runtime = open_runtime(make_settings(database_url, _NoBroker(), tiny_city))
    ingest = build_ingest(runtime)
    received = datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)

    def item(n: int, entity_type: str | None = "TrafficFlowObserved") -> _Pending:
        observation = ObservationIn(device_id=f"split-{n}", entity_type=entity_type, observed_at=received,
                                    received_at=received, lon=24.94, lat=60.17, values={"intensity": n})
        return _Pending(n, 1, 0, f"city/telemetry/split-{n}", b'{"n": %d}' % n, received,
                        ParsedMessage(observations=[observation]), None, 0.0)

    pending = [item(n) for n in range(40)]
    pending[23] = item(23, entity_type=None)  # NOT NULL: every database refuses it
    try:
        asyncio.run(ingest._write(pending))
        assert count_observations(runtime.engine) == 39 and ingest.stats.stored == 39
        (kept,) = list_rejections(runtime.engine)
        assert (kept.reason, kept.topic, kept.preview) == ("refused_by_database", "city/telemetry/split-23", '{"n": 23}')
        assert "IntegrityError" in kept.detail or "NotNullViolation" in kept.detail
        assert ingest.stats.rejected_by_reason == {"refused_by_database": 1}
    finally:
        alarm_service(runtime).close()
        runtime.engine.dispose()


def test_database_failure_is_retried_and_health_says_degraded_with_503_while_nothing_is_stored(
        running, monkeypatch):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    monkeypatch.setattr(services.health, "STALLED_AFTER_S", 2.0)
    monkeypatch.setattr(services.ingest, "DATABASE_RETRY_S", 0.2)
    database_back = threading.Event()
    write = ingest.ingest.store.write

    def database_away(batch):
        if not database_back.is_set():
            raise sa_exc.OperationalError("INSERT ...", {}, Exception("server closed the connection unexpectedly"))
        return write(batch)

    monkeypatch.setattr(ingest.ingest.store, "write", database_away)
    from app import create_app

    client = create_app(ingest.runtime).server.test_client()
    publisher.publish_all([(f"{root}/telemetry/retry-1", traffic_entity(1))])

    def stalled() -> dict | None:
        response = client.get("/api/v1/health")
        body = response.get_json()
        return body if response.status_code == 503 and "stalled" in " ".join(body["problems"]) else None

    body = wait_until(stalled, 20, message="/health to say the ingest is stalled")
    assert body["status"] == "degraded" and body["db"] is True and body["broker"] is True
    assert count_observations(ingest.runtime.engine, "retry-1") == 0
    database_back.set()
    engine = ingest.runtime.engine
    wait_until(lambda: count_observations(engine, "retry-1") == 1, 10, message="the retried batch")
    wait_until(lambda: client.get("/api/v1/health").status_code == 200, 10, message="/health to be ok again")
    assert count_rejections(engine) == {} and ingest.ingest.stats.rejected == 0


def test_health_answers_503_json_when_the_database_is_unreachable(running):
    ingest, _ = running
    from app import create_app

    client = create_app(ingest.runtime).server.test_client()
    working = ingest.runtime.engine
    ingest.runtime.engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/test")
    try:
        response = client.get("/api/v1/health")
    finally:
        ingest.runtime.engine.dispose()
        ingest.runtime.engine = working
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "degraded" and body["db"] is False
    assert body["problems"] == ["the database is unreachable"]


# ---------------------------------------------------------------- no amplification

def unusable_entities(count: int) -> bytes:
    return b"[" + b",".join([b"{}"] * count) + b"]"  # 100,000 entities without a type: 300 KB


def test_message_of_100000_unusable_entities_is_one_bounded_rejection(running):
    ingest, publisher = running
    root = ingest.runtime.settings.topic_root
    publisher.publish_all([(f"{root}/telemetry/flood-gateway", unusable_entities(100_000))])
    engine = ingest.runtime.engine
    wait_until(lambda: count_rejections(engine), 15, message="the rejection")
    assert count_rejections(engine) == {"too_many_entities": 1} and count_rows(engine, RejectionReason) == 0
    (kept,) = list_rejections(engine)
    assert kept.detail.startswith("100,000 entities in one message; at most 1,000")
    assert kept.payload_size == 300_001
    assert ingest.ingest.stats.rejected == 1


def test_message_of_many_unusable_entities_keeps_its_payload_once_with_bounded_reasons_and_memory(
        database_url, tiny_city):
    runtime = open_runtime(make_settings(database_url, _NoBroker(), tiny_city, max_entities_per_message=200_000))
    ingest = build_ingest(runtime)
    assert ingest.context.max_entities == 200_000
    payload = unusable_entities(100_000)
    topic = f"{runtime.settings.topic_root}/telemetry/gw"
    received = datetime.now(timezone.utc)
    try:
        tracemalloc.start()
        try:
            parsed = parse_message(topic, payload, ingest.context, received)
            kept = ingest._count_rejections(topic, payload, received, parsed)
            ingest.store.write(Batch(rejected=[kept]))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 64 * 1024 * 1024, f"{peak / 1e6:.0f} MB"
        assert count_rows(runtime.engine, RejectedMessage) == 1  # the payload, once
        assert count_rows(runtime.engine, RejectionReason) == MAX_KEPT_REASONS - 1
        (view,) = list_rejections(runtime.engine)
        assert view.count == 100_000 and view.reason == "unknown_type"
        assert "(+99,999 more in this message: Unknown type ×99)" in view.summary
        assert ingest.stats.rejected == 100_000 and ingest.stats.rejected_by_reason == {"unknown_type": 100_000}
        assert list_rejections(runtime.engine, reason="unknown_type")[0].id == view.id
    finally:
        alarm_service(runtime).close()
        runtime.engine.dispose()
