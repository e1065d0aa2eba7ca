"""Column types shared by every table.

Times are stored as naive UTC and handed out as timezone-aware UTC (``UTCDateTime``),
so the same code runs on SQLite and PostgreSQL.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Stores naive UTC, returns aware UTC: one behaviour on every database."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value, dialect):
        return None if value is None else value.replace(tzinfo=timezone.utc)


def utc_field(**kw) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


# A big integer key that is still SQLite's auto-incrementing rowid.
AUTO_ID = BigInteger().with_variant(Integer, "sqlite")


