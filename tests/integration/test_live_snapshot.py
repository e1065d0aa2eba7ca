"""The live map snapshot under concurrent readers: web server threads take payloads while ticks rebuild it."""
from __future__ import annotations

import json
import random
import sys
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from services.config import Settings
from services.layers import load_plugins
from services.runtime import open_runtime
from services.snapshot import SHARED_KEY, LiveSnapshot, SnapshotService
from services.store import Batch, ObservationStore
from services.telemetry import ObservationIn

REDIS_URL = "redis://127.0.0.1:6379/0"
READERS = 8
WRITES = 40
MAX_WRITES = 400  # a reader that took no payload during the writes proves nothing
SEGMENTS = 300  # at first; every write adds NEW_PER_WRITE more (the features of a layer grow during reads)
NEW_PER_WRITE = 3


@pytest.fixture
def runtime(database_url, tiny_city, tmp_path):
    load_plugins()
    runtime = open_runtime(Settings.from_env({}, database_url=database_url, city=str(tiny_city), data_dir=tmp_path))
    yield runtime
    runtime.engine.dispose()  # its idle connections: the PostgreSQL server is shared by every test


class Browser:
    """What a browser keeps of the map: each feature's properties and geometry, and its (epoch, version)."""

    def __init__(self):
        self.epoch: str | None = None
        self.version: int | None = None
        self.features: dict[str, dict[str, dict]] = {}
        self.fields: dict[str, list[str]] = {}  # per layer, the dynamic properties a row carries
        self.versions_seen: list[int] = []
        self.state_at: dict[int, str] = {}  # version -> what this browser shows then

    def apply(self, payload: dict) -> None:
        if payload["full"]:
            self.features = {}
        for name, layer in payload["layers"].items():
            known = self.features.setdefault(name, {})
            self.fields[name] = layer.get("fields", self.fields.get(name))  # a full payload names them
            for feature in layer.get("features", []) + layer.get("full", []):
                known[str(feature["id"])] = {"properties": dict(feature["properties"]), "geometry": feature["geometry"]}
            for fid, *values, geometry in layer.get("rows", []):
                known[fid]["properties"].update(zip(self.fields[name], values))
                if geometry is not None:
                    known[fid]["geometry"] = geometry
            for fid in layer.get("del", []):
                known.pop(fid, None)
        self.epoch, self.version = payload["epoch"], payload["version"]
        self.versions_seen.append(payload["version"])
        self.state_at[self.version] = json.dumps(self.features, sort_keys=True)


def write_speeds(store: ObservationStore, rng: random.Random, segments: int, step: int) -> None:
    """New speeds for a quarter of the segments, and the first reading of NEW_PER_WRITE new ones."""
    moment = datetime.now(timezone.utc) + timedelta(milliseconds=step)
    changed = rng.sample(range(segments), segments // 4) + list(range(segments, segments + NEW_PER_WRITE))
    store.write(Batch(observations=[
        ObservationIn(f"road-{i:04d}", "TrafficFlowObserved", moment, moment, 24.94 + i * 0.00002, 60.17,
                      {"averageVehicleSpeed": round(rng.uniform(1, 60), 1)}) for i in changed]))


def redis_reachable() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(params=["one web process", "three web workers sharing Redis"])
def snapshot_services(request, runtime) -> list[SnapshotService]:
    """The snapshot services of the web workers; every call is a new tick."""
    if request.param == "one web process":
        return [SnapshotService(runtime.engine, runtime.city, tick_s=0.0)]
    if not redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"cityops-test-{uuid.uuid4().hex[:8]}:"
    return [SnapshotService(runtime.engine, runtime.city, tick_s=0.0, redis_url=REDIS_URL, redis_prefix=prefix)
            for _ in range(3)]


def test_readers_taking_payloads_during_rebuilds_get_every_change_and_versions_never_go_back(
        runtime, snapshot_services):
    rng = random.Random(7)
    store = ObservationStore(runtime.engine)
    store.write(Batch(observations=[
        ObservationIn(f"road-{i:04d}", "TrafficFlowObserved", datetime.now(timezone.utc), datetime.now(timezone.utc),
                      24.94 + i * 0.00002, 60.17, {"averageVehicleSpeed": 30.0}) for i in range(SEGMENTS)]))
    service = snapshot_services[0]
    writing_done = threading.Event()
    errors: list[BaseException] = []
    browsers = [Browser() for _ in range(READERS)]

    def read(browser: Browser, worker: SnapshotService) -> None:
        try:
            while not writing_done.is_set():
                browser.apply(worker.current().payload(browser.epoch, browser.version))
        except BaseException as error:  # reported below, with the thread's traceback
            errors.append(error)

    readers = [threading.Thread(target=read, args=(browser, snapshot_services[i % len(snapshot_services)]))
               for i, browser in enumerate(browsers)]
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads interleave far more often than usual: races show in a short run
    for thread in readers:
        thread.start()
    step = 0
    try:  # WRITES writes, then more (to MAX_WRITES) until every reader took one: a loaded machine starves threads
        while step < WRITES or (step < MAX_WRITES and any(len(browser.versions_seen) < 2 for browser in browsers)):
            write_speeds(store, rng, SEGMENTS + step * NEW_PER_WRITE, step + 1)
            step += 1
    finally:
        writing_done.set()
        for thread in readers:
            thread.join(60)
        sys.setswitchinterval(switch_interval)
    assert not errors, errors

    truth = Browser()
    truth.apply(service.current().payload(None, None))
    for browser in browsers:
        assert len(browser.versions_seen) > 1
        assert browser.versions_seen == sorted(browser.versions_seen), "a payload went back in versions"
        browser.apply(service.current().payload(browser.epoch, browser.version))
        assert browser.features == truth.features
    assert len(truth.features["traffic"]) == SEGMENTS + step * NEW_PER_WRITE
    # browsers at the same version show the same map: no payload was tagged with a version its content was not
    for version in {version for browser in browsers for version in browser.state_at}:
        shown = {browser.state_at[version] for browser in browsers if version in browser.state_at}
        assert len(shown) == 1, f"browsers at version {version} show different maps"


def test_a_web_worker_that_read_the_old_tick_does_not_publish_a_second_snapshot_of_the_same_version(runtime):
    if not redis_reachable():
        pytest.skip(f"Redis is not reachable at {REDIS_URL}")
    prefix = f"cityops-test-{uuid.uuid4().hex[:8]}:"
    first, second = (SnapshotService(runtime.engine, runtime.city, tick_s=60.0, redis_url=REDIS_URL,
                                     redis_prefix=prefix) for _ in range(2))
    first._cache.set(SHARED_KEY, LiveSnapshot(built_at=0.0))  # a tick every worker sees as due
    store = ObservationStore(runtime.engine)

    def speed(value: float) -> None:
        moment = datetime.now(timezone.utc)
        store.write(Batch(observations=[ObservationIn("road-1", "TrafficFlowObserved", moment, moment, 24.94, 60.17,
                                                      {"averageVehicleSpeed": value})]))

    speed(10.0)
    published = []
    read_shared = second._cache.get

    def read_then_the_other_worker_publishes(key):
        value = read_shared(key)
        if key == SHARED_KEY and not published:  # between this worker's read and its lock
            published.append(first.current())
            speed(50.0)
        return value

    second._cache.get = read_then_the_other_worker_publishes
    seen = second.current()

    assert published[0].version == seen.version == 1
    assert seen.payload(None, None)["layers"] == published[0].payload(None, None)["layers"]
