"""The append-only audit log: who, what, when, before/after (SPEC section 6)."""
from __future__ import annotations

from sqlmodel import Session

from services.models import AuditEntry, utcnow


def record(session: Session, actor: str, action: str, target: str, before: dict | None, after: dict | None) -> None:
    """Adds an entry in the caller's transaction, so the change and its record commit together."""
    session.add(AuditEntry(at=utcnow(), actor=actor, action=action, target=target, before=before, after=after))
