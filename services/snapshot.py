"""The live map snapshot: built once per tick for all viewers, sent to each as a delta.

Every tick (1 s) the registered layers are rebuilt and compared with the previous snapshot;
each feature carries the snapshot version at which its dynamic properties, its geometry, or
its static properties last changed. A browser sends the (epoch, version) it has; it gets back
only what changed since, in a compact form: for a feature whose static part is unchanged, a
row ``[id, <dynamic values in the layer's field order>, geometry or null]``. A browser that is
new, too far behind, or talking to a restarted server (other epoch) gets the full snapshot.

The snapshot lives in the process (default) or, with CITYOPS_REDIS_URL, in Redis so that
several web workers share one build per tick (flask-caching's RedisCache, a lock by ``add``).
"""
from __future__ import annotations

import gc
import logging
import math
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy.engine import Engine

from services.city import City
from services.layers import LAYERS, LayerData, build_layer, layer_names

log = logging.getLogger("cityops.snapshot")

TICK_S = 1.0
TICK_TOLERANCE = 0.9  # browsers poll every TICK_S; a tick a few ms early must still count as due
KEEP_REMOVALS = 900  # versions; a browser further behind than this gets a full snapshot
SHARED_KEY, SHARED_LOCK = "live-snapshot", "live-snapshot-lock"
# The build lock outlives any sane build (~0.1 s): a second builder starting while the first one
# still runs would publish another snapshot with the same version number.
SHARED_LOCK_S = 30


@dataclass(frozen=True, slots=True)
class FeatureState:
    feature: dict
    dynamic_version: int
    geometry_version: int
    static_version: int


@dataclass(frozen=True)
class LayerState:
    """One layer of a published snapshot: never changed once built (readers serialize it unlocked)."""

    name: str
    title: str
    dynamic: tuple[str, ...]
    features: dict[str, FeatureState] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    newest_at: datetime | None = None
    stale_after_s: float = 120.0
    legend: list = field(default_factory=list)

    def merged(self, data: LayerData, version: int) -> LayerState:
        """The next state of the layer: its new features stamped with ``version`` where they changed.

        Copy on write: the dicts are copied (a few hundred microseconds for 10,000 features) and a
        changed feature gets a new FeatureState, so the snapshot that readers hold stays as it was.
        """
        known, removed = dict(self.features), dict(self.removed)
        for feature in data.features:
            fid = str(feature["id"])
            old = known.get(fid)
            if old is not None and old.feature is feature:  # the layer reused it: unchanged
                continue
            if old is None:
                known[fid] = FeatureState(feature, version, version, version)
                removed.pop(fid, None)
                continue
            if old.feature == feature:
                continue
            new_props, old_props = feature["properties"], old.feature["properties"]
            dynamic = any(new_props.get(k) != old_props.get(k) for k in self.dynamic)
            static_keys = (set(new_props) | set(old_props)) - set(self.dynamic)
            known[fid] = FeatureState(
                feature, version if dynamic else old.dynamic_version,
                version if feature["geometry"] != old.feature["geometry"] else old.geometry_version,
                version if any(new_props.get(k) != old_props.get(k) for k in static_keys) else old.static_version)
        if len(known) > len(data.features):  # some went away (only then is a set of the new ids needed)
            seen = {str(feature["id"]) for feature in data.features}
            for fid in [fid for fid in known if fid not in seen]:
                del known[fid]
                removed[fid] = version
        for fid in [fid for fid, at in removed.items() if at < version - KEEP_REMOVALS]:
            del removed[fid]
        return LayerState(self.name, self.title, self.dynamic, known, removed, data.newest_at, data.stale_after_s,
                          data.legend)

    def meta(self) -> dict:
        never_stale = self.stale_after_s is None or math.isinf(self.stale_after_s)
        return {"title": self.title, "newest": None if self.newest_at is None else int(self.newest_at.timestamp()),
                "stale_after": None if never_stale else self.stale_after_s, "legend": self.legend}

    def full(self) -> dict:
        return {**self.meta(), "fields": list(self.dynamic),
                "features": [state.feature for state in self.features.values()]}

    def delta(self, since: int) -> dict | None:
        rows, full, removed = [], [], [fid for fid, at in self.removed.items() if at > since]
        for fid, state in self.features.items():
            if state.static_version > since:
                full.append(state.feature)
            elif state.dynamic_version > since or state.geometry_version > since:
                props = state.feature["properties"]
                geometry = state.feature["geometry"] if state.geometry_version > since else None
                rows.append([fid, *(props.get(k) for k in self.dynamic), geometry])
        result = self.meta()
        if rows:
            result["rows"] = rows
        if full:
            result["full"] = full
        if removed:
            result["del"] = removed
        return result


# Per layer, the properties that change with the data (sent in deltas); the rest is static.
DYNAMIC_FIELDS: dict[str, tuple[str, ...]] = {
    "traffic": ("value", "share", "level", "t"),
    "air": ("aqi_us", "dom_us", "aqi_cn", "dom_cn", "pm25", "t"),  # levels follow from the index (map.js)
    "flood": ("value", "level", "t"),
    "incidents": ("status", "priority", "escalated", "t"),
    "units": ("status", "bearing", "speed", "incident_id", "status_since", "t"),
}


@dataclass(frozen=True)
class LiveSnapshot:
    """One published tick of the live map. Immutable: the next tick is built aside (``next_tick``)
    and swapped in, so a reader serializing this one on another thread sees one consistent version."""

    epoch: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    version: int = 0
    built_at: float = 0.0
    build_ms: float = 0.0
    layers: dict[str, LayerState] = field(default_factory=dict)

    def next_tick(self, engine: Engine, city: City, now: datetime | None = None) -> LiveSnapshot:
        started = time.perf_counter()
        started_at = time.time()
        now = now or datetime.now(timezone.utc)
        version = self.version + 1
        layers = dict(self.layers)
        for name in layer_names():
            try:
                data = build_layer(name, engine, city, now)
            except Exception:  # one broken layer must not blank the whole map
                log.exception("building map layer %s failed", name)
                continue
            state = layers.get(name) or LayerState(name, LAYERS[name].title, DYNAMIC_FIELDS.get(name, ("t",)))
            layers[name] = state.merged(data, version)
        # built_at is the tick's time: when its data was read, not when the build ended
        return LiveSnapshot(self.epoch, version, started_at, (time.perf_counter() - started) * 1000, layers)

    def payload(self, client_epoch: str | None, client_version: int | None) -> dict:
        """What a browser at (client_epoch, client_version) needs to be current."""
        base = {"epoch": self.epoch, "version": self.version, "built_at": self.built_at}
        behind = client_version is not None and self.version - client_version > KEEP_REMOVALS
        if client_epoch != self.epoch or client_version is None or behind or client_version > self.version:
            return {**base, "full": True, "layers": {name: state.full() for name, state in self.layers.items()}}
        if client_version == self.version:
            return {**base, "full": False, "layers": {name: state.meta() for name, state in self.layers.items()}}
        return {**base, "full": False,
                "layers": {name: state.delta(client_version) for name, state in self.layers.items()}}


class SnapshotService:
    """Hands out the current snapshot, rebuilding it at most once per tick for all viewers."""

    def __init__(self, engine: Engine, city: City, *, redis_url: str | None = None, tick_s: float = TICK_S,
                 redis_prefix: str = "cityops:"):
        self.engine, self.city, self.tick_s = engine, city, tick_s
        self._lock = threading.Lock()
        self._local = LiveSnapshot()
        self._cache = None
        if redis_url:
            from cachelib.redis import RedisCache
            import redis

            self._cache = RedisCache(host=redis.Redis.from_url(redis_url), key_prefix=redis_prefix,
                                     default_timeout=60)

    def current(self) -> LiveSnapshot:
        if self._cache is not None:
            return self._current_shared()
        with self._lock:
            if time.time() - self._local.built_at >= self.tick_s * TICK_TOLERANCE:
                first = self._local.version == 0
                self._local = self._local.next_tick(self.engine, self.city)
                if first:
                    # The first build brings the bulk of the long-lived objects (the whole city's
                    # features); moving them out of the collector's sight keeps its full passes
                    # short (they took ~200 ms over 10,000 live sensors). They are acyclic and
                    # still freed by reference counting when replaced.
                    gc.freeze()
            return self._local

    def _fresh(self, snapshot: LiveSnapshot | None) -> bool:
        return snapshot is not None and time.time() - snapshot.built_at < self.tick_s * TICK_TOLERANCE

    def _current_shared(self) -> LiveSnapshot:
        mine = self._local  # the tick this process last read from Redis: unpickled once, not per request
        if mine.version and self._fresh(mine):
            return mine
        snapshot = self._cache.get(SHARED_KEY)
        if self._fresh(snapshot):
            self._local = snapshot
            return snapshot
        if self._cache.add(SHARED_LOCK, 1, timeout=SHARED_LOCK_S):  # this worker builds the tick
            try:
                # Read again under the lock: a worker that read before another one published would
                # otherwise build on the older snapshot and publish a second, different, same-numbered version.
                latest = self._cache.get(SHARED_KEY)
                if self._fresh(latest):
                    self._local = latest
                    return latest
                snapshot = (latest or snapshot or LiveSnapshot()).next_tick(self.engine, self.city)
                self._cache.set(SHARED_KEY, snapshot)
                self._local = snapshot
            finally:
                self._cache.delete(SHARED_LOCK)
            return snapshot
        if self._local.version:  # another worker is building: serve the tick this process has
            return self._local  # (one tick old at most) rather than hold the request for the build
        for _ in range(50):  # nothing here yet: wait for the other worker's result (bounded)
            time.sleep(0.02)
            fresh = self._cache.get(SHARED_KEY)
            if fresh is not None and (snapshot is None or fresh.version > snapshot.version):
                self._local = fresh
                return fresh
        return snapshot or LiveSnapshot()
