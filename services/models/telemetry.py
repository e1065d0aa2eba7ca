"""Tables of the telemetry pipeline: devices, observations, rejections, reports, ingest status,
plus API tokens and the audit log."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, BigInteger, Column, Float, ForeignKey, Index, Integer, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from services.models.base import AUTO_ID, utc_field


class Device(SQLModel, table=True):
    __tablename__ = "devices"

    id: str = Field(primary_key=True, max_length=128)
    type: str = Field(max_length=64, index=True)
    name: Optional[str] = None
    district: Optional[str] = Field(default=None, index=True)
    registered: bool = False
    interval_s: Optional[int] = None
    lon: Optional[float] = None
    lat: Optional[float] = None
    geometry: Optional[dict] = Field(default=None, sa_column=Column(JSON))
    registered_lon: Optional[float] = None
    registered_lat: Optional[float] = None
    meta: Optional[dict] = Field(default=None, sa_column=Column(JSON))
    out_of_area: bool = False
    first_seen_at: Optional[datetime] = utc_field(default=None)
    last_observed_at: Optional[datetime] = utc_field(default=None)
    last_received_at: Optional[datetime] = utc_field(default=None)


class DeviceLatest(SQLModel, table=True):
    """The newest observation of each type for each device (the live state)."""

    __tablename__ = "device_latest"

    device_id: str = Field(primary_key=True, max_length=128)
    entity_type: str = Field(primary_key=True, max_length=64)
    observed_at: datetime = utc_field()
    # when this row was stored (not when the message arrived): the live map reads the rows
    # stored since its last tick by it (services/live_layers.py)
    received_at: datetime = utc_field()
    lon: Optional[float] = None
    lat: Optional[float] = None
    values: dict = Field(default_factory=dict, sa_column=Column(JSON))
    flags: Optional[str] = None


class Observation(SQLModel, table=True):
    __tablename__ = "observations"
    __table_args__ = (
        UniqueConstraint("device_id", "observed_at", "entity_type", name="uq_observation_identity"),
        Index("ix_observations_observed_at", "observed_at"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    device_id: str = Field(max_length=128)
    entity_type: str = Field(max_length=64)
    observed_at: datetime = utc_field()
    received_at: datetime = utc_field()
    lon: Optional[float] = None
    lat: Optional[float] = None
    values: dict = Field(default_factory=dict, sa_column=Column(JSON))
    # comma-separated: time_from_receive, location_from_registry, out_of_area
    flags: Optional[str] = None


class RejectedMessage(SQLModel, table=True):
    """A message with something CityOps could not use, kept once with its (bounded) payload.

    ``reason``/``detail`` are its first rejection; the further kept ones are its
    ``RejectionReason`` rows; ``rejection_count`` counts them all, kept or not (an array of many
    unusable entities is one row, not one row and one payload copy per entity)."""

    __tablename__ = "rejected_messages"

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    received_at: datetime = utc_field(index=True)
    topic: str = Field(max_length=512)
    payload: bytes = Field(sa_column=Column(LargeBinary))
    payload_size: int
    reason: str = Field(max_length=32, index=True)
    detail: str  # in English
    said: Optional[dict] = Field(default=None, sa_column=Column(JSON))  # the detail as said (services/i18n.py say)
    rejection_count: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))


class RejectionReason(SQLModel, table=True):
    """A further rejection (an entity, a dropped attribute) of a kept message, pointing to it."""

    __tablename__ = "rejection_reasons"

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    message_id: int = Field(sa_column=Column(AUTO_ID, ForeignKey("rejected_messages.id", ondelete="CASCADE"),
                                             nullable=False, index=True))
    reason: str = Field(max_length=32, index=True)
    detail: str  # in English
    said: Optional[dict] = Field(default=None, sa_column=Column(JSON))  # the detail as said (services/i18n.py say)


class CitizenReport(SQLModel, table=True):
    """An Open311 service request received on <root>/reports."""

    __tablename__ = "citizen_reports"

    id: Optional[int] = Field(default=None, primary_key=True)
    external_id: str = Field(max_length=200, unique=True)
    service_code: Optional[str] = None
    service_name: Optional[str] = None
    description: Optional[str] = None
    address: Optional[str] = None
    lon: float
    lat: float
    district: Optional[str] = None
    status: Optional[str] = None
    requested_at: datetime = utc_field()
    received_at: datetime = utc_field()
    time_from_receive: bool = False
    updated_at: Optional[datetime] = utc_field(default=None)  # the request's updated_datetime at its source
    drill: Optional[str] = Field(default=None, max_length=64)  # sent by a drill (services.drills)


class UnitCommandReply(SQLModel, table=True):
    """A vehicle's answer to a command (<root>/units/<id>/cmdexe)."""

    __tablename__ = "unit_command_replies"
    __table_args__ = (UniqueConstraint("unit_id", "cmd_id", "result", name="uq_command_reply"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    unit_id: str = Field(max_length=128, index=True)
    cmd_id: str = Field(max_length=128)
    result: str = Field(max_length=16)
    at: datetime = utc_field()
    received_at: datetime = utc_field()


class IngestStatus(SQLModel, table=True):
    """Heartbeat of each running ingest process, read by the web process's /health."""

    __tablename__ = "ingest_status"

    instance_id: str = Field(primary_key=True, max_length=128)
    started_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    broker_connected: bool = False
    received: int = Field(default=0, sa_type=BigInteger)
    stored: int = Field(default=0, sa_type=BigInteger)
    duplicates: int = Field(default=0, sa_type=BigInteger)
    rejected: int = Field(default=0, sa_type=BigInteger)
    rejected_by_reason: dict = Field(default_factory=dict, sa_column=Column(JSON))
    lag_seconds: float = 0.0
    # how long messages have waited with nothing committed (0 when none waits): a stalled ingest
    stalled_seconds: float = Field(default=0.0, sa_column=Column(Float, nullable=False, server_default="0"))
    last_message_at: Optional[datetime] = utc_field(default=None)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = utc_field()
    revoked_at: Optional[datetime] = utc_field(default=None)
    department: Optional[str] = Field(default=None, max_length=32)  # a ``department`` role's department


class AuditEntry(SQLModel, table=True):
    """Append-only: who did what, when, with the state before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (
        # an action's latest entry (the demo's play of the past, read by the rules, the escalation and the
        # roll-ups): without it, SQLite read the log backwards to the entry, all of it where there is none
        Index("ix_audit_log_action_id", "action", "id"),
    )

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    at: datetime = utc_field(index=True)
    actor: str = Field(max_length=128)
    action: str = Field(max_length=64)
    target: str = Field(max_length=256)
    before: Optional[dict] = Field(default=None, sa_column=Column(JSON))
    after: Optional[dict] = Field(default=None, sa_column=Column(JSON))
