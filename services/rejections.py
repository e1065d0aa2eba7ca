"""The kept log of messages the ingest could not use, for the administrator."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from services.models import RejectedMessage

PREVIEW_BYTES = 500


@dataclass(frozen=True)
class RejectionView:
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str
    payload_size: int
    preview: str

    def as_json(self) -> dict:
        return {"id": self.id, "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
                "topic": self.topic, "reason": self.reason, "detail": self.detail,
                "payload_size": self.payload_size, "payload_preview": self.preview}


def list_rejections(engine: Engine, *, reason: str | None = None, limit: int = 100) -> list[RejectionView]:
    query = select(RejectedMessage).order_by(RejectedMessage.id.desc()).limit(limit)
    if reason:
        query = query.where(RejectedMessage.reason == reason)
    with engine.connect() as connection:
        rows = connection.execute(query).all()
    return [
        RejectionView(row.id, row.received_at, row.topic, row.reason, row.detail, row.payload_size,
                      bytes(row.payload[:PREVIEW_BYTES]).decode("utf-8", errors="replace"))
        for row in rows
    ]


def rejection_counts(engine: Engine) -> dict[str, int]:
    """Kept rejections per reason (within the retention period)."""
    with engine.connect() as connection:
        rows = connection.execute(select(RejectedMessage.reason, func.count()).group_by(RejectedMessage.reason))
        return {reason: count for reason, count in rows}
