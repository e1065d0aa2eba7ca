"""What the simulator publishes is what the ingest reads: only its misbehaving devices are refused."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from services.city import load_city
from services.config import CITIES_DIR
from services.simulator import CitySimulator
from services.telemetry import ParseContext, parse_message


def test_two_simulated_hours_of_helsinki_parse_with_rejections_only_from_misbehaving_devices():
    city = load_city(CITIES_DIR / "helsinki")
    start = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
    simulator = CitySimulator(city, seed=42, topic_root="city", start=start)
    messages = simulator.advance(start + timedelta(hours=2))
    registered = {site["device_id"]: (site["lon"], site["lat"]) for site in city.devices}
    context = ParseContext(root="city", registered_location=registered.get, in_area=city.is_in_area)
    misbehaving = simulator.misbehaving_devices()

    kinds: Counter = Counter()
    rejected_devices: Counter = Counter()
    out_of_area: set[str] = set()
    for message in messages:
        parsed = parse_message(message.topic, message.payload, context, start + timedelta(hours=2))
        kinds.update(o.entity_type for o in parsed.observations)
        kinds["report"] += len(parsed.reports)
        out_of_area.update(o.device_id for o in parsed.observations if "out_of_area" in o.flags)
        for _ in parsed.rejections:
            rejected_devices[message.topic.rsplit("/", 1)[-1]] += 1

    assert set(rejected_devices) <= {misbehaving["impossible_speed"]}, rejected_devices
    assert rejected_devices[misbehaving["impossible_speed"]] >= 1
    assert out_of_area == {misbehaving["swapped_location"]}
    for entity_type in ("TrafficFlowObserved", "AirQualityObserved", "WeatherObserved", "WaterObserved",
                        "FloodMonitoring", "Vehicle"):
        assert kinds[entity_type] > 0, entity_type
    assert kinds["report"] >= 1
