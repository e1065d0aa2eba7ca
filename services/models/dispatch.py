"""Tables of emergency dispatch: incidents and their timeline, response units, commands sent to units.

Concurrency: ``units.version`` and ``incidents.version`` grow on every change; dispatch moves a
unit with a conditional ``UPDATE ... WHERE status IN (dispatchable) AND version = :seen``, so two
dispatchers (in any number of processes, on SQLite or PostgreSQL) cannot both send the same unit.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from services.models.base import AUTO_ID, utc_field


class Incident(SQLModel, table=True):
    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_status_priority", "status", "priority"),
        Index("ix_incidents_created_at", "created_at"),  # the KPI measures: the incidents called in a period
        Index("ix_incidents_updated_at", "updated_at"),  # the KPI roll-ups' watermark: what changed since
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    category: str = Field(max_length=32)
    sub_category: Optional[str] = Field(default=None, max_length=64)
    priority: int = 3  # 1 (critical) .. 4 (low); see services.incidents.SEVERITY_OF_PRIORITY
    status: str = Field(default="new", max_length=16)
    source: str = Field(default="operator", max_length=16)  # operator | citizen | alarm | api
    description: Optional[str] = None
    address: Optional[str] = None
    district: Optional[str] = None
    lon: float
    lat: float
    external_id: Optional[str] = Field(default=None, max_length=200, unique=True)  # e.g. the Open311 request
    unit_id: Optional[str] = Field(default=None, max_length=128)  # the unit currently assigned
    escalated: bool = False
    escalation_reason: Optional[str] = None
    created_by: str = Field(default="system", max_length=128)
    created_at: datetime = utc_field()
    updated_at: datetime = utc_field()
    status_since: datetime = utc_field()
    dispatched_at: Optional[datetime] = utc_field(default=None)
    on_scene_at: Optional[datetime] = utc_field(default=None)
    resolved_at: Optional[datetime] = utc_field(default=None)
    closed_at: Optional[datetime] = utc_field(default=None)
    version: int = 1
    drill: Optional[str] = Field(default=None, max_length=64)  # the drill it came from (services.drills)


class IncidentEvent(SQLModel, table=True):
    """The append-only timeline of an incident: every change, who made it, from what to what."""

    __tablename__ = "incident_timeline"

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    incident_id: int = Field(index=True)
    at: datetime = utc_field()
    kind: str = Field(max_length=32)  # created | updated | status | dispatched | escalated | refused | ...
    actor: str = Field(max_length=128)
    message: str
    status_before: Optional[str] = Field(default=None, max_length=16)
    status_after: Optional[str] = Field(default=None, max_length=16)
    unit_id: Optional[str] = Field(default=None, max_length=128)
    detail: Optional[dict] = Field(default=None, sa_column=Column(JSON))


class ResponseUnit(SQLModel, table=True):
    """A response unit (ambulance, fire engine, police car, flood rescue, road maintenance).

    Its live position is its Vehicle device's latest observation (``device_latest``); this row
    holds what dispatch decides: status, since when, and the incident it serves.
    """

    __tablename__ = "units"

    unit_id: str = Field(primary_key=True, max_length=128)
    name: str
    kind: str = Field(max_length=32)
    base_id: Optional[str] = Field(default=None, max_length=64)
    base_name: Optional[str] = None
    base_lon: Optional[float] = None
    base_lat: Optional[float] = None
    vehicle_type: Optional[str] = Field(default=None, max_length=32)
    emergency_vehicle_type: Optional[str] = Field(default=None, max_length=32)
    capabilities: list = Field(default_factory=list, sa_column=Column(JSON))
    status: str = Field(default="available", max_length=16)
    status_since: datetime = utc_field()
    incident_id: Optional[int] = None
    command_id: Optional[str] = Field(default=None, max_length=64)
    version: int = 1


class UnitCommand(SQLModel, table=True):
    """A command sent on <root>/units/<id>/cmd, and what the unit answered on .../cmdexe."""

    __tablename__ = "unit_commands"
    __table_args__ = (Index("ix_unit_commands_state_issued", "state", "issued_at"),)

    cmd_id: str = Field(primary_key=True, max_length=64)
    unit_id: str = Field(max_length=128, index=True)
    incident_id: Optional[int] = Field(default=None, index=True)
    command: str = Field(max_length=16)  # dispatch | cancel | return
    # sent | accepted | rejected | arrived | cleared | timed_out | superseded
    state: str = Field(default="sent", max_length=16)
    issued_by: str = Field(max_length=128)
    issued_at: datetime = utc_field()
    answered_at: Optional[datetime] = utc_field(default=None)
    published: bool = False
    eta_seconds: Optional[float] = None
    distance_m: Optional[float] = None
    payload: Optional[dict] = Field(default=None, sa_column=Column(JSON))
