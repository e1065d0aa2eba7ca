"""Behaviour of the city simulator (services.simulator), on a tiny synthetic city and on Helsinki."""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from services.city import load_city
from services.simulator import CitySimulator, OutgoingMessage
from services.simulator.common import metres_between
from services.simulator.units import Mission

SPEC_TYPES = {"AirQualityObserved", "TrafficFlowObserved", "WaterObserved", "FloodMonitoring",
              "WeatherObserved", "Vehicle", "Open311ServiceRequest"}
WEDNESDAY_0000_UTC = datetime(2025, 3, 12, 0, 0, tzinfo=timezone.utc)  # city time zone is UTC
HELSINKI = Path(__file__).resolve().parents[2] / "cities" / "helsinki"

# ---------------------------------------------------------------- a tiny synthetic city
LON0, LAT0, STEP = 24.90, 60.15, 0.004  # a 5 x 5 grid of two-way streets ~220 m apart
N = 5


def _node(i: int, j: int) -> int:
    return i * N + j


def _coords(n: int) -> tuple[float, float]:
    return (LON0 + (n // N) * STEP, LAT0 + (n % N) * STEP / 2)


def _build_city(folder: Path) -> Path:
    nodes = [[n, *_coords(n)] for n in range(N * N)]
    edges, next_id = [], 1
    for i in range(N):
        for j in range(N):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < N and j + dj < N:
                    a, b = _node(i, j), _node(i + di, j + dj)
                    name, road_class = (f"Katu {j}", "primary") if dj == 0 else (f"Tie {i}", "residential")
                    for u, v in ((a, b), (b, a)):
                        (ux, uy), (vx, vy) = _coords(u), _coords(v)
                        mid = ((ux + vx) / 2, (uy + vy) / 2)
                        length = metres_between((ux, uy), mid) + metres_between(mid, (vx, vy))
                        edges.append([next_id, u, v, length, 50 if road_class == "primary" else 30, road_class,
                                      name, [[ux, uy], list(mid), [vx, vy]]])
                        next_id += 1
    primary = [e for e in edges if e[5] == "primary"]
    traffic = [{"device_id": f"traffic-{k}", "type": "TrafficFlowObserved", "lon": e[7][1][0], "lat": e[7][1][1],
                "interval_s": 60, "name": f"counter {k}", "edge_ids": [e[0]], "road_class": "primary",
                "free_flow_kmh": 50.0, "geometry": {"type": "LineString", "coordinates": e[7]}}
               for k, e in enumerate(primary[::3])]
    centre = _coords(_node(2, 2))
    point_devices = [
        ("air-1", "AirQualityObserved", 60, {}), ("air-2", "AirQualityObserved", 60, {}),
        ("weather-1", "WeatherObserved", 60, {}), ("weather-2", "WeatherObserved", 60, {}),
        ("flood-1", "FloodMonitoring", 30, {"alert_level": 1.2, "danger_level": 1.8, "reference_level": 0.3}),
        ("flood-2", "FloodMonitoring", 30, {"alert_level": 1.0, "danger_level": 1.6, "reference_level": 3.0}),
        ("water-1", "WaterObserved", 30, {"alert_level": 1.5, "danger_level": 2.2, "reference_level": 0.4}),
    ]
    devices = traffic + [{"device_id": d, "type": t, "lon": centre[0] + 0.001 * k, "lat": centre[1], "interval_s": s,
                          "name": d, **extra} for k, (d, t, s, extra) in enumerate(point_devices)]
    base_xy = _coords(_node(0, 0))
    sites = {
        "devices": devices,
        "bases": [{"base_id": "base-1", "name": "Station", "kind": "fire", "lon": base_xy[0] - 0.0003, "lat": base_xy[1]}],
        "units": [
            {"unit_id": "fire-1", "name": "Fire 1", "kind": "fire", "base_id": "base-1", "vehicle_type": "fireTender",
             "emergency_vehicle_type": "fireBrigade", "capabilities": ["fire"], "interval_s": 5},
            {"unit_id": "pol-1", "name": "Police 1", "kind": "police", "base_id": "base-1", "vehicle_type": "car",
             "emergency_vehicle_type": "police", "capabilities": ["police"], "interval_s": 5},
        ],
    }
    lons, lats = [n[1] for n in nodes], [n[2] for n in nodes]
    meta = {"name": "Testby", "slug": "testby", "timezone": "UTC", "bbox": [min(lons), min(lats), max(lons), max(lats)],
            "center": list(centre), "area_margin_m": 2000}
    (folder / "city.json").write_text(json.dumps(meta))
    (folder / "road_graph.json").write_text(json.dumps({"nodes": nodes, "edges": edges}))
    (folder / "sites.json").write_text(json.dumps(sites))
    return folder


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    return load_city(_build_city(tmp_path_factory.mktemp("testby")))


@pytest.fixture(scope="module")
def three_hours(city):
    sim = CitySimulator(city, seed=7, start=WEDNESDAY_0000_UTC)
    return sim, sim.advance(WEDNESDAY_0000_UTC + timedelta(hours=3))


def _bodies(messages: list[OutgoingMessage], topic_part: str) -> list[dict]:
    return [m.json() for m in messages if topic_part in m.topic]


def _on_some_edge(sim: CitySimulator, lon: float, lat: float, tolerance_m: float = 1.0) -> bool:
    for edge in sim.roads.edges.values():
        for a, b in zip(edge.coords, edge.coords[1:]):
            if metres_between(a, (lon, lat)) + metres_between((lon, lat), b) <= metres_between(a, b) + tolerance_m:
                return True
    return False


# ---------------------------------------------------------------- determinism
def test_same_seed_and_times_give_byte_identical_messages_however_time_is_advanced(city):
    one = CitySimulator(city, seed=3, start=WEDNESDAY_0000_UTC)
    other = CitySimulator(city, seed=3, start=WEDNESDAY_0000_UTC)
    whole = one.advance(WEDNESDAY_0000_UTC + timedelta(minutes=40))
    pieces = []
    for minute in (1, 7, 13, 29, 40):
        pieces += other.advance(WEDNESDAY_0000_UTC + timedelta(minutes=minute))
    assert whole == pieces and len(whole) > 500


def test_different_seed_gives_different_messages(city):
    to = WEDNESDAY_0000_UTC + timedelta(minutes=20)
    a = CitySimulator(city, seed=1, start=WEDNESDAY_0000_UTC).advance(to)
    b = CitySimulator(city, seed=2, start=WEDNESDAY_0000_UTC).advance(to)
    assert [m.payload for m in a] != [m.payload for m in b]


# ---------------------------------------------------------------- wire format
def test_every_payload_is_json_of_a_spec_type_with_utc_timestamps(three_hours):
    sim, messages = three_hours
    seen = Counter()
    for m in messages:
        body = json.loads(m.payload.decode("utf-8"))
        assert m.qos == 1 and not m.retain
        if m.topic.endswith("/cmdexe"):
            continue
        assert body["type"] in SPEC_TYPES
        seen[body["type"]] += 1
        stamp = body.get("dateObserved") or body.get("observationDateTime") or body.get("requested_datetime")
        if isinstance(stamp, dict):  # the NGSI-LD normalized station
            stamp = stamp["value"]["@value"]
        assert stamp.endswith("Z")
    assert set(seen) == SPEC_TYPES
    assert not any("airQualityIndex" in m.json() for m in messages)


def test_topics_follow_the_mqtt_contract(three_hours):
    sim, messages = three_hours
    for m in messages:
        parts = m.topic.split("/")
        assert parts[0] == "city"
        assert (parts[1] == "telemetry" and len(parts) == 3) or parts[1] == "reports" or \
            (parts[1] == "units" and parts[3] in ("state", "cmdexe"))


def test_traffic_reports_a_60_second_window_with_consistent_numbers(three_hours):
    sim, messages = three_hours
    bad = sim.misbehaving_devices()["impossible_speed"]
    for body in _bodies(messages, "/telemetry/traffic-"):
        start, end = (datetime.fromisoformat(x.replace("Z", "+00:00")) for x in body["dateObserved"].split("/"))
        assert end - start == timedelta(seconds=60)
        assert body["location"]["type"] == "LineString" and 0 <= body["occupancy"] <= 1
        if not body["id"].endswith(bad):
            assert 0 < body["averageVehicleSpeed"] < 80 and body["intensity"] >= 0


# ---------------------------------------------------------------- schedules
def test_each_device_type_reports_at_its_interval(three_hours):
    sim, messages = three_hours
    times = defaultdict(list)
    for m in messages:
        body = m.json()
        if "/telemetry/" in m.topic or m.topic.endswith("/state"):
            stamp = body.get("dateObserved") or body.get("observationDateTime")
            stamp = stamp["value"]["@value"] if isinstance(stamp, dict) else stamp.split("/")[-1]
            times[m.topic].append(datetime.fromisoformat(stamp.replace("Z", "+00:00")))
    expected = {"/units/": 5, "/traffic-": 60, "/air-": 60, "/weather-": 60, "/flood-": 30, "/water-": 30}
    silent = sim.misbehaving_devices()["silent"]
    for topic, stamps in times.items():
        if topic.endswith(silent):
            continue
        gaps = {(b - a).total_seconds() for a, b in zip(stamps, stamps[1:])}
        interval = next(v for k, v in expected.items() if k in topic)
        assert gaps == {interval}, topic


def test_devices_do_not_all_report_at_the_same_moment(three_hours):
    sim, messages = three_hours
    first = {}
    for body in _bodies(messages, "/telemetry/traffic-"):
        first.setdefault(body["id"], body["dateObserved"])
    assert len(set(first.values())) > 1


# ---------------------------------------------------------------- traffic and weather
def test_weekday_rush_hour_is_slower_than_the_night(city):
    sim = CitySimulator(city, seed=11, start=WEDNESDAY_0000_UTC)
    night = WEDNESDAY_0000_UTC + timedelta(hours=3)
    rush = WEDNESDAY_0000_UTC + timedelta(hours=8)
    segments = list(sim.traffic.segments.values())
    ratio = lambda t: sum(sim.traffic._profile(s.road_class, t) for s in segments) / len(segments)  # noqa: E731
    assert ratio(rush) < 0.7 * ratio(night)
    sunday = datetime(2025, 3, 16, 8, 0, tzinfo=timezone.utc)
    assert ratio(sunday) > ratio(rush)


def test_rush_hour_speeds_reported_are_lower_than_night_speeds(city):
    def mean_speed(hour: int) -> float:
        start = WEDNESDAY_0000_UTC + timedelta(hours=hour)
        sim = CitySimulator(city, seed=5, start=start)
        bad = sim.misbehaving_devices()["impossible_speed"]
        speeds = [b["averageVehicleSpeed"] for b in _bodies(sim.advance(start + timedelta(minutes=10)), "/telemetry/traffic-")
                  if not b["id"].endswith(bad)]
        return sum(speeds) / len(speeds)

    assert mean_speed(8) < 0.8 * mean_speed(2)


def test_an_incident_jams_its_segment_and_the_queue_spreads_upstream(city):
    sim = CitySimulator(city, seed=4, start=WEDNESDAY_0000_UTC)
    sim.advance(WEDNESDAY_0000_UTC + timedelta(hours=3))
    incident = next(i for i in sim.traffic.incidents if i.upstream)
    segment = sim.traffic.segments[incident.device_id]
    during = incident.start + timedelta(minutes=5)
    assert 0.05 < sim.traffic.jam_factor(incident.device_id, during) <= 0.3
    assert sim.traffic.speed_ratio(segment, during) < 0.3
    nearest = min(incident.upstream, key=incident.upstream.get)
    later = incident.start + timedelta(minutes=incident.upstream[nearest] / 150 + 4)
    assert sim.traffic.jam_factor(nearest, later) < 1
    assert sim.traffic.jam_factor(incident.device_id, incident.end + timedelta(minutes=5)) == 1


def test_water_levels_rise_during_the_first_storm_and_fall_after_it(three_hours):
    sim, messages = three_hours
    storm = sim.storms.storms[0]
    assert storm.start < WEDNESDAY_0000_UTC + timedelta(hours=1) and storm.peak_mmh >= 40
    levels = defaultdict(list)
    for body in _bodies(messages, "/telemetry/water-") + _bodies(messages, "/telemetry/flood-"):
        if "@context" in body:
            continue
        stamp = datetime.fromisoformat((body.get("observationDateTime") or body["dateObserved"]).replace("Z", "+00:00"))
        levels[body["id"]].append((stamp, body.get("currentLevel", body.get("height"))))
    before = storm.start
    peak = storm.start + (storm.end - storm.start) * 0.6
    after = storm.end + timedelta(minutes=50)
    at = lambda series, t: min(series, key=lambda p: abs(p[0] - t))[1]  # noqa: E731
    for series in levels.values():
        assert at(series, peak) > at(series, before) + 0.3
        assert at(series, after) < at(series, peak)
    over_alert = {i for i, series in levels.items()
                  if max(v for _, v in series) > sim.devices[i.split(":")[-1]]["alert_level"]}
    assert over_alert, "a strong storm floods somewhere"


def test_weather_precipitation_is_the_rain_of_the_last_hour(three_hours):
    sim, messages = three_hours
    storm = sim.storms.storms[0]
    rows = [b for b in _bodies(messages, "/telemetry/weather-") if isinstance(b["precipitation"], (int, float))]
    dry = [b["precipitation"] for b in rows if b["dateObserved"] < storm.start.strftime("%Y-%m-%dT%H:%M:%SZ")]
    assert dry and max(dry) == 0
    assert max(b["precipitation"] for b in rows) > 10


def test_air_quality_follows_traffic_and_ozone_is_higher_in_the_afternoon(city):
    sim = CitySimulator(city, seed=9, start=WEDNESDAY_0000_UTC)
    sim.advance(WEDNESDAY_0000_UTC + timedelta(minutes=1))
    station = sim.devices["air-2"]
    night = sim.air.observation(station, WEDNESDAY_0000_UTC + timedelta(hours=3), sim._noise)
    rush = sim.air.traffic_load("air-2", WEDNESDAY_0000_UTC + timedelta(hours=17))
    assert rush > sim.air.traffic_load("air-2", WEDNESDAY_0000_UTC + timedelta(hours=3))
    afternoon = sim.air.observation(station, WEDNESDAY_0000_UTC + timedelta(hours=14), sim._noise)
    assert afternoon["o3"] > night["o3"]
    for key in ("pm25", "pm10", "no2", "o3", "so2", "co", "temperature", "relativeHumidity", "windSpeed", "windDirection"):
        assert isinstance(night[key], (int, float))


# ---------------------------------------------------------------- units
def test_moving_units_are_on_the_road_and_parked_units_at_base(three_hours):
    sim, messages = three_hours
    moving = [b for b in _bodies(messages, "/units/pol-1/state") if b["serviceStatus"] != "parked"]
    assert len(moving) > 100, "the police car should patrol"
    for body in moving[::10]:
        assert _on_some_edge(sim, *body["location"]["coordinates"])
    parked = [b for b in _bodies(messages, "/units/fire-1/state")]
    assert {b["serviceStatus"] for b in parked} == {"parked"}
    assert parked[0]["location"]["coordinates"] == [round(c, 6) for c in sim.fleet.units["fire-1"].base]


def test_dispatch_is_accepted_then_arrived_then_cleared_and_the_unit_returns_to_base(city):
    sim = CitySimulator(city, seed=21, start=WEDNESDAY_0000_UTC)
    sim.advance(WEDNESDAY_0000_UTC + timedelta(minutes=2))
    destination = {"type": "Point", "coordinates": list(_coords(_node(4, 4)))}
    replies = sim.command("fire-1", {"cmdId": "c-1", "command": "dispatch", "incidentId": "inc-9",
                                     "destination": destination, "etaSeconds": 120, "issuedAt": "x"})
    assert [r.json()["result"] for r in replies] == ["accepted"]
    assert replies[0].topic == "city/units/fire-1/cmdexe"
    messages = sim.advance(WEDNESDAY_0000_UTC + timedelta(hours=2))
    results = [b for b in _bodies(messages, "/units/fire-1/cmdexe")]
    assert [r["result"] for r in results] == ["arrived", "cleared"] and {r["cmdId"] for r in results} == {"c-1"}
    arrived, cleared = (datetime.fromisoformat(r["at"].replace("Z", "+00:00")) for r in results)
    assert timedelta(minutes=10) <= cleared - arrived <= timedelta(minutes=40)
    states = _bodies(messages, "/units/fire-1/state")
    statuses = [s["serviceStatus"] for s in states]
    assert statuses.index("onRoute") < statuses.index("onScene") < statuses.index("returning")
    assert statuses[-1] == "parked"
    on_scene = next(s for s in states if s["serviceStatus"] == "onScene")
    assert metres_between(tuple(on_scene["location"]["coordinates"]), tuple(destination["coordinates"])) < 5
    driving = [s for s in states if s["serviceStatus"] == "onRoute"]
    assert all(s["speed"] > 0 for s in driving)
    assert all(_on_some_edge(sim, *s["location"]["coordinates"]) for s in driving)


def test_cancel_sends_a_dispatched_unit_back_without_arriving(city):
    sim = CitySimulator(city, seed=21, start=WEDNESDAY_0000_UTC)
    sim.advance(WEDNESDAY_0000_UTC + timedelta(minutes=1))
    far = {"type": "Point", "coordinates": list(_coords(_node(4, 4)))}
    sim.command("fire-1", {"cmdId": "c-1", "command": "dispatch", "incidentId": "i", "destination": far})
    sim.advance(WEDNESDAY_0000_UTC + timedelta(minutes=1, seconds=20))
    assert sim.command("fire-1", {"cmdId": "c-2", "command": "cancel", "incidentId": "i"})[0].json()["result"] == "accepted"
    messages = sim.advance(WEDNESDAY_0000_UTC + timedelta(minutes=30))
    assert not _bodies(messages, "/cmdexe")
    assert _bodies(messages, "/units/fire-1/state")[-1]["serviceStatus"] == "parked"


def test_a_command_issued_before_the_simulator_started_is_history_and_the_live_unit_ignores_it(city):
    sim = CitySimulator(city, seed=21, start=WEDNESDAY_0000_UTC)
    destination = {"type": "Point", "coordinates": list(_coords(_node(4, 4)))}
    past = {"cmdId": "c-1", "command": "dispatch", "incidentId": "9", "destination": destination,
            "issuedAt": "2024-01-01T00:00:00Z"}
    assert sim.command("fire-1", past) == []
    assert sim.fleet.units["fire-1"].mission is None
    present = {**past, "issuedAt": (WEDNESDAY_0000_UTC + timedelta(seconds=5)).isoformat()}
    assert [r.json()["result"] for r in sim.command("fire-1", present)] == ["accepted"]


@pytest.mark.parametrize("cmd", [
    None, "dispatch", {"command": "dispatch"}, {"cmdId": "x", "command": "fly"},
    {"cmdId": "x", "command": "dispatch"},
    {"cmdId": "x", "command": "dispatch", "destination": {"type": "Point", "coordinates": ["a", 60]}},
    {"cmdId": "x", "command": "dispatch", "destination": {"type": "Point", "coordinates": [-3.7, 40.4]}},
])
def test_malformed_commands_are_rejected(city, cmd):
    sim = CitySimulator(city, seed=1, start=WEDNESDAY_0000_UTC)
    replies = sim.command("fire-1", cmd)
    assert len(replies) == 1 and replies[0].json()["result"] == "rejected" and replies[0].json()["reason"]


def test_a_command_for_an_unknown_unit_publishes_nothing(city):
    sim = CitySimulator(city, seed=1, start=WEDNESDAY_0000_UTC)
    assert sim.command("nobody", {"cmdId": "x", "command": "return"}) == []


# ---------------------------------------------------------------- after a restart
def _results(messages: list[OutgoingMessage], unit_id: str) -> list[tuple[str, str]]:
    return [(b["result"], b["cmdId"]) for b in _bodies(messages, f"/units/{unit_id}/cmdexe")]


def test_a_unit_on_scene_before_a_restart_clears_its_incident_and_returns_to_base(city):
    sim = CitySimulator(city, seed=21, start=WEDNESDAY_0000_UTC)
    scene = _coords(_node(4, 4))
    resumed = sim.resume([Mission("fire-1", "c-7", "12", scene, "arrived")])
    assert resumed == []  # accepted and arrived were said before the restart
    messages = sim.advance(WEDNESDAY_0000_UTC + timedelta(hours=1))
    assert _results(messages, "fire-1") == [("cleared", "c-7")]
    assert _bodies(messages, "/units/fire-1/cmdexe")[0]["incidentId"] == "12"
    statuses = [s["serviceStatus"] for s in _bodies(messages, "/units/fire-1/state")]
    assert statuses[0] == "onScene" and statuses.index("onScene") < statuses.index("returning")
    assert statuses[-1] == "parked"


def test_a_unit_driving_before_a_restart_carries_on_from_where_it_was(city):
    sim = CitySimulator(city, seed=21, start=WEDNESDAY_0000_UTC)
    scene, last_seen = _coords(_node(4, 4)), _coords(_node(2, 2))
    assert sim.resume([Mission("fire-1", "c-8", "13", scene, "accepted", position=last_seen)]) == []
    messages = sim.advance(WEDNESDAY_0000_UTC + timedelta(hours=1))
    assert _results(messages, "fire-1") == [("arrived", "c-8"), ("cleared", "c-8")]
    first = _bodies(messages, "/units/fire-1/state")[0]
    assert first["serviceStatus"] == "onRoute"
    assert metres_between(tuple(first["location"]["coordinates"]), last_seen) < 300


def test_a_dispatch_never_accepted_before_a_restart_is_accepted_then_served(city):
    sim = CitySimulator(city, seed=21, start=WEDNESDAY_0000_UTC)
    resumed = sim.resume([Mission("pol-1", "c-9", "14", _coords(_node(3, 1)), "sent")])
    assert [r.json()["result"] for r in resumed] == ["accepted"]
    messages = sim.advance(WEDNESDAY_0000_UTC + timedelta(hours=1))
    assert _results(messages, "pol-1") == [("arrived", "c-9"), ("cleared", "c-9")]


def test_a_restarted_simulator_republishes_its_reports_under_the_same_ids(city):
    end = WEDNESDAY_0000_UTC + timedelta(hours=3)
    first = CitySimulator(city, seed=7, start=WEDNESDAY_0000_UTC)
    before = {r["service_request_id"]: r["requested_datetime"] for r in _bodies(first.advance(end), "city/reports")}
    restart = WEDNESDAY_0000_UTC + timedelta(hours=1, minutes=17, seconds=35)  # e.g. now - backfill
    second = CitySimulator(city, seed=7, start=restart)
    after = {r["service_request_id"]: r["requested_datetime"] for r in _bodies(second.advance(end), "city/reports")}
    assert after and set(after) < set(before)
    assert after == {k: v for k, v in before.items() if v >= restart.strftime("%Y-%m-%dT%H:%M:%SZ")}


# ---------------------------------------------------------------- citizen reports
def test_citizen_reports_arrive_every_few_minutes_on_real_streets(three_hours):
    sim, messages = three_hours
    reports = _bodies(messages, "city/reports")
    assert 8 <= len(reports) <= 40
    for report in reports:
        assert report["service_name"] and report["description"] and report["service_request_id"]
        assert report["address_string"].endswith(", Testby")
        assert _on_some_edge(sim, *report["location"]["coordinates"])
    assert len({r["service_request_id"] for r in reports}) == len(reports)


# ---------------------------------------------------------------- misbehaving devices
def test_misbehaving_devices_are_chosen_from_the_seed(city):
    a = CitySimulator(city, seed=8, start=WEDNESDAY_0000_UTC).misbehaving_devices()
    b = CitySimulator(city, seed=8, start=WEDNESDAY_0000_UTC).misbehaving_devices()
    assert a == b
    assert set(a) == {"silent", "impossible_speed", "swapped_location", "numbers_as_strings", "ngsi_ld_normalized"}


def test_misbehaving_devices_misbehave(three_hours):
    sim, messages = three_hours
    odd = sim.misbehaving_devices()
    silent = [m for m in messages if m.topic.endswith("/" + odd["silent"])]
    assert 20 < len(silent) < 170, "the flaky air station is off the air for long stretches"
    speeds = [b["averageVehicleSpeed"] for b in _bodies(messages, "/telemetry/" + odd["impossible_speed"])]
    assert any(s > 300 or s < 0 for s in speeds) and sum(0 < s < 80 for s in speeds) > len(speeds) * 0.8
    swapped = _bodies(messages, "/telemetry/" + odd["swapped_location"])[0]
    lon, lat = swapped["location"]["coordinates"]
    assert not sim.city.is_in_area(lon, lat) and sim.city.is_in_area(lat, lon)
    stringy = _bodies(messages, "/telemetry/" + odd["numbers_as_strings"])[0]
    assert all(isinstance(stringy[k], str) for k in ("temperature", "precipitation", "atmosphericPressure"))
    float(stringy["temperature"])
    normalized = _bodies(messages, "/telemetry/" + odd["ngsi_ld_normalized"])[0]
    assert normalized["id"].startswith("urn:ngsi-ld:FloodMonitoring:") and "@context" in normalized
    assert normalized["currentLevel"]["type"] == "Property" and isinstance(normalized["currentLevel"]["value"], float)
    assert normalized["location"]["type"] == "GeoProperty" and normalized["location"]["value"]["type"] == "Point"


# ---------------------------------------------------------------- the real city
@pytest.mark.skipif(not (HELSINKI / "sites.json").exists(), reason="cities/helsinki not built")
def test_helsinki_runs_an_hour_with_every_device_reporting():
    helsinki = load_city(HELSINKI)
    start = datetime(2025, 3, 12, 5, 0, tzinfo=timezone.utc)
    sim = CitySimulator(helsinki, seed=42, start=start)
    messages = sim.advance(start + timedelta(hours=1))
    reporting = {m.topic.split("/")[2] for m in messages if "/telemetry/" in m.topic}
    assert reporting == {d["device_id"] for d in helsinki.devices}
    units = {m.topic.split("/")[2] for m in messages if m.topic.endswith("/state")}
    assert units == {u["unit_id"] for u in helsinki.units}
    for m in messages:
        body = m.json()
        if m.topic.endswith("/state") and body["serviceStatus"] != "parked":
            assert helsinki.is_in_area(*body["location"]["coordinates"])


def test_a_simulator_without_a_database_starts_every_unit_at_base_and_creates_none(tmp_path):
    from services.simulator.missions import missions_from_database

    missing = tmp_path / "nowhere" / "cityops.db"
    assert missions_from_database(f"sqlite:///{missing}") == []
    assert not missing.exists() and not missing.parent.exists()


def test_now_and_then_a_second_citizen_reports_the_same_thing_nearby_the_same_whenever_the_simulator_started(city):
    from services.simulator.reports import CitizenReports

    sim = CitySimulator(city, seed=7, start=WEDNESDAY_0000_UTC)
    end = WEDNESDAY_0000_UTC + timedelta(hours=24)
    reports = CitizenReports(sim.roads, sim.storms, "Testby", 7, WEDNESDAY_0000_UTC).due(end)
    repeats = []
    for k, report in enumerate(reports):
        earlier = [r for r in reports[max(0, k - 3):k] if r["service_code"] == report["service_code"]
                   and r["address_string"] == report["address_string"]
                   and metres_between(r["location"]["coordinates"], report["location"]["coordinates"]) <= 80]
        if earlier:
            repeats.append(report)
            assert _on_some_edge(sim, *report["location"]["coordinates"])
            assert report["service_code"] != "DRN"  # an emergency is the dispatchers' duplicate
    assert 5 <= len(repeats) <= len(reports) // 3
    later = CitizenReports(sim.roads, sim.storms, "Testby", 7, WEDNESDAY_0000_UTC + timedelta(hours=6)).due(end)
    assert later == [r for r in reports if r["requested_datetime"] >= later[0]["requested_datetime"]]
