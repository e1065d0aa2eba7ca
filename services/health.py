"""What /health reports about the ingest processes, from their heartbeats in the database."""
from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from services.models import IngestStatus, utcnow

HEARTBEAT_FRESH_S = 10.0


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
        "last_message_at": None if last is None else last.isoformat().replace("+00:00", "Z"),
    }
