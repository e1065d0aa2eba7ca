"""IoT Agent provisioning (services/adapters/iot_agent.py): service groups and devices, as a
FIWARE IoT Agent keeps them, written from config/iot_agent.yaml and the REST API."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from services.models.base import utc_field


class IotServiceGroup(SQLModel, table=True):
    """An apikey's devices: their entity type, attribute names and static attributes."""

    __tablename__ = "iot_service_groups"

    apikey: str = Field(primary_key=True, max_length=128)
    entity_type: str = Field(max_length=64)
    attributes: list = Field(default_factory=list, sa_column=Column(JSON))  # [{"object_id", "name"}]
    static_attributes: list = Field(default_factory=list, sa_column=Column(JSON))  # [{"name", "value"}]
    autoprovision: bool = False  # a device the group does not list is taken (with the group's mapping)
    source: str = Field(default="api", max_length=16)  # config | api
    updated_at: datetime = utc_field()


class IotDevice(SQLModel, table=True):
    """One device of a service group: its entity id and its own mapping."""

    __tablename__ = "iot_devices"

    apikey: str = Field(primary_key=True, max_length=128)
    device_id: str = Field(primary_key=True, max_length=128)
    entity_name: Optional[str] = Field(default=None, max_length=256)
    entity_type: Optional[str] = Field(default=None, max_length=64)
    attributes: list = Field(default_factory=list, sa_column=Column(JSON))
    static_attributes: list = Field(default_factory=list, sa_column=Column(JSON))
    source: str = Field(default="api", max_length=16)
    updated_at: datetime = utc_field()
