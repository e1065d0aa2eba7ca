"""Bearer tokens for machines (SPEC section 6): created and revoked by an admin, kept hashed."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import select as sqlmodel_select

from services.access.principal import ROLES, Principal
from services.audit import record
from services.commands import Command, Refused
from services.db import session_scope
from services.i18n import _
from services.models import ApiToken, utcnow

__all__ = ["Principal", "ROLES", "authenticate", "CreateToken", "RevokeToken", "create_token", "revoke_token"]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authenticate(engine: Engine, token: str | None, admin_token: str | None) -> Principal | None:
    if not token:
        return None
    if admin_token and hmac.compare_digest(token, admin_token):
        return Principal(name="admin-token", role="admin")
    with engine.connect() as connection:
        row = connection.execute(
            select(ApiToken.name, ApiToken.role, ApiToken.department)
            .where(ApiToken.token_hash == _hash(token), ApiToken.revoked_at.is_(None))
        ).first()
    return Principal(name=row.name, role=row.role, department=row.department) if row else None


@dataclass
class CreateToken(Command):
    engine: Engine
    principal: Principal
    name: str
    role: str
    department: str | None = None
    permission = "tokens.manage"

    def check(self) -> None:
        from services.access.users import check_department

        self.department = check_department(self.role, self.department)
        if self.role not in ROLES:
            raise Refused.invalid(_("role must be one of {choices}", choices=', '.join(ROLES)), "role")
        if not isinstance(self.name, str) or not 1 <= len(self.name) <= 128:
            raise Refused.invalid(_("a token needs a name of 1-128 characters"), "name")

    def run(self) -> str:
        token = secrets.token_urlsafe(32)
        with session_scope(self.engine) as session:
            entry = ApiToken(name=self.name, role=self.role, token_hash=_hash(token), created_at=utcnow(),
                             department=self.department)
            session.add(entry)
            session.flush()
            record(session, self.principal.name, "token.create", f"token:{entry.id}", None,
                   {"name": self.name, "role": self.role, "department": self.department})
        return token


@dataclass
class RevokeToken(Command):
    engine: Engine
    principal: Principal
    name: str
    permission = "tokens.manage"

    def run(self) -> int:
        with session_scope(self.engine) as session:
            tokens = session.exec(
                sqlmodel_select(ApiToken).where(ApiToken.name == self.name, ApiToken.revoked_at.is_(None))
            ).all()
            for entry in tokens:
                entry.revoked_at = utcnow()
                record(session, self.principal.name, "token.revoke", f"token:{entry.id}", {"revoked": False},
                       {"revoked": True})
        return len(tokens)


def create_token(engine: Engine, name: str, role: str, actor: str = "cli", department: str | None = None) -> str:
    """The command line's way (a system principal)."""
    return CreateToken(engine, Principal.system(actor), name, role, department)()


def revoke_token(engine: Engine, name: str, actor: str = "cli") -> int:
    return RevokeToken(engine, Principal.system(actor), name)()
