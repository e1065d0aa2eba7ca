"""The kept log of messages the ingest could not use (wholly or in part), for the administrator."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from services.i18n import _, recorded
from services.models import RejectedMessage, RejectionReason
from services.telemetry import REASON_NAMES
from services.vocabulary import label_of

PREVIEW_BYTES = 500


@dataclass(frozen=True)
class RejectionView:
    id: int
    received_at: datetime
    topic: str
    reason: str
    detail: str  # in English
    payload_size: int
    preview: str
    count: int = 1  # rejections in the message, kept or not
    further: tuple[tuple[str, str], ...] = ()  # (reason, detail in English) kept after the first
    said: dict | None = None  # the detail as said (services/i18n.py say), for the reader's language

    @property
    def shown_detail(self) -> str:
        """The detail in the current language (as said), else as it was kept."""
        return recorded(self.detail, {"say": self.said} if self.said else None)

    @property
    def summary(self) -> str:
        """The detail in the current language, followed by how many more rejections the message had and their
        reasons (by their names on screen)."""
        if self.count <= 1:
            return self.shown_detail
        reasons = Counter(reason for reason, _detail in self.further)
        if not reasons:
            return _("{detail} (+{more:,} more in this message)", detail=self.shown_detail, more=self.count - 1)
        listed = ", ".join(f"{label_of(REASON_NAMES, reason)} ×{n}" for reason, n in reasons.most_common())
        return _("{detail} (+{more:,} more in this message: {reasons})", detail=self.shown_detail,
                 more=self.count - 1, reasons=listed)

    def as_json(self) -> dict:
        return {"id": self.id, "received_at": self.received_at.isoformat().replace("+00:00", "Z"),
                "topic": self.topic, "reason": self.reason, "detail": self.detail,
                "rejection_count": self.count,
                "reasons": [{"reason": self.reason, "detail": self.detail}]
                           + [{"reason": reason, "detail": detail} for reason, detail in self.further],
                "payload_size": self.payload_size, "payload_preview": self.preview}


def list_rejections(engine: Engine, *, reason: str | None = None, limit: int = 100) -> list[RejectionView]:
    """Newest first; ``reason`` finds a message by any of its kept reasons."""
    query = select(RejectedMessage).order_by(RejectedMessage.id.desc()).limit(limit)
    if reason:
        query = query.where(or_(RejectedMessage.reason == reason, RejectedMessage.id.in_(
            select(RejectionReason.message_id).where(RejectionReason.reason == reason))))
    with engine.connect() as connection:
        rows = connection.execute(query).all()
        further: dict[int, list[tuple[str, str]]] = {}
        several = [row.id for row in rows if row.rejection_count > 1]
        if several:
            for message_id, kept_reason, detail in connection.execute(
                    select(RejectionReason.message_id, RejectionReason.reason, RejectionReason.detail)
                    .where(RejectionReason.message_id.in_(several)).order_by(RejectionReason.id)):
                further.setdefault(message_id, []).append((kept_reason, detail))
    return [
        RejectionView(row.id, row.received_at, row.topic, row.reason, row.detail, row.payload_size,
                      bytes(row.payload[:PREVIEW_BYTES]).decode("utf-8", errors="replace"),
                      row.rejection_count, tuple(further.get(row.id, ())), row.said)
        for row in rows
    ]


def rejection_counts(engine: Engine) -> dict[str, int]:
    """Kept rejections per reason (within the retention period): each message's first reason
    and its further kept ones."""
    counts: Counter = Counter()
    with engine.connect() as connection:
        for table in (RejectedMessage, RejectionReason):
            counts.update(dict(connection.execute(select(table.reason, func.count()).group_by(table.reason)).all()))
    return dict(counts)
