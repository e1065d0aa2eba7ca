#!/usr/bin/env python
"""Control-room benchmark: many wall screens polling the live map, against 1 and N web processes.

    .venv/bin/python bench/screens.py                       # 60 and 100 screens, 1 and 2 processes
    .venv/bin/python bench/screens.py --screens 100 --processes 1,2 --seconds 30

What a wall screen sends is captured, not invented: a headless Chromium opens /wall on a real
`manage.py web` process and the bench records the bodies of its /_dash-update-component
requests (Chrome's performance log). Every second the screen's map timer fires the callbacks
that listen to it (the live map's delta and the headline tiles; before the 2026-12 changes
also the legends and the device panel) and every two seconds the alarm strip's timer fires
its own; each simulated screen replays exactly those bodies (the list is printed) with its
own counters, and carries the map's (epoch, version) from each answer into its next request,
as the page's clientside callback does.

The servers are real `manage.py web` processes (waitress) on one SQLite database in WAL mode,
the Helsinki demo city, with a writer process changing 5 % of the devices every second through
the real store. With N > 1 processes they share the live snapshot through Redis
(CITYOPS_REDIS_URL, database 11 of the local Redis, flushed first). There is no proxy in
front: each process listens on its own port and the bench client spreads the requests over
the ports round-robin, request by request (as a proxy without sticky sessions would).

The client is one asyncio process with keep-alive connections (one per concurrent request of a
screen, as a browser keeps several); each screen starts at a random offset within the first
second. Latency = request sent -> whole response read, per request. A screen whose tick is not
answered before its next tick skips that tick (counted as missed ticks), as a browser's
interval would pile up. Requests not answered within 5 s count as timeouts.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REDIS_URL = "redis://127.0.0.1:6379/11"
UPDATE_PATH = "/_dash-update-component"
TIMEOUT_S = 5.0
MAP_TICK = "map-tick.n_intervals"
STRIP_TICK = "alarm-strip-tick.n_intervals"
MAP_CLIENT = "map-client"
MAP_OUTPUT = "map-payload.data"
PATH_KEY = "__path"  # where the captured request went (kept beside its body, not sent)


# ---------------------------------------------------------------- the servers

def server_env(workdir: Path, port: int, shared: bool) -> dict:
    env = {**os.environ, "CITYOPS_DATABASE_URL": f"sqlite:///{workdir / 'cityops.db'}", "CITYOPS_DEMO": "0",
           "CITYOPS_PORT": str(port), "CITYOPS_DATA_DIR": str(workdir / "data"), "CITYOPS_SECRET_KEY": "bench",
           "CITYOPS_MQTT_URL": "mqtt://127.0.0.1:9", "CITYOPS_LOG_LEVEL": "WARNING"}
    env.pop("CITYOPS_REDIS_URL", None)
    if shared:
        env["CITYOPS_REDIS_URL"] = REDIS_URL
    return env


def start_servers(workdir: Path, count: int) -> tuple[list[subprocess.Popen], list[int]]:
    from tests.brokers import free_port, wait_until

    ports = [free_port() for _ in range(count)]
    processes = [subprocess.Popen([sys.executable, "manage.py", "web"], cwd=ROOT,
                                  env=server_env(workdir, port, shared=count > 1),
                                  stdout=(workdir / f"web-{port}.log").open("wb"), stderr=subprocess.STDOUT)
                 for port in ports]
    import urllib.request

    def serving(port: int) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    for port, process in zip(ports, processes):
        wait_until(lambda: process.poll() is None and serving(port), 90, message=f"the web process on {port}")
    return processes, ports


def stop_servers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()


def writer_proc(database_url: str, stop) -> None:
    """The demo city's simulator, its messages parsed and stored through the real store every
    second (no broker: the bench measures the web side), after 15 minutes of backfill."""
    from datetime import datetime, timedelta, timezone

    from services.config import Settings
    from services.simulator import CitySimulator
    from services.store import Batch, ObservationStore
    from services.telemetry import ParseContext, parse_message
    from services.runtime import open_runtime

    runtime = open_runtime(Settings.from_env({}, database_url=database_url))
    city = runtime.city
    store = ObservationStore(runtime.engine, city.district_of)
    registered = {site["device_id"]: (site["lon"], site["lat"]) for site in city.devices}
    context = ParseContext(root="city", registered_location=registered.get, in_area=city.is_in_area)
    now = datetime.now(timezone.utc)
    simulator = CitySimulator(city, seed=42, topic_root="city", start=now - timedelta(minutes=15))

    def write_until(moment: datetime) -> None:
        observations = []
        for message in simulator.advance(moment):
            observations += parse_message(message.topic, message.payload, context, moment).observations
        for first in range(0, len(observations), 2000):
            store.write(Batch(observations=observations[first:first + 2000]))

    write_until(now)
    while not stop.is_set():
        started = time.monotonic()
        write_until(datetime.now(timezone.utc))
        stop.wait(max(0.0, 1.0 - (time.monotonic() - started)))


# ---------------------------------------------------------------- capturing the wall page

def capture_wall_requests(port: int, seconds: float = 20.0) -> list[dict]:
    """The /_dash-update-component bodies a real /wall page sends, from Chrome's performance log."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ("--headless", "--no-sandbox", "--disable-gpu", "--window-size=1920,1080",
                     f"--user-data-dir={tempfile.mkdtemp(prefix='cityops-bench-')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/wall")
        time.sleep(seconds)  # the page's own timers run: this is the recording, not a synchronisation
        bodies = []
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") != "Network.requestWillBeSent":
                continue
            request = message["params"]["request"]
            if UPDATE_PATH in request["url"] and request.get("postData"):
                path = "/" + request["url"].split("/", 3)[3]  # Dash may add a suffix to the path
                bodies.append({**json.loads(request["postData"]), PATH_KEY: path})
        return bodies
    finally:
        driver.quit()


def tick_requests(bodies: list[dict]) -> tuple[list[dict], list[dict]]:
    """The last body of each callback fired by the map timer, and by the alarm strip's timer."""
    every_second, every_other = {}, {}
    for body in bodies:
        changed = body.get("changedPropIds") or []
        if MAP_TICK in changed:
            every_second[body["output"]] = body
        elif STRIP_TICK in changed:
            every_other[body["output"]] = body
    if not every_second:
        raise RuntimeError(f"the wall page sent no map-timer callbacks; outputs seen: "
                           f"{sorted({body['output'] for body in bodies})}")
    return list(every_second.values()), list(every_other.values())


def _set(items: list | None, component: str, prop: str, value) -> None:
    for item in items or []:
        if isinstance(item, dict) and item.get("id") == component and item.get("property") == prop:
            item["value"] = value


# ---------------------------------------------------------------- the screens (client)

@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    timeouts: int = 0
    errors: int = 0
    ticks: int = 0
    missed_ticks: int = 0
    bytes: int = 0


class Connection:
    """One keep-alive HTTP/1.1 connection (the client must not be the bottleneck: no threads)."""

    def __init__(self, port: int):
        self.port = port
        self.reader = self.writer = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status_line = await self.reader.readline()
        length = 0
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        return int(status_line.split()[1]), payload

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def screen(index: int, ports: list[int], each_second: list[dict], each_other: list[dict], until: float,
                 results: Results, rng: random.Random) -> None:
    slots = max(len(each_second) + len(each_other), 1)
    connections = [[Connection(port) for port in ports] for _ in range(slots)]
    client = None  # the map's (epoch, version), as the page keeps it
    turn = index
    await asyncio.sleep(rng.random())
    tick_at = time.monotonic()
    n = 0
    while tick_at < until:
        n += 1
        bodies = []
        for body in each_second + (each_other if n % 2 == 0 else []):
            body = json.loads(json.dumps(body))
            _set(body.get("inputs"), "map-tick", "n_intervals", n)
            _set(body.get("inputs"), "alarm-strip-tick", "n_intervals", n // 2)
            _set(body.get("state"), MAP_CLIENT, "data", client)
            bodies.append(body)

        async def send(slot: int, body: dict):
            nonlocal turn
            turn += 1
            connection = connections[slot][turn % len(ports)]
            path = body.pop(PATH_KEY, UPDATE_PATH)
            started = time.monotonic()
            try:
                status, payload = await asyncio.wait_for(connection.post(path, json.dumps(body).encode()),
                                                         TIMEOUT_S)
            except asyncio.TimeoutError:
                results.timeouts += 1
                connection.close()
                return None
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                results.errors += 1
                connection.close()
                return None
            results.latencies.setdefault(body["output"], []).append(time.monotonic() - started)
            results.bytes += len(payload)
            if status not in (200, 204):
                results.errors += 1
                return None
            return payload

        answers = await asyncio.gather(*(send(slot, body) for slot, body in enumerate(bodies)))
        results.ticks += 1
        for body, answer in zip(bodies, answers):
            if answer and body["output"] == MAP_OUTPUT:  # what the page's applyPayload keeps
                payload = json.loads(answer)["response"]["map-payload"]["data"]
                client = {"epoch": payload["epoch"], "version": payload["version"]}
        tick_at += 1.0
        now = time.monotonic()
        while tick_at < now:  # the tick's answers came too late for the next tick(s)
            tick_at += 1.0
            results.missed_ticks += 1
        await asyncio.sleep(tick_at - now)
    for row in connections:
        for connection in row:
            connection.close()


def run_screens(ports: list[int], each_second: list[dict], each_other: list[dict], screens: int,
                seconds: float, seed: int) -> Results:
    results = Results()
    rng = random.Random(seed)
    until = time.monotonic() + seconds

    async def main():
        await asyncio.gather(*(screen(i, ports, each_second, each_other, until, results, rng) for i in range(screens)))

    asyncio.run(main())
    return results


# ---------------------------------------------------------------- report

def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))] if ordered else float("nan")


def describe(label: str, results: Results, seconds: float) -> str:
    every = [value for values in results.latencies.values() for value in values]
    pull = results.latencies.get(MAP_OUTPUT, [])
    return (f"{label:<26} {len(every) / seconds:6.0f} req/s  all p50 {percentile(every, .5) * 1000:5.0f} ms "
            f"p95 {percentile(every, .95) * 1000:5.0f} ms max {max(every, default=float('nan')) * 1000:6.0f} ms | "
            f"map p95 {percentile(pull, .95) * 1000:5.0f} ms | timeouts {results.timeouts}, errors {results.errors}, "
            f"missed ticks {results.missed_ticks}/{results.ticks + results.missed_ticks}, "
            f"{results.bytes / max(len(every), 1) / 1024:.1f} KB/answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--screens", default="60,100", help="comma-separated screen counts (default 60,100)")
    parser.add_argument("--processes", default="1,2", help="comma-separated web process counts (default 1,2)")
    parser.add_argument("--seconds", type=float, default=30.0, help="measured seconds per run (default 30)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load before measuring (default 5)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.chdir(ROOT)
    screens_list = [int(value) for value in args.screens.split(",")]
    processes_list = [int(value) for value in args.processes.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="cityops-screens-"))
    database_url = f"sqlite:///{workdir / 'cityops.db'}"
    from services.config import Settings
    from services.runtime import open_runtime

    open_runtime(Settings.from_env({}, database_url=database_url))  # schema and city before the writer
    context = mp.get_context("spawn")
    stop = context.Event()
    writer = context.Process(target=writer_proc, args=(database_url, stop), daemon=True)
    writer.start()
    try:
        processes, ports = start_servers(workdir, 1)
        try:
            bodies = capture_wall_requests(ports[0])
        finally:
            stop_servers(processes)
        each_second, each_other = tick_requests(bodies)
        print(f"CityOps screens benchmark — {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
              f"{args.seconds:.0f} s measured after {args.warmup:.0f} s of warm-up per run")
        print("A wall screen, as captured from Chromium on /wall, sends per second: "
              + ", ".join(body["output"][:60] for body in each_second)
              + "; every 2 s: " + ", ".join(body["output"][:60] for body in each_other))
        print("Servers: `manage.py web` (waitress) per port; N > 1 share the snapshot through Redis; "
              "the client spreads requests over the ports round-robin (no proxy).\n")
        for count in processes_list:
            if count > 1:
                import redis

                redis.Redis.from_url(REDIS_URL).flushdb()
            processes, ports = start_servers(workdir, count)
            try:
                for screens in screens_list:
                    run_screens(ports, each_second, each_other, screens, args.warmup, args.seed)  # warm-up
                    measured = run_screens(ports, each_second, each_other, screens, args.seconds, args.seed)
                    print(describe(f"{screens} screens, {count} process{'es' if count > 1 else ''}", measured,
                                   args.seconds), flush=True)
            finally:
                stop_servers(processes)
    finally:
        stop.set()
        writer.join(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
