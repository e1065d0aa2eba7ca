"""SQLModel tables, one module per part of the product; import them from here.

Every table module must be imported below so that Alembic and ``SQLModel.metadata`` see it.
"""
from services.models.access import Display, SignInFailure, User
from services.models.alarms import Alarm, AlarmEvent
from services.models.base import AUTO_ID, UTCDateTime, utcnow
from services.models.dispatch import Incident, IncidentEvent, ResponseUnit, UnitCommand
from services.models.iot_agent import IotDevice, IotServiceGroup
from services.models.kpis import KpiBehind, KpiDayScan, KpiDirtyBucket, KpiRollup, KpiTarget, KpiWatermark
from services.models.reactions import ReactionCursor, ReactorLease, RuleState
from services.models.requests import WorkOrder, WorkOrderEvent
from services.models.telemetry import (
    ApiToken,
    AuditEntry,
    CitizenReport,
    Device,
    DeviceLatest,
    IngestStatus,
    Observation,
    RejectedMessage,
    RejectionReason,
    UnitCommandReply,
)

__all__ = [
    "AUTO_ID", "UTCDateTime", "utcnow", "ApiToken", "AuditEntry", "CitizenReport", "Device", "DeviceLatest",
    "IngestStatus", "Observation", "RejectedMessage", "RejectionReason", "UnitCommandReply",
    "Alarm", "AlarmEvent",
    "Display", "SignInFailure", "User",
    "Incident", "IncidentEvent", "ResponseUnit", "UnitCommand",
    "IotDevice", "IotServiceGroup", "KpiBehind", "KpiDayScan", "KpiDirtyBucket", "KpiRollup", "KpiTarget",
    "KpiWatermark", "ReactionCursor", "ReactorLease", "RuleState",
    "WorkOrder", "WorkOrderEvent",
]
