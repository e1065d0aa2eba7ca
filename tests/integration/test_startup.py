"""Processes start in any order, together: the web and ingest roles as real `manage.py` processes."""
from __future__ import annotations

import fcntl
import logging
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, func, make_url, select, text

from services.config import PROJECT_ROOT
from services.db import MIGRATION_LOCK_KEY, alembic_config, make_engine, migrate
from services.devices import register_city_devices
from services.city import load_city
from services.models import Device, ResponseUnit
from services.units import seed_units
from tests.brokers import free_port, wait_until

START_TIMEOUT_S = 60.0  # two Python processes importing Dash on a loaded 2-core machine


def _role(role: str, env: dict, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "manage.py", role], cwd=PROJECT_ROOT, env=env,
                            stdout=log_path.open("wb"), stderr=subprocess.STDOUT)


def _health(port: int) -> dict:
    try:
        response = requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
    except requests.RequestException:
        return {}
    return response.json() if response.status_code == 200 else {}


def _head_revisions(database_url: str) -> set[str]:
    return set(ScriptDirectory.from_config(alembic_config(database_url)).get_heads())


@pytest.mark.parametrize("attempt", range(3))
def test_web_and_ingest_started_together_on_an_empty_database_both_come_up(
        database_url, tiny_city, tmp_path, broker, attempt):
    port = free_port()
    env = {**os.environ, "CITYOPS_DATABASE_URL": database_url, "CITYOPS_CITY": str(tiny_city),
           "CITYOPS_PORT": str(port), "CITYOPS_MQTT_URL": broker.url, "CITYOPS_DEMO": "0",
           "CITYOPS_DATA_DIR": str(tmp_path / "data"), "CITYOPS_SECRET_KEY": "test-secret",
           "CITYOPS_INGEST_CLIENT_ID": f"startup-{tmp_path.name}", "CITYOPS_TOPIC_ROOT": f"t{tmp_path.name}/city"}
    logs = {role: tmp_path / f"{role}.log" for role in ("web", "ingest")}
    processes = {role: _role(role, env, logs[role]) for role in ("web", "ingest")}  # the same moment
    latest: dict = {}

    def both_up() -> bool:
        for role, process in processes.items():
            if process.poll() is not None:
                raise AssertionError(f"{role} exited with {process.returncode}:\n{logs[role].read_text()[-3000:]}")
        latest.update(_health(port))
        return bool(latest.get("db") and latest.get("broker"))

    try:
        wait_until(both_up, START_TIMEOUT_S, interval=0.2, message="the web serving /health and the ingest connected")
    finally:
        for process in processes.values():
            process.terminate()
        for process in processes.values():
            process.wait(20)

    engine = create_engine(database_url)
    with engine.connect() as connection:
        versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
        assert connection.execute(select(func.count()).select_from(Device)).scalar() == 3  # 2 sensors + 1 unit
        assert connection.execute(select(func.count()).select_from(ResponseUnit)).scalar() == 1
    engine.dispose()
    assert sorted(versions) == sorted(_head_revisions(database_url))  # at head, once


def test_concurrent_migrations_and_seeding_in_one_process_leave_one_schema_at_head(database_url, tiny_city):
    city = load_city(tiny_city)
    engines = [make_engine(database_url) for _ in range(3)]
    errors: list[BaseException] = []
    start = threading.Barrier(len(engines))

    def open_database(engine) -> None:
        try:
            start.wait(10)
            migrate(engine)
            register_city_devices(engine, city)
            seed_units(engine, city)
        except BaseException as error:  # reported below, with the others
            errors.append(error)

    threads = [threading.Thread(target=open_database, args=(engine,)) for engine in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    with engines[0].connect() as connection:
        versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
        assert connection.execute(select(func.count()).select_from(Device)).scalar() == 3
    assert sorted(versions) == sorted(_head_revisions(database_url))
    for engine in engines:
        engine.dispose()


@contextmanager
def _schema_lock_held_by_another_process(database_url: str):
    """Holds the lock ``migrate`` takes, as a process in the middle of a migration would."""
    if database_url.startswith("sqlite"):
        with open(f"{make_url(database_url).database}.migrate-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield
        return
    engine = create_engine(database_url)
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    engine.dispose()


def test_process_finding_a_migration_under_way_waits_for_it_with_a_log_line(database_url, caplog):
    engine = make_engine(database_url)
    finished = threading.Event()
    errors: list[BaseException] = []

    def migrate_and_note() -> None:
        try:
            migrate(engine)
        except BaseException as error:  # reported below
            errors.append(error)
        finished.set()

    caplog.set_level(logging.INFO, logger="cityops.db")
    with _schema_lock_held_by_another_process(database_url):
        waiting = threading.Thread(target=migrate_and_note)
        waiting.start()
        wait_until(lambda: "another process is migrating the database schema" in caplog.text, 20,
                   message="the waiting log line")
        assert not finished.is_set()  # it waits; it does not fail or go ahead
    waiting.join(60)
    assert finished.is_set() and not errors, errors
    with engine.connect() as connection:
        versions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    assert sorted(versions) == sorted(_head_revisions(database_url))
    engine.dispose()
