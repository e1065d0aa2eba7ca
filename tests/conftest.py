"""Shared fixtures: a tiny city, databases (SQLite always, PostgreSQL where it runs), a broker."""
from __future__ import annotations

import json
import os
import uuid
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from tests.brokers import start_test_broker

POSTGRES_URL = os.environ.get("CITYOPS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

# A small area of central Helsinki; real coordinates, made-up devices.
TINY_BBOX = [24.935, 60.164, 24.954, 60.179]


@pytest.fixture
def tiny_city(tmp_path: Path) -> Path:
    folder = tmp_path / "tinycity"
    (folder / "basemap").mkdir(parents=True)
    (folder / "city.json").write_text(json.dumps({
        "name": "Tiny", "slug": "tiny", "timezone": "Europe/Helsinki", "bbox": TINY_BBOX,
        "center": [24.944, 60.171], "area_margin_m": 5000, "attribution": "© OpenStreetMap contributors",
        "source": "test", "built_at": "2026-01-01T00:00:00Z",
    }))
    west = [[24.935, 60.164], [24.944, 60.164], [24.944, 60.179], [24.935, 60.179], [24.935, 60.164]]
    east = [[24.944, 60.164], [24.954, 60.164], [24.954, 60.179], [24.944, 60.179], [24.944, 60.164]]
    (folder / "basemap" / "districts.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "West", "id": "w"}, "geometry": {"type": "Polygon", "coordinates": [west]}},
        {"type": "Feature", "properties": {"name": "East", "id": "e"}, "geometry": {"type": "Polygon", "coordinates": [east]}},
    ]}))
    (folder / "road_graph.json").write_text(json.dumps({
        "nodes": [[1, 24.94, 60.17], [2, 24.95, 60.17]],
        "edges": [[1, 1, 2, 555.0, 40, "primary", "Testikatu", [[24.94, 60.17], [24.95, 60.17]]],
                  [2, 2, 1, 555.0, 40, "primary", "Testikatu", [[24.95, 60.17], [24.94, 60.17]]]],
    }))
    (folder / "sites.json").write_text(json.dumps({"devices": [
        {"device_id": "flood-1", "type": "FloodMonitoring", "lon": 24.951, "lat": 60.166, "district": "East",
         "interval_s": 30, "name": "Harbour gauge", "alert_level": 1.2, "danger_level": 2.0, "reference_level": 4.2},
        {"device_id": "air-1", "type": "AirQualityObserved", "lon": 24.940, "lat": 60.170, "district": "West",
         "interval_s": 60, "name": "Kamppi air"},
    ], "bases": [], "units": [
        {"unit_id": "amb-1", "kind": "ambulance", "base_id": "b1", "lon": 24.945, "lat": 60.168,
         "vehicle_type": "ambulance", "emergency_vehicle_type": "ambulance", "capabilities": ["health"]},
    ]}))
    return folder


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def require_postgres() -> None:
    """Skips the test where PostgreSQL does not run (fails it in CI, which must test it)."""
    if not _postgres_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is not reachable at {POSTGRES_URL} (CI must test it)")
        pytest.skip("PostgreSQL is not reachable")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh, empty PostgreSQL schema of its own; yields the URL that uses it, drops it after."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        # application_name: the connections of this schema's test can be found (and ended) at teardown
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}&application_name={schema}"
    finally:
        _drop_schema(admin, schema)
        admin.dispose()


def _drop_schema(admin, schema: str) -> None:
    """Drops the schema; if a connection of the finished test still holds a lock in it (a thread the test
    left running in a transaction), says which, ends those connections and drops it then."""
    with admin.connect() as connection:
        connection.execute(text("SET lock_timeout = '20s'"))
        try:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            return
        except OperationalError:
            holders = connection.execute(text(
                "SELECT pid, state, left(query, 300) FROM pg_stat_activity WHERE application_name = :schema"),
                {"schema": schema}).all()
            warnings.warn(f"schema {schema}: connections left in it after the test, ended: {holders}")
            connection.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                    "WHERE application_name = :schema"), {"schema": schema})
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path: Path):
    """A fresh, empty database: a SQLite file, and a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cityops.db'}"
        return
    require_postgres()
    with postgres_schema() as url:
        yield url


@pytest.fixture
def migrated_engine(database_url):
    """An engine on a fresh database with CityOps's schema (SQLite, and PostgreSQL where it runs)."""
    from services.db import make_engine, migrate

    engine = make_engine(database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def broker():
    """A broker of the tests' own (Mosquitto with CityOps's config, else amqtt)."""
    instance = start_test_broker()
    yield instance
    instance.close()


@pytest.fixture
def private_broker():
    """A broker a test may stop and restart."""
    instance = start_test_broker()
    yield instance
    instance.close()
