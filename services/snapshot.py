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
from services.layers import LAYERS, build_layer, layer_names

log = logging.getLogger("cityops.snapshot")

TICK_S = 1.0
TICK_TOLERANCE = 0.9  # browsers poll every TICK_S; a tick a few ms early must still count as due
KEEP_REMOVALS = 900  # versions; a browser further behind than this gets a full snapshot


@dataclass
class FeatureState:
    feature: dict
    dynamic_version: int
    geometry_version: int
    static_version: int


@dataclass
class LayerState:
    name: str
    title: str
    dynamic: tuple[str, ...]
    features: dict[str, FeatureState] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    newest_at: datetime | None = None
    stale_after_s: float = 120.0
    legend: list = field(default_factory=list)

    def merge(self, features: list[dict], version: int) -> int:
        """Takes the layer's new features; returns how many changed."""
        changed = 0
        added = 0
        known = self.features
        for feature in features:
            fid = str(feature["id"])
            old = known.get(fid)
            if old is not None and old.feature is feature:  # the layer reused it: unchanged
                continue
            if old is None:
                known[fid] = FeatureState(feature, version, version, version)
                self.removed.pop(fid, None)
                changed += 1
                added += 1
                continue
            if old.feature == feature:
                continue
            changed += 1
            new_props, old_props = feature["properties"], old.feature["properties"]
            if any(new_props.get(k) != old_props.get(k) for k in self.dynamic):
                old.dynamic_version = version
            if feature["geometry"] != old.feature["geometry"]:
                old.geometry_version = version
            static_keys = (set(new_props) | set(old_props)) - set(self.dynamic)
            if any(new_props.get(k) != old_props.get(k) for k in static_keys):
                old.static_version = version
            old.feature = feature
        if len(known) > len(features):  # some went away (only then is a set of the new ids needed)
            seen = {str(feature["id"]) for feature in features}
            for fid in [fid for fid in known if fid not in seen]:
                del known[fid]
                self.removed[fid] = version
                changed += 1
        for fid in [fid for fid, at in self.removed.items() if at < version - KEEP_REMOVALS]:
            del self.removed[fid]
        return changed

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


@dataclass
class LiveSnapshot:
    epoch: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    version: int = 0
    built_at: float = 0.0
    build_ms: float = 0.0
    layers: dict[str, LayerState] = field(default_factory=dict)

    def rebuild(self, engine: Engine, city: City, now: datetime | None = None) -> None:
        started = time.perf_counter()
        started_at = time.time()
        now = now or datetime.now(timezone.utc)
        self.version += 1
        for name in layer_names():
            try:
                data = build_layer(name, engine, city, now)
            except Exception:  # one broken layer must not blank the whole map
                log.exception("building map layer %s failed", name)
                continue
            state = self.layers.get(name)
            if state is None:
                state = self.layers[name] = LayerState(name, LAYERS[name].title, DYNAMIC_FIELDS.get(name, ("t",)))
            state.merge(data.features, self.version)
            state.newest_at, state.stale_after_s, state.legend = data.newest_at, data.stale_after_s, data.legend
        self.built_at = started_at  # the tick's time: when its data was read, not when the build ended
        self.build_ms = (time.perf_counter() - started) * 1000

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

    def __init__(self, engine: Engine, city: City, *, redis_url: str | None = None, tick_s: float = TICK_S):
        self.engine, self.city, self.tick_s = engine, city, tick_s
        self._lock = threading.Lock()
        self._local = LiveSnapshot()
        self._cache = None
        if redis_url:
            from cachelib.redis import RedisCache
            import redis

            self._cache = RedisCache(host=redis.Redis.from_url(redis_url), key_prefix="cityops:", default_timeout=60)

    def current(self) -> LiveSnapshot:
        if self._cache is not None:
            return self._current_shared()
        with self._lock:
            if time.time() - self._local.built_at >= self.tick_s * TICK_TOLERANCE:
                first = self._local.version == 0
                self._local.rebuild(self.engine, self.city)
                if first:
                    # The first build brings the bulk of the long-lived objects (the whole city's
                    # features); moving them out of the collector's sight keeps its full passes
                    # short (they took ~200 ms over 10,000 live sensors). They are acyclic and
                    # still freed by reference counting when replaced.
                    gc.freeze()
            return self._local

    def _current_shared(self) -> LiveSnapshot:
        mine = self._local  # the tick this process last read from Redis: unpickled once, not per request
        if mine.version and time.time() - mine.built_at < self.tick_s * TICK_TOLERANCE:
            return mine
        snapshot = self._cache.get("live-snapshot")
        if snapshot is not None and time.time() - snapshot.built_at < self.tick_s * TICK_TOLERANCE:
            self._local = snapshot
            return snapshot
        if self._cache.add("live-snapshot-lock", 1, timeout=5):  # this worker builds the tick
            try:
                snapshot = snapshot or LiveSnapshot()
                snapshot.rebuild(self.engine, self.city)
                self._cache.set("live-snapshot", snapshot)
                self._local = snapshot
            finally:
                self._cache.delete("live-snapshot-lock")
            return snapshot
        if self._local.version:  # another worker is building: serve the tick this process has
            return self._local  # (one tick old at most) rather than hold the request for the build
        for _ in range(50):  # nothing here yet: wait for the other worker's result (bounded)
            time.sleep(0.02)
            fresh = self._cache.get("live-snapshot")
            if fresh is not None and (snapshot is None or fresh.version > snapshot.version):
                self._local = fresh
                return fresh
        return snapshot or LiveSnapshot()
