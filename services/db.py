"""Engine, session scope, SQLite pragmas and schema migrations (Alembic)."""
from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from services import fastjson
from services.config import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# Key of the PostgreSQL advisory lock that serializes schema migrations ("CITYOPS" in ASCII).
MIGRATION_LOCK_KEY = 0x43_49_54_59_4F_50_53

log = logging.getLogger("cityops.db")


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10},
                               json_serializer=fastjson.dumps, json_deserializer=fastjson.loads)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                         json_serializer=fastjson.dumps, json_deserializer=fastjson.loads)


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent).

    Safe when several processes start together: one migrates, the others wait for it (with a
    log line saying so) and then find the schema at head.
    """
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            _wait_for_advisory_lock(connection)  # held until this transaction commits
        config.attributes["connection"] = connection
        command.upgrade(config, "heads")  # feature branches of the schema may have their own heads


def _wait_for_advisory_lock(connection) -> None:
    """PostgreSQL runs the whole upgrade in this one transaction (transactional DDL); the lock
    ends with it, so a process that waited finds the schema at head and has nothing to do."""
    if connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}).scalar():
        return
    log.info("another process is migrating the database schema; waiting for it to finish")
    connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    log.info("the other process finished migrating; checking the schema")


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """On SQLite, an exclusive lock on a file beside the database for the whole upgrade.

    SQLite's own write lock cannot serve: its driver runs DDL outside transactions, so two
    processes would both find the schema empty and both create it. The database is on this
    machine's disk (SQLite is embedded), so a POSIX file lock reaches every process using it.
    PostgreSQL needs nothing here (see _wait_for_advisory_lock).
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("another process is migrating the database schema at %s; waiting for it to finish", database)
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: committed on success, rolled back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except Exception:
            session.rollback()
            raise


def json_value(raw, default=None):
    """A JSON column's value read without SQLAlchemy's type processing (raw SQL, ``type_coerce``).

    SQLite hands out the stored text; psycopg has already decoded ``json`` / ``jsonb`` into
    Python values. Every such read goes through here so the same code works on both.
    """
    if raw is None:
        return default
    if isinstance(raw, (str, bytes, bytearray, memoryview)):
        return fastjson.loads(raw)
    return raw


def database_ok(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:  # the health check reports it, it must not raise
        return False
