"""Several web processes share the live map snapshot through Redis (CITYOPS_REDIS_URL)."""
from __future__ import annotations

import pytest

from services.config import Settings
from services.layers import load_plugins
from services.runtime import open_runtime
from services.snapshot import SnapshotService

REDIS_URL = "redis://127.0.0.1:6379/13"  # a database of the tests' own, flushed by each test


@pytest.fixture
def redis_url():
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    yield REDIS_URL
    client.flushdb()


def test_second_web_process_reads_the_shared_snapshot_from_redis_once_per_tick(database_url, tiny_city, redis_url):
    runtime = open_runtime(Settings.from_env({}, database_url=database_url, city=str(tiny_city)))
    load_plugins()
    builder = SnapshotService(runtime.engine, runtime.city, redis_url=redis_url, tick_s=60.0)
    reader = SnapshotService(runtime.engine, runtime.city, redis_url=redis_url, tick_s=60.0)
    built = builder.current()
    reads = []
    fetch = reader._cache.get
    reader._cache.get = lambda key: reads.append(key) or fetch(key)

    served = [reader.current() for _ in range(100)]

    assert {(snapshot.epoch, snapshot.version) for snapshot in served} == {(built.epoch, built.version)}
    assert reads == ["live-snapshot"]  # unpickled once for the tick, not once per request
    assert set(built.layers) and set(served[0].layers) == set(built.layers)
