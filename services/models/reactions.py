"""Tables of the durable reactions (services/reactions.py): where each reactor stands, the rule
engine's state per (rule, device), and the leader's lease.

``reaction_cursors``: the id of the last stored row (observation, citizen report, unit reply) a
reactor has reacted to. It moves in the same transaction as the reaction's own writes, so a
reaction happens once, and a crash before it commits leaves the rows to react to after a restart.

``rule_states``: what a threshold rule remembers about a device while its condition builds up,
holds or clears (the durations and the hysteresis), written with the cursor, so the state
survives a restart and a change of leader.

``reactor_leases``: who leads the reactions (one ingest process at a time). On SQLite, where there
are no advisory locks, the lease itself (``expires_at`` enforced); on PostgreSQL, which uses
``pg_try_advisory_lock``, only a record of the lock's holder.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import BigInteger, Column
from sqlmodel import Field, SQLModel

from services.models.base import utc_field


class ReactionCursor(SQLModel, table=True):
    __tablename__ = "reaction_cursors"

    name: str = Field(primary_key=True, max_length=64)
    last_id: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    updated_at: datetime = utc_field()


class RuleState(SQLModel, table=True):
    __tablename__ = "rule_states"

    rule_id: str = Field(primary_key=True, max_length=64)
    device_id: str = Field(primary_key=True, max_length=128)
    active: bool = False
    breach_since: Optional[datetime] = utc_field(default=None)
    clear_since: Optional[datetime] = utc_field(default=None)
    last_at: Optional[datetime] = utc_field(default=None)


class ReactorLease(SQLModel, table=True):
    __tablename__ = "reactor_leases"

    name: str = Field(primary_key=True, max_length=64)
    holder: str = Field(max_length=200)
    expires_at: datetime = utc_field()
