"""Map benchmark: a synthetic city of 10,000 sensors, 2,000 road segments and 200 units, 5 % changing
each second. Prints, measured in one run on this machine:

  server  snapshot build time per tick (p50/p95/max) and bytes per client per tick (the delta a
          browser that is one tick behind receives; JSON as Dash sends it)
  browser (headless Debian chromium against the real web app) the time from a change written on
          the server to its rendering (a traffic segment drawn in its new colour), the
          longest main-thread task (PerformanceObserver "longtask"), and the bytes the browser
          actually received per tick (Resource Timing of the live-update requests)

Targets: build < 100 ms, < 50 KB per tick per client, change visible < 1.5 s, no task > 200 ms.
Usage: .venv/bin/python bench/map.py [--ticks 30] [--seconds 40]
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from services.config import CITIES_DIR, Settings  # noqa: E402
from services.store import Batch, ObservationStore  # noqa: E402
from services.telemetry import ObservationIn  # noqa: E402

SENSORS, SEGMENTS, UNITS = 10_000, 2_000, 200
CHANGE_SHARE = 0.05
TARGETS = {"build_ms": 100.0, "bytes": 50_000, "visible_s": 1.5, "task_ms": 200.0}


def synthetic_city(folder: Path, seed: int = 1) -> Path:
    """Helsinki's basemap and road graph with a synthetic, dense set of sites."""
    rng = random.Random(seed)
    shutil.copytree(CITIES_DIR / "helsinki", folder)
    meta = json.loads((folder / "city.json").read_text())
    minlon, minlat, maxlon, maxlat = meta["bbox"]
    devices = []
    for i in range(SENSORS):
        devices.append({"device_id": f"air-{i:05d}", "type": "AirQualityObserved", "interval_s": 60,
                        "lon": rng.uniform(minlon, maxlon), "lat": rng.uniform(minlat, maxlat), "name": f"Sensor {i}"})
    for i in range(SEGMENTS):
        lon, lat = rng.uniform(minlon, maxlon), rng.uniform(minlat, maxlat)
        coords = [[lon, lat], [lon + rng.uniform(-0.002, 0.002), lat + rng.uniform(-0.001, 0.001)]]
        devices.append({"device_id": f"seg-{i:05d}", "type": "TrafficFlowObserved", "interval_s": 60, "lon": lon,
                        "lat": lat, "geometry": coords, "free_flow_kmh": 40, "road_class": "secondary",
                        "name": f"Segment {i}"})
    sites = json.loads((folder / "sites.json").read_text())
    base = sites["bases"][0]
    units = [{"unit_id": f"unit-{i:03d}", "kind": ("ambulance", "fire", "police", "road")[i % 4],
              "base_id": base["base_id"], "lon": base["lon"], "lat": base["lat"], "name": f"Unit {i}",
              "vehicle_type": "ambulance", "emergency_vehicle_type": "ambulance", "capabilities": ["health"]}
             for i in range(UNITS)]
    (folder / "sites.json").write_text(json.dumps({"devices": devices, "bases": sites["bases"], "units": units}))
    return folder


class CityLoad:
    """Writes observations through the real store: everything once, then 5 % per tick."""

    def __init__(self, runtime, seed: int = 2):
        self.rng = random.Random(seed)
        self.store = ObservationStore(runtime.engine)
        self.devices = runtime.city.devices
        self.units = runtime.city.units
        self.tick = 0
        self.lock = threading.Lock()

    def observation(self, site: dict, moment: datetime) -> ObservationIn:
        if site.get("type") == "AirQualityObserved":
            values = {"pm25": round(self.rng.uniform(2, 80), 1), "no2": round(self.rng.uniform(5, 120), 1)}
            return ObservationIn(site["device_id"], site["type"], moment, moment, site["lon"], site["lat"], values)
        if site.get("type") == "TrafficFlowObserved":
            values = {"averageVehicleSpeed": round(self.rng.uniform(5, 45), 1)}
            return ObservationIn(site["device_id"], site["type"], moment, moment, site["lon"], site["lat"], values,
                                 geometry={"type": "LineString", "coordinates": site["geometry"]})
        lon = site["lon"] + self.rng.uniform(-0.004, 0.004)
        lat = site["lat"] + self.rng.uniform(-0.002, 0.002)
        values = {"speed": round(self.rng.uniform(0, 60)), "bearing": self.rng.randrange(360), "serviceStatus": "parked"}
        return ObservationIn(site["unit_id"], "Vehicle", moment, moment, lon, lat, values)

    def write_all(self) -> None:
        moment = datetime.now(timezone.utc)
        everything = [self.observation(site, moment) for site in self.devices + self.units]
        for start in range(0, len(everything), 2000):
            self.store.write(Batch(observations=everything[start:start + 2000]))

    def write_changes(self, forced: ObservationIn | None = None) -> int:
        with self.lock:
            self.tick += 1
            moment = datetime.now(timezone.utc) + timedelta(microseconds=self.tick)
            population = self.devices + self.units
            chosen = self.rng.sample(population, int(len(population) * CHANGE_SHARE))
            batch = [self.observation(site, moment) for site in chosen]
            if forced is not None:
                batch.append(forced)
            self.store.write(Batch(observations=batch))
            return len(batch)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def measure_server(runtime, load: CityLoad, ticks: int) -> dict:
    from services.snapshot import SnapshotService

    service = SnapshotService(runtime.engine, runtime.city, tick_s=0.0)  # rebuild on every call
    runtime.snapshots()  # loads the layer plug-ins as the web process does
    snapshot = service.current()
    full_bytes = len(json.dumps(snapshot.payload(None, None), separators=(",", ":")))
    builds, sizes, changed = [], [], []
    for _ in range(ticks):
        started = time.monotonic()
        changed.append(load.write_changes())
        before = snapshot.version
        snapshot = service.current()
        builds.append(snapshot.build_ms)
        sizes.append(len(json.dumps(snapshot.payload(snapshot.epoch, before), separators=(",", ":"))))
        time.sleep(max(0.0, 1.0 - (time.monotonic() - started)))  # one tick per second, as live
    return {"build_ms": builds, "bytes": sizes, "full_bytes": full_bytes, "changed": changed,
            "features": sum(len(s.features) for s in snapshot.layers.values())}


def start_web(runtime, port: int):
    from waitress.server import create_server

    from app import create_app

    server = create_server(create_app(runtime).server, host="127.0.0.1", port=port, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return server


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1600,1000",
                     f"--user-data-dir={tempfile.mkdtemp(prefix='cityops-bench-')}"):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


OBSERVE_LONG_TASKS = """
window.__longTasks = [];
new PerformanceObserver(function (list) {
  list.getEntries().forEach(function (e) { window.__longTasks.push(e.duration); });
}).observe({type: "longtask", buffered: true});
"""

# Resolves when the segment is drawn in the expected colour (the canvas draws the layer's style);
# returns the epoch ms.
WAIT_FOR_COLOUR = """
var done = arguments[arguments.length - 1], id = arguments[0], colour = arguments[1];
var deadline = Date.now() + 10000;
function check() {
  if (window.cityops.drawnColour(id) === colour) { done(performance.timeOrigin + performance.now()); return; }
  if (Date.now() > deadline) { done(null); return; }
  requestAnimationFrame(check);
}
check();
"""


def measure_browser(runtime, load: CityLoad, port: int, seconds: float) -> dict:
    server = start_web(runtime, port)
    driver = browser()
    driver.set_script_timeout(30)
    stop = threading.Event()

    def changer():
        while not stop.is_set():
            load.write_changes()
            stop.wait(1.0)

    try:
        driver.get(f"http://127.0.0.1:{port}/")
        driver.execute_script(OBSERVE_LONG_TASKS)
        deadline = time.time() + 60
        while time.time() < deadline and not driver.execute_script(
                "return window.cityops.drawnColour('seg-00000') !== null"):
            time.sleep(0.2)
        time.sleep(2)  # the initial full load is done; measure the steady state from here
        driver.execute_script("window.__longTasks = []; performance.clearResourceTimings();"
                              "performance.setResourceTimingBufferSize(10000);")
        measuring_since = time.time()
        thread = threading.Thread(target=changer, daemon=True)
        thread.start()
        latencies = []
        rounds = max(5, int(seconds // 3))
        for i in range(rounds):
            segment = load.devices[SENSORS + (i * 37) % SEGMENTS]
            # alternate jammed (red) and free flow (green) so the colour really changes
            speed, colour = (3.0, "#d7261e") if i % 2 == 0 else (44.0, "#2e9e4f")
            moment = datetime.now(timezone.utc) + timedelta(milliseconds=1)
            forced = ObservationIn(segment["device_id"], "TrafficFlowObserved", moment, moment, segment["lon"],
                                   segment["lat"], {"averageVehicleSpeed": speed},
                                   geometry={"type": "LineString", "coordinates": segment["geometry"]})
            written_at = time.time() * 1000
            load.write_changes(forced)
            seen = driver.execute_async_script(WAIT_FOR_COLOUR, segment["device_id"], colour)
            if seen is not None:
                latencies.append((seen - written_at) / 1000)
            time.sleep(max(0.0, 3 - (time.time() * 1000 - written_at) / 1000))
        long_tasks = driver.execute_script("return window.__longTasks")
        received = driver.execute_script(
            "return performance.getEntriesByType('resource').filter(function (e) {"
            "return e.name.indexOf('_dash-update-component') >= 0; }).map(function (e) {"
            "return e.encodedBodySize || e.transferSize; })")
        elapsed = time.time() - measuring_since
        return {"visible_s": latencies, "rounds": rounds, "long_tasks": long_tasks or [],
                "bytes_per_s": sum(received or []) / elapsed, "requests": len(received or [])}
    finally:
        stop.set()
        driver.quit()
        server.close()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=30, help="server ticks to time")
    parser.add_argument("--seconds", type=float, default=40, help="browser measurement length")
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args(argv)

    from services.runtime import open_runtime
    from tests.brokers import free_port

    workdir = Path(tempfile.mkdtemp(prefix="cityops-mapbench-"))
    started = time.time()
    try:
        city = synthetic_city(workdir / "city")
        settings = Settings.from_env({}, database_url=f"sqlite:///{workdir / 'bench.db'}", city=str(city),
                                     data_dir=workdir)
        runtime = open_runtime(settings)
        load = CityLoad(runtime)
        load.write_all()
        server = measure_server(runtime, load, args.ticks)
        web = None if args.no_browser else measure_browser(runtime, load, free_port(), args.seconds)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    rows = []

    def row(label, value, target="", ok=None):
        rows.append((label, value, target, "" if ok is None else ("PASS" if ok else "FAIL")))

    builds, sizes = server["build_ms"], server["bytes"]
    row("features in the snapshot", f"{server['features']:,}")
    row("changed per tick (5 %)", f"{sum(server['changed']) / len(server['changed']):,.0f}")
    row("snapshot build per tick p50 / p95 / max",
        f"{percentile(builds, .5):.0f} / {percentile(builds, .95):.0f} / {max(builds):.0f} ms",
        "< 100 ms", percentile(builds, .95) < TARGETS["build_ms"])
    row("bytes per client per tick p50 / max (server delta)",
        f"{percentile(sizes, .5) / 1000:.1f} / {max(sizes) / 1000:.1f} KB", "< 50 KB", max(sizes) < TARGETS["bytes"])
    row("full snapshot (first load of a browser)", f"{server['full_bytes'] / 1e6:.2f} MB")
    if web is not None:
        visible = web["visible_s"]
        if visible:
            row("change on server -> rendered, p50 / max",
                f"{percentile(visible, .5):.2f} / {max(visible):.2f} s ({len(visible)}/{web['rounds']} seen)",
                "< 1.5 s", max(visible) < TARGETS["visible_s"] and len(visible) == web["rounds"])
        else:
            row("change on server -> rendered", "never seen", "< 1.5 s", False)
        longest = max(web["long_tasks"], default=0.0)
        row("longest main-thread task (steady state)", f"{longest:.0f} ms ({len(web['long_tasks'])} tasks > 50 ms)",
            "< 200 ms", longest < TARGETS["task_ms"])
        row("bytes received per tick by the browser (all its callbacks)",
            f"{web['bytes_per_s'] / 1000:.1f} KB ({web['requests']} requests)", "< 50 KB",
            web["bytes_per_s"] < TARGETS["bytes"])
    width = max(len(r[0]) for r in rows) + 2
    print(f"\nMap benchmark: {SENSORS:,} sensors, {SEGMENTS:,} road segments, {UNITS} units, "
          f"{CHANGE_SHARE:.0%} changing per second; 2 cores; one run, {time.time() - started:.0f} s\n")
    for label, value, target, result in rows:
        print(f"{label:<{width}}{value:>34}  {target:>9}  {result}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
