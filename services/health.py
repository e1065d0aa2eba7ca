"""What /health reports about the ingest processes, from their heartbeats in the database."""
from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from services.models import IngestStatus, utcnow
from services.vocabulary import duration

log = logging.getLogger("cityops.health")

HEARTBEAT_FRESH_S = 10.0
# Messages waiting this long with nothing stored mean the ingest is stalled (the database away or
# refusing every write): its heartbeat's stalled_seconds grows while it retries.
STALLED_AFTER_S = 30.0


def ingest_health(engine: Engine, now: datetime | None = None) -> dict:
    """Counters summed over the ingest processes that beat within the last 10 s."""
    now = now or utcnow()
    with engine.connect() as connection:
        rows = connection.execute(select(IngestStatus)).all()
    alive = [row for row in rows if (now - row.updated_at).total_seconds() <= HEARTBEAT_FRESH_S]
    by_reason: Counter = Counter()
    for row in alive:
        by_reason.update(row.rejected_by_reason or {})
    last = max((row.last_message_at for row in alive if row.last_message_at), default=None)
    return {
        "broker": any(row.broker_connected for row in alive),
        "running": len(alive),
        "received": sum(row.received for row in alive),
        "stored": sum(row.stored for row in alive),
        "duplicates": sum(row.duplicates for row in alive),
        "rejected": sum(row.rejected for row in alive),
        "rejected_by_reason": dict(by_reason),
        "lag_seconds": max((row.lag_seconds for row in alive), default=None),
        "stalled_seconds": max((row.stalled_seconds for row in alive), default=None),
        "last_message_at": None if last is None else last.isoformat().replace("+00:00", "Z"),
    }


def health_report(engine: Engine, now: datetime | None = None) -> dict:
    """The /health document. ``status`` is "ok" only with the database reachable, a broker
    connected and no ingest stalled; ``problems`` says why not. Never raises."""
    try:
        ingest = ingest_health(engine, now)
    except SQLAlchemyError as error:
        log.warning("health: the database is unreachable: %s", str(error).splitlines()[0])
        return {"status": "degraded", "broker": None, "db": False, "ingest": None,
                "problems": ["the database is unreachable"]}
    problems = []
    broker = ingest.pop("broker")
    if not ingest["running"]:
        problems.append(f"no ingest process has reported in the last {duration(HEARTBEAT_FRESH_S)}")
    elif not broker:
        problems.append("the ingest is not connected to the broker")
    stalled = ingest["stalled_seconds"]
    if stalled is not None and stalled > STALLED_AFTER_S:
        problems.append(f"messages have waited {duration(stalled)} with nothing stored (the ingest is stalled)")
    return {"status": "degraded" if problems else "ok", "broker": broker, "db": True, "ingest": ingest,
            "problems": problems}
