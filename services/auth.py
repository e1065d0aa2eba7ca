"""Roles and bearer tokens (SPEC section 6)."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import select as sqlmodel_select

from services.audit import record
from services.db import session_scope
from services.models import ApiToken, utcnow

ROLES = ("admin", "dispatcher", "manager", "display")
WRITE_ROLES = {"admin", "dispatcher", "manager"}


@dataclass(frozen=True)
class Principal:
    name: str
    role: str

    def may(self, role_needed: str) -> bool:
        if role_needed == "read":
            return self.role in ROLES
        if role_needed == "write":
            return self.role in WRITE_ROLES
        return self.role == "admin" or self.role == role_needed


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(engine: Engine, token: str | None, admin_token: str | None) -> Principal | None:
    if not token:
        return None
    if admin_token and hmac.compare_digest(token, admin_token):
        return Principal(name="admin-token", role="admin")
    with engine.connect() as connection:
        row = connection.execute(
            select(ApiToken.name, ApiToken.role).where(ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None))
        ).first()
    return Principal(name=row.name, role=row.role) if row else None


def create_token(engine: Engine, name: str, role: str, actor: str = "cli") -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    with session_scope(engine) as session:
        entry = ApiToken(name=name, role=role, token_hash=_hash(token), created_at=utcnow())
        session.add(entry)
        session.flush()
        record(session, actor, "token.create", f"token:{entry.id}", None, {"name": name, "role": role})
    return token


def revoke_token(engine: Engine, name: str, actor: str = "cli") -> int:
    with session_scope(engine) as session:
        tokens = session.exec(
            sqlmodel_select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        ).all()
        for entry in tokens:
            entry.revoked_at = utcnow()
            record(session, actor, "token.revoke", f"token:{entry.id}", {"revoked": False}, {"revoked": True})
    return len(tokens)
