"""The ingest against a real broker and a real database (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from services.devices import get_device
from services.health import ingest_health
from tests.brokers import wait_until
from tests.integration.support import (
    Publisher,
    count_observations,
    count_rejections,
    make_settings,
    start_ingest,
    traffic_entity,
)


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
        bad.append((f"{root}/telemetry/bad-{i}", {**traffic_entity(i), "averageVehicleSpeed": 999}))
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
