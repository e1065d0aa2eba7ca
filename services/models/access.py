"""Tables of access: people who sign in, display screens, failed sign-ins (for the rate limit)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.models.base import AUTO_ID, utc_field


class User(SQLModel, table=True):
    """A person who signs in. ``session_version`` changes when their sessions must end
    (password reset, role change, disabled). An external user signs in with the city's OpenID
    Connect provider (``external_issuer`` and its ``external_subject``) and has no password here."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("external_issuer", "external_subject", name="uq_users_external"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=16)
    password_hash: str = Field(max_length=256)
    session_version: int = 1
    created_at: datetime = utc_field()
    created_by: str = Field(max_length=128)
    password_changed_at: datetime = utc_field()
    last_sign_in_at: Optional[datetime] = utc_field(default=None)
    disabled_at: Optional[datetime] = utc_field(default=None)
    external_issuer: Optional[str] = Field(default=None, max_length=256)
    external_subject: Optional[str] = Field(default=None, max_length=256)
    department: Optional[str] = Field(default=None, max_length=32)  # a ``department`` role's department
    language: Optional[str] = Field(default=None, max_length=16)  # their screens' language; None: the browser's


class Display(SQLModel, table=True):
    """A wall screen or kiosk opened with a display link: read only, never expires, revocable."""

    __tablename__ = "displays"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    page: str = Field(max_length=64)
    options: Optional[dict] = Field(default=None, sa_column=Column(JSON))
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = utc_field()
    created_by: str = Field(max_length=128)
    revoked_at: Optional[datetime] = utc_field(default=None)
    revoked_by: Optional[str] = Field(default=None, max_length=128)
    last_seen_at: Optional[datetime] = utc_field(default=None)


class SignInFailure(SQLModel, table=True):
    """One failed sign-in, counted per account and per address for the rate limit (the audit log
    has it too; this table is what the limit reads, indexed and pruned)."""

    __tablename__ = "sign_in_failures"

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    at: datetime = utc_field(index=True)
    account: str = Field(max_length=64, index=True)
    address: str = Field(max_length=64, index=True)
