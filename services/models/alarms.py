"""Tables of the alarms: one row per alarm (its whole lifecycle), and its history of events.

An alarm is *open* while it is active or not yet acknowledged; ``open_key`` ("<rule>|<device>")
is set while it is open and NULL once closed, and is unique, so the database itself holds
"one open alarm per rule and device" across processes. ``revision`` grows on every change and
``published_revision`` records what was last published as an MQTT ``Alert`` (an outbox).
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, ForeignKey, Index
from sqlmodel import Field, SQLModel

from services.models.base import AUTO_ID, utc_field


class Alarm(SQLModel, table=True):
    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_active_raised", "active", "raised_at"),
        Index("ix_alarms_outbox", "published_revision", "revision"),
        Index("ix_alarms_raised_at", "raised_at"),  # the KPI measures: the alarms raised in a period
        Index("ix_alarms_started_at", "started_at"),  # ... or whose condition began in it
        Index("ix_alarms_updated_at", "updated_at"),  # the KPI roll-ups' watermark: what changed since
    )

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    open_key: Optional[str] = Field(default=None, max_length=200, unique=True)
    rule_id: str = Field(max_length=64, index=True)
    rule_name: str = Field(max_length=200)
    device_id: str = Field(max_length=128, index=True)
    device_type: Optional[str] = Field(default=None, max_length=64)
    device_name: Optional[str] = Field(default=None, max_length=200)
    district: Optional[str] = Field(default=None, max_length=200)
    category: str = Field(max_length=64)
    sub_category: str = Field(max_length=64)
    severity: str = Field(max_length=16)
    base_severity: str = Field(max_length=16)
    escalation_level: int = 0
    escalated_at: Optional[datetime] = utc_field(default=None)
    active: bool = True
    acknowledged: bool = False
    description: str = ""
    metric: Optional[str] = Field(default=None, max_length=64)
    value: Optional[float] = None
    threshold: Optional[float] = None
    lon: Optional[float] = None
    lat: Optional[float] = None
    started_at: datetime = utc_field()  # observation time the condition began
    raised_at: datetime = utc_field()  # wall clock: when CityOps raised it
    last_raised_at: datetime = utc_field()
    repeat_count: int = 0
    acknowledged_at: Optional[datetime] = utc_field(default=None)
    acknowledged_by: Optional[str] = Field(default=None, max_length=128)
    cleared_at: Optional[datetime] = utc_field(default=None)
    cleared_by: Optional[str] = Field(default=None, max_length=128)
    assignee: Optional[str] = Field(default=None, max_length=128)
    incident_id: Optional[int] = None
    incident_requested: bool = False
    revision: int = 1
    published_revision: int = 0
    updated_at: datetime = utc_field()
    drill: Optional[str] = Field(default=None, max_length=64)  # raised from a drill's readings (services.drills)


class AlarmEvent(SQLModel, table=True):
    """The history of an alarm: raised, repeated, escalated, acknowledged, cleared, assigned, commented."""

    __tablename__ = "alarm_events"

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    alarm_id: int = Field(sa_column=Column(AUTO_ID, ForeignKey("alarms.id", ondelete="CASCADE"), index=True,
                                           nullable=False))
    at: datetime = utc_field()
    kind: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    text: Optional[str] = None
    data: Optional[dict] = Field(default=None, sa_column=Column(JSON))
