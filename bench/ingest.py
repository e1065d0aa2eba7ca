#!/usr/bin/env python
"""Ingest benchmark: the raw MQTT ceiling against CityOps's real ingest, measured side by side.

Run from the repository root:

    .venv/bin/python bench/ingest.py            # full run, ~3-5 minutes
    .venv/bin/python bench/ingest.py --quick    # smoke run, < 60 s
    .venv/bin/python bench/ingest.py --profile  # also profile one CityOps drain (cProfile)
    .venv/bin/python bench/ingest.py --without-adapters-too  # also CityOps with no adapter registered

Every figure comes from this one run on this machine, so the ratios hold even on a noisy host.
Each measurement gets a fresh Mosquitto (deploy/mosquitto/cityops.conf, via tests/brokers.py)
and, for CityOps, a fresh SQLite database in WAL mode in a temporary directory. Every
subscriber (the raw one and CityOps's ingest) and every publisher runs in its own process
(multiprocessing, spawn), so the main process only orchestrates.

Loads (the same for the raw subscriber and for CityOps):
  stream  a publisher process publishes N realistic TrafficFlowObserved / AirQualityObserved
          entities for the Helsinki devices (unique device/time: each is a new observation) as
          fast as it can, at QoS 0 or QoS 1, while the subscriber is connected.
  drain   N QoS 1 messages are queued by the broker for an offline persistent session
          (clean_session=False); then the subscriber connects and empties the backlog without
          a publisher competing for the two cores.
Rate = messages handled / time from the first message reaching the subscriber to the last one
handled (raw: parsed with json.loads; CityOps: its batch committed, from the batch listener's
stored_observations). Messages that never arrive are counted and reported as losses.

Latency: a publisher sends at a steady 1,000 msg/s at QoS 1 for ~15 s; each entity's
dateObserved is its publish instant (microseconds); a batch listener records the commit
instant of every stored observation; latency = commit - publish (same host clock).

Memory: VmHWM (peak RSS) from /proc/self/status of the ingest child process after it stored
every message of its run (100,000 in the full run).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import queue as queue_module
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TOPIC_ROOT = "city"
CITY_DIR = ROOT / "cities" / "helsinki"
RAW_CLIENT_ID = "bench-raw-subscriber"
INGEST_CLIENT_ID = "bench-cityops-ingest"

MAX_UNCONFIRMED = 20_000  # publisher: messages handed to paho but not yet sent (QoS 0) / PUBACKed (QoS 1)
TARGET_RATIO = 0.50
TARGET_P95_S = 1.0
TARGET_HWM_MB = 300.0


# ====================================================================== payloads

def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load_devices() -> list[dict]:
    """The Helsinki traffic counters and air-quality stations, in the city's own proportion."""
    sites = json.loads((CITY_DIR / "sites.json").read_text())
    return [d for d in sites["devices"] if d["type"] in ("TrafficFlowObserved", "AirQualityObserved")]


def make_entity(device: dict, observed: datetime, i: int, *, interval: bool = True) -> dict:
    """An entity like the simulator's (services/simulator/traffic.py, air.py), values varying with i."""
    if device["type"] == "TrafficFlowObserved":
        coords = (device.get("geometry") or {}).get("coordinates") or [[device["lon"], device["lat"]]]
        if len(coords) < 2:
            coords = [coords[0], coords[0]]
        return {
            "id": f"urn:ngsi-ld:TrafficFlowObserved:{device['device_id']}",
            "type": "TrafficFlowObserved",
            "name": device.get("name", device["device_id"]),
            "dateObserved": (f"{_iso(observed - timedelta(seconds=60))}/{_iso(observed)}" if interval
                             else _iso(observed)),
            "location": {"type": "LineString", "coordinates": coords},
            "averageVehicleSpeed": round(20 + (i * 7) % 40 + 0.1 * (i % 10), 1),
            "intensity": 5 + i % 37,
            "occupancy": round(0.05 + (i % 80) / 100, 2),
            "congested": i % 11 == 0,
            "laneDirection": "forward",
        }
    return {
        "id": f"urn:ngsi-ld:AirQualityObserved:{device['device_id']}",
        "type": "AirQualityObserved",
        "name": device.get("name", device["device_id"]),
        "dateObserved": _iso(observed),
        "location": {"type": "Point", "coordinates": [device["lon"], device["lat"]]},
        "typeOfLocation": "outdoor",
        "pm25": round(4 + (i % 50) * 0.3, 1), "pm10": round(8 + (i % 60) * 0.4, 1),
        "no2": round(10 + (i % 90) * 0.7, 1), "o3": round(30 + (i % 40) * 0.5, 1),
        "so2": 1.4, "co": 200 + i % 100, "temperature": round(-5 + (i % 300) / 10, 1),
        "relativeHumidity": round(0.4 + (i % 50) / 100, 2), "windSpeed": round((i % 90) / 10, 1),
        "windDirection": i % 360,
    }


def topic_for(device: dict) -> str:
    return f"{TOPIC_ROOT}/telemetry/{device['device_id']}"


# ====================================================================== helpers

def vm_status() -> dict[str, float]:
    """VmHWM / VmRSS of this process, in MB."""
    out = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmHWM:", "VmRSS:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0]) / 1024.0
    return out


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def _host_port(url: str) -> tuple[str, int]:
    from services.config import MqttTarget

    target = MqttTarget.from_url(url)
    return target.host, target.port


# ====================================================================== publisher process

def publisher_proc(url: str, mode: str, n: int, qos: int, rate: float, ready, go, result_q) -> None:
    """mode 'burst': pre-built payloads as fast as possible; mode 'steady': ``rate`` msg/s,
    each payload stamped with its publish instant."""
    import paho.mqtt.client as mqtt

    host, port = _host_port(url)
    devices = load_devices()
    connected = threading.Event()
    all_done = threading.Event()
    state = {"done": 0}

    def on_connect(_c, _u, _f, reason, _p):
        if not reason.is_failure:
            connected.set()

    def on_publish(_c, _u, _mid, _reason, _p):
        state["done"] += 1
        if state["done"] >= n:
            all_done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"bench-publisher-{os.getpid()}",
                         clean_session=True)
    client.max_inflight_messages_set(1000)
    client.max_queued_messages_set(0)
    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect(host, port, keepalive=60)
    client.loop_start()
    if not connected.wait(10):
        result_q.put({"error": "publisher could not connect"})
        return

    messages = []
    if mode == "burst":
        base = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(days=1)
        for i in range(n):
            device = devices[i % len(devices)]
            entity = make_entity(device, base + timedelta(milliseconds=i), i)
            messages.append((topic_for(device), json.dumps(entity, separators=(",", ":")).encode()))
    sizes = [len(p) for _, p in messages]
    ready.set()
    go.wait()

    started = time.perf_counter()
    if mode == "burst":
        # paho numbers messages 1..65535: keep fewer than that unconfirmed so mids never collide
        for i, (topic, payload) in enumerate(messages):
            while i - state["done"] > MAX_UNCONFIRMED:
                time.sleep(0.0005)
            client.publish(topic, payload, qos=qos)
    else:
        interval = 1.0 / rate
        for i in range(n):
            target = started + i * interval
            delay = target - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            device = devices[i % len(devices)]
            entity = make_entity(device, datetime.now(timezone.utc), i, interval=False)
            payload = json.dumps(entity, separators=(",", ":")).encode()
            sizes.append(len(payload))
            client.publish(topic_for(device), payload, qos=qos)
    published = time.perf_counter()
    all_done.wait(max(60.0, n / 2000.0))
    finished = time.perf_counter()
    client.disconnect()
    client.loop_stop()
    result_q.put({
        "published": n, "confirmed": state["done"], "publish_s": published - started,
        "confirm_s": finished - started, "rate": n / max(finished - started, 1e-9),
        "mean_payload_bytes": sum(sizes) / max(len(sizes), 1),
    })


# ====================================================================== raw subscriber process

def raw_subscriber_proc(url: str, qos: int, clean: bool, expected: int, latency: bool,
                        ready, stop, progress, result_q) -> None:
    """The ceiling: an aiomqtt subscriber that only json.loads each payload."""
    import aiomqtt

    host, port = _host_port(url)
    state = {"count": 0, "first": None, "last": None, "latencies": []}

    async def consume(client):
        messages = client.messages
        loads = json.loads
        perf = time.perf_counter
        count = 0
        async for message in messages:
            document = loads(message.payload)
            now = perf()
            if count == 0:
                state["first"] = now
            count += 1
            state["count"] = count
            state["last"] = now
            if latency:
                sent = datetime.fromisoformat(document["dateObserved"].replace("Z", "+00:00")).timestamp()
                state["latencies"].append(time.time() - sent)
            if count >= expected:
                return

    async def main():
        async with aiomqtt.Client(host, port, identifier=RAW_CLIENT_ID, clean_session=clean,
                                  keepalive=60, timeout=10) as client:
            await client.subscribe(f"{TOPIC_ROOT}/#", qos=qos)
            ready.set()
            task = asyncio.create_task(consume(client))
            while not task.done():
                await asyncio.sleep(0.1)
                progress.value = state["count"]
                if stop.is_set():
                    task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            progress.value = state["count"]

    asyncio.run(main())
    result_q.put(_summary(state["count"], state["first"], state["last"], state["latencies"]) | {
        "hwm": vm_status()})


def _summary(count, first, last, latencies) -> dict:
    elapsed = (last - first) if (first is not None and last is not None) else 0.0
    out = {"count": count, "elapsed_s": elapsed, "rate": (count - 1) / elapsed if elapsed > 0 else math.nan}
    if latencies:
        ordered = sorted(latencies)
        out["latency"] = {"n": len(ordered), "p50": percentile(ordered, 50), "p95": percentile(ordered, 95),
                          "p99": percentile(ordered, 99), "max": ordered[-1]}
    return out


# ====================================================================== CityOps ingest process

class _ReadyHandler(logging.Handler):
    def __init__(self, event):
        super().__init__(logging.INFO)
        self.event = event

    def emit(self, record):
        if "subscribed to" in record.getMessage():
            self.event.set()


def cityops_proc(url: str, db_dir: str, expected: int, latency: bool, profile: bool, with_adapters: bool,
                 ready, stop, progress, result_q) -> None:
    """CityOps's real ingest (open_runtime + build_ingest, SQLite WAL, Helsinki) in this process;
    without ``with_adapters``, with no feed adapter registered (the same code, for an A/B)."""
    from services import adapters
    from services.config import Settings
    from services.runtime import build_ingest, open_runtime

    if not with_adapters:
        adapters.PLUGINS = ()
        adapters.load_plugins()

    logging.getLogger("cityops.ingest").setLevel(logging.INFO)
    logging.getLogger("cityops.ingest").addHandler(_ReadyHandler(ready))

    settings = Settings.from_env({}, database_url=f"sqlite:///{db_dir}/cityops.db", mqtt_url=url,
                                 city=str(CITY_DIR), ingest_client_id=INGEST_CLIENT_ID)
    runtime = open_runtime(settings)
    ingest = build_ingest(runtime)
    with runtime.engine.connect() as connection:
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    hwm_before = vm_status()

    state = {"stored": 0, "first": None, "last": None, "batches": 0, "latencies": [], "write_s": 0.0}
    perf = time.perf_counter

    original_accept = ingest._accept  # instance-level wrapper: the time the first message arrives

    def accept(message):
        if state["first"] is None:
            state["first"] = perf()
        original_accept(message)

    ingest._accept = accept

    def on_batch(result):
        now = perf()
        state["stored"] += result.stored
        state["batches"] += 1
        state["last"] = now
        if latency:
            committed = time.time()
            state["latencies"].extend(committed - o.observed_at.timestamp() for o in result.stored_observations)

    ingest.batch_listeners.append(on_batch)

    profilers = None
    if profile:
        import cProfile

        loop_profiler = cProfile.Profile()  # receive, parse, write and listeners share the ingest's loop
        original_write = ingest.store.write

        def timed_write(batch):
            started = perf()
            try:
                return original_write(batch)
            finally:
                state["write_s"] += perf() - started

        ingest.store.write = timed_write
        profilers = (loop_profiler,)

    async def main():
        async_stop = asyncio.Event()

        async def watchdog():
            while True:
                await asyncio.sleep(0.1)
                progress.value = state["stored"]
                if stop.is_set() or state["stored"] >= expected:
                    async_stop.set()
                    return

        watcher = asyncio.create_task(watchdog())
        if profilers:
            profilers[0].enable()
        try:
            await ingest.run(async_stop)
        finally:
            if profilers:
                profilers[0].disable()
            watcher.cancel()
        progress.value = state["stored"]

    asyncio.run(main())
    out = _summary(state["stored"], state["first"], state["last"], state["latencies"])
    out["rate"] = state["stored"] / out["elapsed_s"] if out["elapsed_s"] > 0 else math.nan
    out.update({
        "received": ingest.stats.received, "duplicates": ingest.stats.duplicates,
        "rejected": ingest.stats.rejected, "rejected_by_reason": dict(ingest.stats.rejected_by_reason),
        "batches": state["batches"], "journal_mode": journal, "hwm_before": hwm_before, "hwm": vm_status(),
    })
    if profilers:
        out["profile"] = _profile_report(profilers, out["elapsed_s"], state["write_s"])
    result_q.put(out)


def _profile_report(profilers, elapsed: float, write_s: float) -> str:
    import io
    import pstats

    (loop_profiler,) = profilers
    lines = [f"wall time of the drain {elapsed:.2f} s; inside ObservationStore.write "
             f"{write_s:.2f} s = {100 * write_s / max(elapsed, 1e-9):.0f} % (with cProfile overhead)"]
    for title, profiler in (("INGEST LOOP (receive, parse_message, batching, write, listeners, ack)", loop_profiler),):
        for sort in ("tottime", "cumulative"):
            stream = io.StringIO()
            stats = pstats.Stats(profiler, stream=stream)
            total = stats.total_tt
            stats.sort_stats(sort).print_stats(22)
            lines.append(f"\n==== {title}: profiled {total:.2f} s, top by {sort} ====")
            lines.append(stream.getvalue().split("\n", 6)[-1] if "ncalls" in stream.getvalue() else stream.getvalue())
    return "\n".join(lines)


# ====================================================================== orchestration

CTX = mp.get_context("spawn")


class Child:
    """A subscriber child process with its ready/stop/progress handles."""

    def __init__(self, target, *args):
        self.ready, self.stop = CTX.Event(), CTX.Event()
        self.progress = CTX.Value("q", 0, lock=False)
        self.results = CTX.Queue()
        self.process = CTX.Process(target=target, args=(*args, self.ready, self.stop, self.progress, self.results),
                                   daemon=True)
        self.process.start()

    def result(self, timeout: float = 120.0) -> dict:
        try:
            return self.results.get(timeout=timeout)
        finally:
            self.process.join(10)
            if self.process.is_alive():
                self.process.kill()


class Publisher:
    def __init__(self, url: str, mode: str, n: int, qos: int, rate: float = 0.0):
        self.ready, self.go = CTX.Event(), CTX.Event()
        self.results = CTX.Queue()
        self.process = CTX.Process(target=publisher_proc, args=(url, mode, n, qos, rate, self.ready, self.go,
                                                                self.results), daemon=True)
        self.process.start()
        if not self.ready.wait(120):
            raise RuntimeError("the publisher did not get ready")
        self._result = None

    def start(self) -> None:
        self.go.set()

    def poll(self) -> dict | None:
        if self._result is None:
            try:
                self._result = self.results.get_nowait()
            except queue_module.Empty:
                return None
        return self._result

    def result(self, timeout: float = 300.0) -> dict:
        if self._result is None:
            self._result = self.results.get(timeout=timeout)
        self.process.join(10)
        return self._result


def wait_for_subscriber(child: Child, expected: int, publisher: Publisher | None, idle_s: float,
                        timeout_s: float) -> None:
    """Until the subscriber handled ``expected`` messages, or stopped progressing after the publisher
    finished (the rest is lost), or the timeout."""
    deadline = time.monotonic() + timeout_s
    last, last_change = -1, time.monotonic()
    while time.monotonic() < deadline and child.process.is_alive():
        value = child.progress.value
        if value >= expected:
            break
        if value != last:
            last, last_change = value, time.monotonic()
        publisher_done = publisher is None or publisher.poll() is not None
        if publisher_done and time.monotonic() - last_change > idle_s:
            break
        time.sleep(0.1)
    child.stop.set()


def wait_ready(child: Child, kind: str) -> None:
    deadline = time.monotonic() + 120
    while not child.ready.wait(0.2):
        if not child.process.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the {kind} subscriber process died or did not get ready (see its traceback above)")


def prepare_persistent_session(url: str, client_id: str) -> None:
    """Creates the offline persistent QoS 1 session the backlog will be queued for."""
    import paho.mqtt.client as mqtt

    host, port = _host_port(url)
    subscribed = threading.Event()
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=False)
    client.on_connect = lambda c, *_: c.subscribe(f"{TOPIC_ROOT}/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(host, port, keepalive=60)
    client.loop_start()
    if not subscribed.wait(10):
        raise RuntimeError("could not create the persistent session")
    client.disconnect()
    client.loop_stop()


MOSQUITTO_CONF: Path | None = None  # --mosquitto-conf: compare broker settings (default: the shipped file)


def start_broker():
    from tests.brokers import CONFIG, MosquittoBroker

    broker = MosquittoBroker(config_path=MOSQUITTO_CONF or CONFIG)
    broker.start()
    return broker


def start_subscriber(kind: str, url: str, qos: int, expected: int, *, drain: bool, latency: bool = False,
                     profile: bool = False, db_dir: str | None = None) -> Child:
    if kind == "raw":
        return Child(raw_subscriber_proc, url, qos, not drain, expected, latency)
    return Child(cityops_proc, url, db_dir, expected, latency, profile, kind != "bare")


def run_stream(kind: str, qos: int, n: int, *, profile: bool = False) -> dict:
    broker = start_broker()
    db_dir = tempfile.mkdtemp(prefix="cityops-bench-db-")
    try:
        publisher = Publisher(broker.url, "burst", n, qos)
        child = start_subscriber(kind, broker.url, qos, n, drain=False, profile=profile, db_dir=db_dir)
        wait_ready(child, kind)
        time.sleep(0.3)
        publisher.start()
        wait_for_subscriber(child, n, publisher, idle_s=4.0, timeout_s=max(120.0, n / 300.0))
        result = child.result()
        result["publisher"] = publisher.result()
        return result
    finally:
        broker.close()
        shutil.rmtree(db_dir, ignore_errors=True)


def run_drain(kind: str, n: int, *, profile: bool = False) -> dict:
    broker = start_broker()
    db_dir = tempfile.mkdtemp(prefix="cityops-bench-db-")
    try:
        prepare_persistent_session(broker.url, RAW_CLIENT_ID if kind == "raw" else INGEST_CLIENT_ID)
        publisher = Publisher(broker.url, "burst", n, 1)
        publisher.start()
        published = publisher.result()
        if published.get("confirmed", 0) < n:
            raise RuntimeError(f"the broker confirmed only {published.get('confirmed')} of {n} messages")
        child = start_subscriber(kind, broker.url, 1, n, drain=True, profile=profile, db_dir=db_dir)
        wait_for_subscriber(child, n, None, idle_s=10.0, timeout_s=max(120.0, n / 300.0))
        result = child.result()
        result["publisher"] = published
        return result
    finally:
        broker.close()
        shutil.rmtree(db_dir, ignore_errors=True)


def run_latency(kind: str, rate: float, duration: float) -> dict:
    broker = start_broker()
    db_dir = tempfile.mkdtemp(prefix="cityops-bench-db-")
    n = int(rate * duration)
    try:
        publisher = Publisher(broker.url, "steady", n, 1, rate)
        child = start_subscriber(kind, broker.url, 1, n, drain=False, latency=True, db_dir=db_dir)
        wait_ready(child, kind)
        time.sleep(0.3)
        publisher.start()
        wait_for_subscriber(child, n, publisher, idle_s=5.0, timeout_s=duration + 120.0)
        result = child.result()
        result["publisher"] = publisher.result()
        return result
    finally:
        broker.close()
        shutil.rmtree(db_dir, ignore_errors=True)


# ====================================================================== report

def fmt_rate(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:,.0f}/s"


def describe(name: str, result: dict, n: int) -> str:
    lost = n - result["count"]
    pub = result.get("publisher", {})
    parts = [f"{name:<34} {fmt_rate(result['rate']):>10}  handled {result['count']:,}/{n:,}"
             f" in {result['elapsed_s']:.2f} s"]
    if lost:
        parts.append(f"LOST {lost:,} ({100 * lost / n:.1f} %)")
    if "received" in result:
        parts.append(f"received {result['received']:,}, dup {result['duplicates']}, rejected {result['rejected']}, "
                     f"{result['batches']} batches (mean {result['count'] / max(result['batches'], 1):.0f})")
    if pub:
        parts.append(f"publisher {fmt_rate(pub.get('rate'))}")
    parts.append(f"VmHWM {result['hwm'].get('VmHWM', 0):.0f} MB")
    return "; ".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small N for a smoke run (< 60 s)")
    parser.add_argument("--profile", action="store_true",
                        help="afterwards, profile one CityOps QoS 1 drain with cProfile and print where time goes")
    parser.add_argument("-n", type=int, default=None, help="messages per throughput run (default 100000; quick 8000)")
    parser.add_argument("--without-adapters-too", action="store_true",
                        help="also run CityOps's QoS 0 stream and drain with no feed adapter registered, interleaved")
    parser.add_argument("--mosquitto-conf", type=Path, default=None,
                        help="run every broker with this configuration instead of deploy/mosquitto/cityops.conf")
    args = parser.parse_args()
    global MOSQUITTO_CONF
    MOSQUITTO_CONF = args.mosquitto_conf.resolve() if args.mosquitto_conf else None

    os.chdir(ROOT)
    n = args.n or (8_000 if args.quick else 100_000)
    latency_rate, latency_s = 1000.0, (5.0 if args.quick else 15.0)
    if not (shutil.which("mosquitto") or Path("/usr/sbin/mosquitto").exists()):
        print("mosquitto is not installed; this benchmark needs it (apt install mosquitto)")
        return 2

    started = time.monotonic()
    print(f"CityOps ingest benchmark — {platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{platform.platform()}")
    print(f"N = {n:,} messages per throughput run; latency at {latency_rate:.0f} msg/s for {latency_s:.0f} s; "
          f"{'QUICK smoke run' if args.quick else 'full run'}")
    print(f"Broker configuration: {MOSQUITTO_CONF or 'deploy/mosquitto/cityops.conf'}")
    from services import adapters  # what the ingest below reads besides CityOps's own topics

    adapters.load_plugins()
    print(f"Adapters registered: topics {', '.join(adapters.TOPIC_ADAPTERS)}; documents "
          f"{', '.join(adapters.DOCUMENT_ADAPTERS)}; extra subscriptions {', '.join(adapters.extra_subscriptions())}")
    print("Method: fresh Mosquitto (deploy/mosquitto/cityops.conf) per run; publisher and subscriber in separate "
          "processes;\n  rate = handled / (last handled - first arrival); raw = json.loads only; "
          "CityOps = real Ingest, SQLite WAL, committed.\n")

    results: dict[str, dict] = {}
    plan = [
        ("raw_s0", "raw, QoS 0 stream", lambda: run_stream("raw", 0, n)),
        ("cityops_s0", "CityOps, QoS 0 stream", lambda: run_stream("cityops", 0, n)),
        *([("bare_s0", "CityOps no adapters, QoS 0 stream", lambda: run_stream("bare", 0, n))]
          if args.without_adapters_too else []),
        ("raw_s1", "raw, QoS 1 stream", lambda: run_stream("raw", 1, n)),
        ("cityops_s1", "CityOps, QoS 1 stream", lambda: run_stream("cityops", 1, n)),
        ("raw_d1", "raw, QoS 1 backlog drain", lambda: run_drain("raw", n)),
        ("cityops_d1", "CityOps, QoS 1 backlog drain", lambda: run_drain("cityops", n)),
        *([("bare_d1", "CityOps no adapters, QoS 1 drain", lambda: run_drain("bare", n))]
          if args.without_adapters_too else []),
        ("raw_lat", f"raw, latency {latency_rate:.0f}/s QoS 1", lambda: run_latency("raw", latency_rate, latency_s)),
        ("cityops_lat", f"CityOps, latency {latency_rate:.0f}/s QoS 1",
         lambda: run_latency("cityops", latency_rate, latency_s)),
    ]
    for key, name, run in plan:
        result = run()
        results[key] = result
        expected = int(latency_rate * latency_s) if key.endswith("_lat") else n
        line = describe(name, result, expected)
        if "latency" in result:
            lat = result["latency"]
            line += f"; latency p50 {lat['p50'] * 1000:.0f} ms, p95 {lat['p95'] * 1000:.0f} ms, max {lat['max'] * 1000:.0f} ms"
        print(line, flush=True)

    journal = results["cityops_d1"].get("journal_mode")
    print(f"\nCityOps SQLite journal_mode = {journal}")
    for key in ("raw_s0", "raw_s1"):
        r = results[key]
        if r["rate"] >= 0.9 * r["publisher"]["rate"]:
            print(f"note: {key} kept up with its publisher ({fmt_rate(r['publisher']['rate'])}): that raw figure is a "
                  "lower bound of the ceiling (publisher-bound); the drain figures are not.")

    def ratio(a, b):
        return results[a]["rate"] / results[b]["rate"] if results[b]["rate"] else math.nan

    def verdict(ok: bool) -> str:
        return "PASS" if ok else "FAIL"

    rows = []
    rows.append(("1  Raw ceiling, QoS 0 stream (json.loads only)", fmt_rate(results["raw_s0"]["rate"]), "reference", ""))
    rows.append(("   Raw, QoS 1 stream", fmt_rate(results["raw_s1"]["rate"]), "reference", ""))
    rows.append(("   Raw, QoS 1 backlog drain", fmt_rate(results["raw_d1"]["rate"]), "reference", ""))
    for key, ref, label in (("cityops_s0", "raw_s0", "2a CityOps stored, QoS 0 stream / raw QoS 0"),
                            ("cityops_s1", "raw_s1", "2b CityOps stored, QoS 1 stream / raw QoS 1"),
                            ("cityops_s1", "raw_s0", "2c CityOps stored, QoS 1 stream / raw QoS 0"),
                            ("cityops_d1", "raw_d1", "2d CityOps stored, QoS 1 drain / raw drain")):
        r = ratio(key, ref)
        lost = n - results[key]["count"]
        ref_bound = ref != "raw_d1" and results[ref]["rate"] >= 0.9 * results[ref]["publisher"]["rate"]
        # CityOps kept up with its own publisher: its figure is a lower bound, not its ceiling
        own_bound = key != "cityops_d1" and results[key]["rate"] >= 0.9 * results[key]["publisher"]["rate"]
        note = " (raw publisher-bound)" if ref_bound else " (CityOps publisher-bound)" if own_bound else ""
        ref_bound = ref_bound or own_bound
        rows.append((label + note,
                     f"{fmt_rate(results[key]['rate'])} = {100 * r:.0f} %" + (f" (lost {lost:,})" if lost else ""),
                     f">= {100 * TARGET_RATIO:.0f} %",
                     "info" if ref_bound else verdict(r >= TARGET_RATIO and not lost)))
    if args.without_adapters_too:
        for key, bare, ref, label in (("cityops_s0", "bare_s0", "raw_s0", "QoS 0 stream"),
                                      ("cityops_d1", "bare_d1", "raw_d1", "QoS 1 drain")):
            rows.append((f"   {label}: no adapters / raw = {100 * ratio(bare, ref):.0f} %; with / without adapters",
                         f"{fmt_rate(results[key]['rate'])} / {fmt_rate(results[bare]['rate'])} = "
                         f"{100 * ratio(key, bare):.0f} %", "info", ""))
    lat = results["cityops_lat"].get("latency", {})
    lat_lost = int(latency_rate * latency_s) - results["cityops_lat"]["count"]
    rows.append((f"3  Publish->stored latency p50 @ {latency_rate:.0f}/s QoS 1",
                 f"{lat.get('p50', math.nan) * 1000:.0f} ms", "info", ""))
    rows.append((f"3  Publish->stored latency p95 @ {latency_rate:.0f}/s QoS 1",
                 f"{lat.get('p95', math.nan) * 1000:.0f} ms" + (f" (lost {lat_lost})" if lat_lost else ""),
                 f"< {TARGET_P95_S * 1000:.0f} ms", verdict(lat.get("p95", math.inf) < TARGET_P95_S and not lat_lost)))
    raw_lat = results["raw_lat"].get("latency", {})
    rows.append(("   raw publish->parsed latency p50 / p95", f"{raw_lat.get('p50', math.nan) * 1000:.1f} / "
                 f"{raw_lat.get('p95', math.nan) * 1000:.1f} ms", "reference", ""))
    qos1_runs = [results[k] for k in ("cityops_s1", "cityops_d1")]
    hwm = max(r["hwm"]["VmHWM"] for r in qos1_runs)
    stored_min = min(r["count"] for r in qos1_runs)
    rows.append((f"4  Ingest process VmHWM after {stored_min:,} stored (QoS 1)", f"{hwm:.0f} MB",
                 f"< {TARGET_HWM_MB:.0f} MB", verdict(hwm < TARGET_HWM_MB) + ("" if stored_min >= 100_000 else "*")))
    rows.append(("   Ingest VmHWM, QoS 0 stream run", f"{results['cityops_s0']['hwm']['VmHWM']:.0f} MB", "info", ""))
    rows.append(("   Ingest VmHWM at start (runtime open, idle)",
                 f"{results['cityops_d1']['hwm_before']['VmHWM']:.0f} MB", "info", ""))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'figure':<{width}}  {'measured':>26}  {'target':>9}  result")
    print("-" * (width + 48))
    for label, value, target, result in rows:
        print(f"{label:<{width}}  {value:>26}  {target:>9}  {result}")
    if stored_min < 100_000:
        print("* memory measured after fewer than 100,000 stored observations (use the full run)")
    print(f"\n{os.cpu_count()} cores; all figures from this one run; total {time.monotonic() - started:.0f} s")

    if args.profile:
        print("\nProfiling one CityOps QoS 1 backlog drain (cProfile in the ingest process; slows it down)...")
        result = run_drain("cityops", n, profile=True)
        print(describe("CityOps, QoS 1 drain, PROFILED", result, n))
        print(result.get("profile", "no profile"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
