"""Tables of citizen requests: one row per request (its work order), and the append-only facts of
its life (services/requests/).

A request merged into another (a duplicate) keeps its row, with ``merged_into`` naming the order
that answers it; its citizen hears what that order's citizen hears. ``version`` grows on every
change: a command changes a row only at the version it read (two clicks, one change).
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, Index
from sqlmodel import Field, SQLModel

from services.models.base import AUTO_ID, utc_field


class WorkOrder(SQLModel, table=True):
    __tablename__ = "work_orders"
    __table_args__ = (
        Index("ix_work_orders_queue", "status", "department"),
        Index("ix_work_orders_updated_at", "updated_at"),  # the KPI roll-ups' watermark: what changed since
        # a received report's duplicates: the same service within days of it (by the service alone, every
        # report read all its service's orders, a year's of them in time; 30 days' took 3.5 ms a report)
        Index("ix_work_orders_service_received", "service_code", "received_at"),
    )

    id: Optional[int] = Field(default=None, primary_key=True)
    request_id: str = Field(max_length=200, unique=True)  # the Open311 service_request_id
    source: str = Field(max_length=16)  # mqtt | open311 | hotline
    service_code: str = Field(max_length=64, index=True)  # "unclassified" until an agent classifies it
    service_name: Optional[str] = Field(default=None, max_length=200)  # as the citizen's app named it
    department: Optional[str] = Field(default=None, max_length=32, index=True)
    status: str = Field(default="received", max_length=16)
    description: Optional[str] = None
    address: Optional[str] = None
    district: Optional[str] = Field(default=None, max_length=200)
    lon: float
    lat: float
    media_url: Optional[str] = Field(default=None, max_length=2000)
    contact_name: Optional[str] = Field(default=None, max_length=200)
    contact_email: Optional[str] = Field(default=None, max_length=200)
    contact_phone: Optional[str] = Field(default=None, max_length=64)
    status_notes: Optional[str] = None  # what the citizen is told (Open311 status_notes)
    requested_at: datetime = utc_field()  # when the citizen asked
    received_at: datetime = utc_field(index=True)  # when CityOps had it: the clocks start here
    assigned_at: Optional[datetime] = utc_field(default=None)
    accepted_at: Optional[datetime] = utc_field(default=None)  # the first response
    started_at: Optional[datetime] = utc_field(default=None)
    resolved_at: Optional[datetime] = utc_field(default=None)
    closed_at: Optional[datetime] = utc_field(default=None)
    response_due_at: Optional[datetime] = utc_field(default=None)
    resolution_due_at: Optional[datetime] = utc_field(default=None)
    overdue_alarmed: bool = False  # an overdue alarm is open for it
    transfer_count: int = 0
    reopen_count: int = 0
    merged_into: Optional[int] = Field(default=None, index=True)
    satisfaction: Optional[str] = Field(default=None, max_length=24)
    satisfaction_comment: Optional[str] = None
    rated_at: Optional[datetime] = utc_field(default=None)
    created_by: str = Field(max_length=128)
    updated_at: datetime = utc_field()
    version: int = 1
    drill: Optional[str] = Field(default=None, max_length=64)


class WorkOrderEvent(SQLModel, table=True):
    """A fact of an order's life with its time: received, assigned, accepted, started, resolved, closed,
    transferred, reopened, merged, rated, note, overdue. The scorecards count these per district,
    service and department (each fact carries them as they were at that moment)."""

    __tablename__ = "work_order_events"
    __table_args__ = (Index("ix_work_order_events_kind_at", "kind", "at"),)

    id: Optional[int] = Field(default=None, sa_column=Column(AUTO_ID, primary_key=True, autoincrement=True))
    order_id: int = Field(index=True)
    at: datetime = utc_field()
    kind: str = Field(max_length=24)
    actor: str = Field(max_length=128)
    message: str
    status_before: Optional[str] = Field(default=None, max_length=16)
    status_after: Optional[str] = Field(default=None, max_length=16)
    department: Optional[str] = Field(default=None, max_length=32)
    service_code: str = Field(max_length=64)
    district: Optional[str] = Field(default=None, max_length=200)
    media_url: Optional[str] = Field(default=None, max_length=2000)
    detail: Optional[dict] = Field(default=None, sa_column=Column(JSON))
    published: bool = False  # a status change's MQTT update was taken by the broker
