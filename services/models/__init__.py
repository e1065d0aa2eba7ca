"""SQLModel tables, one module per part of the product; import them from here.

Every table module must be imported below so that Alembic and ``SQLModel.metadata`` see it.
"""
from services.models.alarms import Alarm, AlarmEvent
from services.models.base import AUTO_ID, UTCDateTime, utcnow
from services.models.dispatch import Incident, IncidentEvent, ResponseUnit, UnitCommand
from services.models.reactions import ReactionCursor, ReactorLease, RuleState
from services.models.telemetry import (
    ApiToken,
    AuditEntry,
    CitizenReport,
    Device,
    DeviceLatest,
    IngestStatus,
    Observation,
    RejectedMessage,
    UnitCommandReply,
)

__all__ = [
    "AUTO_ID", "UTCDateTime", "utcnow", "ApiToken", "AuditEntry", "CitizenReport", "Device", "DeviceLatest",
    "IngestStatus", "Observation", "RejectedMessage", "UnitCommandReply",
    "Alarm", "AlarmEvent",
    "Incident", "IncidentEvent", "ResponseUnit", "UnitCommand",
    "ReactionCursor", "ReactorLease", "RuleState",
]
