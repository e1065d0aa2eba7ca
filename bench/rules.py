#!/usr/bin/env python
"""Rules benchmark: what the alarm rules add to the ingest's own cost per observation.

Run from the repository root:

    .venv/bin/python bench/rules.py            # 50 rules, 10,000 devices, 3 rounds of 10,000 observations
    .venv/bin/python bench/rules.py --quick    # smaller, < 15 s

Setup: a fresh SQLite database (WAL) in a temporary directory with 10,000 registered devices
(traffic segments with free-flow speeds, air stations, flood and water gauges with alert/danger
levels, weather stations, spread over 20 districts) and 50 rules: all-device, district-scoped
and device-scoped threshold rules over every entity type (durations, hysteresis, device-meta
thresholds, the derived aqi and water_level metrics, ratios), plus a silence rule.

Each round publishes one observation per device (realistic values; about 1 % breach a rule)
as MQTT payload bytes. The ingest's cost is what the ingest itself does with them: parse_message
on every payload plus ObservationStore.write in batches of 2,000 (its MAX_BATCH). The rules' cost
is what the reactions' leader does with the same stored rows (services/reactions.py): the safe
point, then transactions of up to 5,000 rows that read the observations' identities back from the
database (their values come from the ingest's hand-over, as in a leading ingest process), run the
rules (RuleEngine.react), write the alarms raised and the rules' changed states, and move the
cursor. Round 1 warms both up (device cache, SQLite pages) and is not counted; the figures
are the mean of the later rounds.

Until 2026-12 the rules ran on the ingest's in-memory batch (RuleEngine.on_batch on the
BatchResults); since the reactions are driven from the database, reading the rows back is part
of the rules' cost, and so is counted here.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from services.alarms import AlarmFilter, list_alarms  # noqa: E402
from services.db import make_engine, migrate  # noqa: E402
from services.ingest import MAX_BATCH  # noqa: E402
from services.models import Device, Observation  # noqa: E402
from services.reactions import ObservationReactor, react_once, safe_points  # noqa: E402
from services.rules import RuleEngine, RulesFile  # noqa: E402
from services.store import Batch, ObservationStore  # noqa: E402
from services.telemetry import ParseContext, parse_message  # noqa: E402

DISTRICTS = [f"District {i:02d}" for i in range(20)]
MIX = (("TrafficFlowObserved", 0.60), ("AirQualityObserved", 0.15), ("FloodMonitoring", 0.10),
       ("WaterObserved", 0.05), ("WeatherObserved", 0.10))
T0 = datetime(2026, 11, 22, 6, 0, tzinfo=timezone.utc)


def make_devices(count: int, rng: random.Random) -> list[dict]:
    devices = []
    for kind, share in MIX:
        for i in range(int(count * share)):
            meta = None
            if kind == "TrafficFlowObserved":
                meta = {"free_flow_kmh": rng.choice((30.0, 40.0, 50.0, 60.0, 80.0))}
            elif kind in ("FloodMonitoring", "WaterObserved"):
                alert = round(rng.uniform(1.0, 2.0), 2)
                meta = {"alert_level": alert, "danger_level": round(alert + 0.8, 2)}
            devices.append({"id": f"{kind[:5].lower()}-{i:05d}", "type": kind, "name": None,
                            "district": DISTRICTS[len(devices) % len(DISTRICTS)], "registered": True,
                            "interval_s": 60, "lon": 24.9 + rng.random() * 0.1, "lat": 60.15 + rng.random() * 0.05,
                            "registered_lon": None, "registered_lat": None, "meta": meta, "out_of_area": False})
    return devices


def make_rules(devices: list[dict]) -> str:
    """50 rules: the shipped kinds, then district- and device-scoped variants of them."""
    rules = []

    def add(**rule):
        rules.append(rule)

    add(id="air-unhealthy", name="Air unhealthy", entity_type="AirQualityObserved", metric="aqi_level", op=">=",
        threshold="aqi.unhealthy_level", **{"for": "5m", "clear_for": "10m"}, severity="high")
    add(id="water-alert", name="Water alert", entity_type=["FloodMonitoring", "WaterObserved"], metric="water_level",
        op=">=", threshold="device.alert_level", clear_threshold="device.alert_level - 0.05",
        **{"for": "1m", "clear_for": "5m"}, severity="high")
    add(id="water-danger", name="Water danger", entity_type=["FloodMonitoring", "WaterObserved"], metric="water_level",
        op=">=", threshold="device.danger_level", **{"for": "1m"}, severity="critical")
    add(id="rain", name="Heavy rain", entity_type="WeatherObserved", metric="precipitation", op=">", threshold=30,
        clear_threshold=25, severity="medium")
    add(id="jam", name="Jam", entity_type="TrafficFlowObserved", metric="averageVehicleSpeed",
        per="device.free_flow_kmh", op="<", threshold=0.3, clear_threshold=0.4, **{"for": "5m"}, severity="medium")
    add(id="offline", name="Silent", kind="silence", entity_type=[k for k, _ in MIX], severity="low")
    by_type = {}
    for device in devices:
        by_type.setdefault(device["type"], []).append(device["id"])
    n = 0
    while len(rules) < 50:
        district = DISTRICTS[n % len(DISTRICTS)]
        variant = n % 6
        if variant == 0:
            add(id=f"slow-{n}", name="Slow traffic", entity_type="TrafficFlowObserved", metric="averageVehicleSpeed",
                op="<", threshold=8, **{"for": "2m"}, scope={"district": district}, severity="low")
        elif variant == 1:
            add(id=f"no2-{n}", name="NO2 high", entity_type="AirQualityObserved", metric="no2", op=">",
                threshold=200, clear_threshold=180, scope={"district": district}, severity="medium")
        elif variant == 2:
            add(id=f"pm10-{n}", name="PM10 high", entity_type="AirQualityObserved", metric="pm10", op=">",
                threshold=100, **{"for": "10m"}, severity="medium")
        elif variant == 3:
            add(id=f"busy-{n}", name="Very busy", entity_type="TrafficFlowObserved", metric="occupancy", op=">",
                threshold=0.9, scope={"devices": by_type["TrafficFlowObserved"][n:n + 50]}, severity="low")
        elif variant == 4:
            add(id=f"wind-{n}", name="Storm wind", entity_type="WeatherObserved", metric="windSpeed", op=">",
                threshold=24, scope={"district": district}, severity="high")
        else:
            add(id=f"gauge-{n}", name="Gauge high", entity_type=["FloodMonitoring", "WaterObserved"],
                metric="water_level", op=">=", threshold="device.alert_level * 0.9", scope={"district": district},
                severity="low")
        n += 1
    import yaml

    return yaml.safe_dump({"aqi_standard": "us-epa-2024", "rules": rules}, sort_keys=False)


def payload(device: dict, moment: datetime, rng: random.Random) -> dict:
    kind, meta = device["type"], device["meta"] or {}
    breach = rng.random() < 0.01
    entity = {"id": device["id"], "type": kind, "dateObserved": moment.isoformat().replace("+00:00", "Z"),
              "location": {"type": "Point", "coordinates": [device["lon"], device["lat"]]}}
    if kind == "TrafficFlowObserved":
        ff = meta["free_flow_kmh"]
        entity.update(averageVehicleSpeed=round(ff * (0.2 if breach else rng.uniform(0.5, 1.1)), 1),
                      intensity=rng.randint(0, 40), occupancy=round(rng.uniform(0.05, 0.6), 2))
    elif kind == "AirQualityObserved":
        entity.update(pm25=round(rng.uniform(80, 150) if breach else rng.uniform(2, 25), 1),
                      pm10=round(rng.uniform(5, 40), 1), no2=round(rng.uniform(5, 80), 1), o3=round(rng.uniform(20, 90), 1))
    elif kind == "FloodMonitoring":
        level = meta["alert_level"] * (1.1 if breach else rng.uniform(0.2, 0.7))
        entity.update(currentLevel=round(level, 3), alertLevel=meta["alert_level"], dangerLevel=meta["danger_level"])
    elif kind == "WaterObserved":
        entity.update(height=round(meta["alert_level"] * (1.1 if breach else rng.uniform(0.2, 0.7)), 3))
    else:
        entity.update(precipitation=round(rng.uniform(31, 50) if breach else rng.uniform(0, 5), 1),
                      temperature=round(rng.uniform(-5, 15), 1), windSpeed=round(rng.uniform(0, 12), 1))
    return entity


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args(argv)
    count = 2000 if args.quick else args.devices
    rounds = 3 if args.quick else args.rounds
    rng = random.Random(7)
    workdir = Path(tempfile.mkdtemp(prefix="cityops-bench-rules-"))
    try:
        engine = make_engine(f"sqlite:///{workdir / 'bench.db'}")
        migrate(engine)
        devices = make_devices(count, rng)
        with engine.begin() as connection:
            connection.execute(Device.__table__.insert(), devices)
        (workdir / "rules.yaml").write_text(make_rules(devices))
        rules_file = RulesFile(workdir / "rules.yaml", check_every_s=3600)
        ruleset = rules_file.current()
        rule_engine = RuleEngine(engine, rules_file, resync_s=5.0)
        reactor = ObservationReactor(None, rule_engine)  # no dispatch context: the bench has no Vehicles
        store = ObservationStore(engine)
        locations = {d["id"]: (d["lon"], d["lat"]) for d in devices}
        context = ParseContext(root="city", registered_location=locations.get, in_area=lambda lon, lat: True)

        ingest_s, rules_s, observations = [], [], 0
        for round_no in range(rounds):
            moment = T0 + timedelta(minutes=round_no)
            messages = [(f"city/telemetry/{d['id']}", json.dumps(payload(d, moment, rng)).encode()) for d in devices]
            received = datetime.now(timezone.utc)
            started = time.perf_counter()
            results = []
            for start in range(0, len(messages), MAX_BATCH):
                batch = Batch()
                for topic, body in messages[start:start + MAX_BATCH]:
                    batch.observations += parse_message(topic, body, context, received).observations
                results.append(store.write(batch))
            ingest = time.perf_counter() - started
            started = time.perf_counter()
            for result in results:  # what the ingest hands the reactions after each commit
                reactor.hand_over(result.stored_observations)
            upper = safe_points(engine, [Observation.__table__])["observations"]
            while react_once(engine, reactor, upper, datetime.now(timezone.utc), hold_back_s=0).reacted:
                pass
            rules = time.perf_counter() - started
            stored = sum(r.stored for r in results)
            print(f"round {round_no + 1}: {stored:,} observations; ingest (parse + write) {ingest * 1e6 / stored:7.1f} "
                  f"µs/obs; rules {rules * 1e6 / stored:6.1f} µs/obs{'  (warm-up, not counted)' if not round_no else ''}")
            if round_no:
                ingest_s.append(ingest / stored)
                rules_s.append(rules / stored)
                observations += stored
        alarms = list_alarms(engine, AlarmFilter(state="all", limit=100_000))
        ingest_us, rules_us = statistics.mean(ingest_s) * 1e6, statistics.mean(rules_s) * 1e6
        threshold_rules = sum(len(v) for v in ruleset.by_type.values())
        per_obs = statistics.mean(len(ruleset.by_type.get(d["type"], ())) for d in devices)
        print()
        print(f"rules: {len(ruleset.rules)} ({len(ruleset.silence)} silence); devices: {len(devices):,}; "
              f"rule-type pairs indexed: {threshold_rules}; rules met per observation: {per_obs:.1f}")
        print(f"observations measured: {observations:,}; alarms raised over all rounds: {len(alarms)}")
        print(f"ingest own cost : {ingest_us:8.1f} µs per observation (parse_message + ObservationStore.write)")
        print(f"rule evaluation : {rules_us:8.1f} µs per observation (the observations' reactor: rows read back, "
              f"rules, alarm and state writes, cursor)")
        print(f"overhead        : {100 * rules_us / ingest_us:8.1f} % of the ingest's cost (target < 20 %)")
        engine.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
