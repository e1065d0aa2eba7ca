"""The REST API's contracts in one place: request bodies (validated before a view runs) and
response bodies (documented), as pydantic models; api/core.py turns both into the OpenAPI schemas.

Requests are checked for shape and types here (strict: "5" is not 5, true is not 1); what a value
means (a known category, a location inside the city, an allowed status change) is the command's
check in services/, so the page callbacks and the API refuse alike. Bodies may carry further keys
(the older names a command still reads, or keys the command itself refuses by name).
Responses list the fields every client may rely on; views add more (``extra="allow"``).
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel


class RequestBody(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class ResponseBody(BaseModel):
    model_config = ConfigDict(extra="allow")


class Point(BaseModel):
    """A GeoJSON Point: [longitude, latitude]."""

    model_config = ConfigDict(strict=True, extra="allow")
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3)


class Counted(ResponseBody):
    count: int


# ---------------------------------------------------------------- incidents

class IncidentCreate(RequestBody):
    category: str = Field(description="health, fire, traffic, ... (services/incidents.py CATEGORIES)")
    subCategory: str | None = None
    priority: int | str | None = Field(None, description="1-4, P1-P4 or an SDM severity word")
    severity: str | None = Field(None, description="an SDM severity word, when priority is absent")
    location: Point | None = Field(None, description="or lon and lat")
    lon: float | None = None
    lat: float | None = None
    description: str | None = Field(None, max_length=2000)
    address: str | None = Field(None, max_length=2000)
    source: str | None = None


class IncidentChange(RequestBody):
    priority: int | str | None = None
    severity: str | None = None
    category: str | None = None
    subCategory: str | None = None
    description: str | None = None
    address: str | None = None
    status: str | None = Field(None, description="resolved, closed or cancelled (as the incident's state allows)")
    version: int | None = Field(None, description="the version read: refused with 409 when it changed meanwhile")


class DispatchRequest(RequestBody):
    unit_id: str | None = Field(None, min_length=1, description="omitted: the top recommendation")


class ResolveRequest(RequestBody):
    outcome: str = Field(description="how the incident ended, in the operator's words")
    disposition: str


class Incident(ResponseBody):
    id: int
    type: Literal["Alert"]
    category: str
    subCategory: str | None
    priority: int
    status: str
    location: Point
    unit_id: str | None
    version: int
    created_at: str | None


class TimelineEntry(ResponseBody):
    at: str | None
    kind: str
    actor: str | None
    message: str | None


class IncidentWithTimeline(Incident):
    timeline: list[TimelineEntry]


class Incidents(Counted):
    incidents: list[Incident]


class Candidate(ResponseBody):
    rank: int
    unit_id: str
    eta_seconds: float
    distance_m: float


class Recommendations(Counted):
    incident_id: int
    candidates: list[Candidate]


class Dispatched(ResponseBody):
    incident: Incident
    unit_id: str
    cmd_id: str
    eta_seconds: float
    published: bool
    command: dict[str, Any]


# ---------------------------------------------------------------- units

class Unit(ResponseBody):
    id: str
    name: str | None
    kind: str
    status: str
    incident_id: int | None
    location: Point | None


class Units(Counted):
    units: list[Unit]


class Returned(ResponseBody):
    unit_id: str
    command: str | None
    published: bool


# ---------------------------------------------------------------- alarms

class AlarmNote(RequestBody):
    note: str | None = None


class AlarmAssignee(RequestBody):
    assignee: str | None = Field(description="null to unassign")


class AlarmComment(RequestBody):
    text: str


class Alarm(ResponseBody):
    id: int
    rule_id: str
    severity: str
    state: str
    open: bool
    escalated: bool
    location: Point | None


class AlarmEvent(ResponseBody):
    at: str | None
    kind: str
    actor: str | None


class AlarmWithHistory(Alarm):
    history: list[AlarmEvent]


class Alarms(Counted):
    alerts: list[Alarm]
    severities: list[str]


class AlarmIncident(ResponseBody):
    alarm_id: int
    incident_id: int


# ---------------------------------------------------------------- telemetry

class Health(ResponseBody):
    status: Literal["ok", "degraded"]
    db: bool
    problems: list[str] = []


class Place(ResponseBody):
    name: str
    kind: str
    detail: str | None
    location: Point


class Places(Counted):
    places: list[Place]


class Liveness(ResponseBody):
    status: Literal["ok"]


class Device(ResponseBody):
    id: str
    type: str
    location: Point | None
    stale: bool
    last_values: dict[str, Any] | None


class Devices(Counted):
    devices: list[Device]


class Observation(ResponseBody):
    type: str
    observed_at: str | None
    values: dict[str, Any] | None


class Observations(Counted):
    device_id: str
    observations: list[Observation]


class Rejection(ResponseBody):
    id: int
    received_at: str
    topic: str
    reason: str
    detail: str | None


class Rejections(Counted):
    rejected: list[Rejection]
    reasons: dict[str, Any]


class Layer(ResponseBody):
    type: Literal["FeatureCollection"]
    features: list[dict[str, Any]]
    properties: dict[str, Any]


# ---------------------------------------------------------------- displays

class DisplayCreate(RequestBody):
    name: str
    page: str = Field(description="/wall, / or /kiosk (the public kiosk)")
    options: dict[str, Any] | None = Field(None, description='e.g. {"lang": "zh"}, {"rotate": 30} or, for the kiosk, '
                                           '{"lang": "alternate", "lang_every": 20}')


class Display(ResponseBody):
    id: int
    name: str
    page: str
    options: dict[str, Any]
    revoked: bool
    last_seen_at: str | None


class DisplayLink(Display):
    url: str = Field(description="the link to open once on the screen")


class Displays(Counted):
    displays: list[Display]
    pages: list[str]


# ---------------------------------------------------------------- IoT Agent provisioning

class IotServiceGroups(RequestBody):
    """``{"services": [...]}`` as an IoT Agent takes it, or one service group object."""

    services: list[dict[str, Any]] | None = None


class IotDevices(RequestBody):
    """``{"devices": [...]}`` as an IoT Agent takes it, or one device object."""

    devices: list[dict[str, Any]] | None = None


class ServiceGroup(ResponseBody):
    apikey: str
    entity_type: str


class ServiceGroups(Counted):
    services: list[ServiceGroup]


class ProvisionedDevice(ResponseBody):
    apikey: str
    device_id: str


class ProvisionedDevices(Counted):
    devices: list[ProvisionedDevice]


class Deleted(ResponseBody):
    deleted: str


# ---------------------------------------------------------------- scorecards (KPIs)

class KpiValue(ResponseBody):
    """One KPI's value for a district ("city": the whole city) and period (SPEC section 5)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    kpi: str
    label: str
    unit: str
    district: str
    period: Literal["hour", "day", "week", "month", "quarter"]
    from_: str = Field(alias="from", description="the period's first instant, ISO 8601 UTC")
    to: str = Field(description="the instant after the period (half-open), ISO 8601 UTC")
    value: float | None = Field(description="null: no data in the period (never 0)")
    target: float | None
    baseline: float | None
    standing: Literal["very_good", "good", "fair", "bad", "very_bad"] | None


class KpiValues(RootModel[list[KpiValue]]):
    """A list of KPI values, in catalogue order, the whole city first."""


class KpiTargetChange(RequestBody):
    kpi: str
    district: str = Field("city", description="a district's name, or city")
    year: int = Field(description="the local calendar year the target and baseline are for")
    target: float | None = Field(None, description="null: the catalogue's default")
    baseline: float | None = Field(None, description="omitted with a baseline period: measured over that period")
    baseline_from: str | None = Field(None, description="ISO 8601: the baseline period's start")
    baseline_to: str | None = Field(None, description="ISO 8601: the baseline period's end (excluded)")


class KpiTarget(ResponseBody):
    kpi: str
    district: str
    year: int
    target: float | None
    baseline: float | None
    baseline_from: str | None
    baseline_to: str | None
    default_target: float | None


class KpiTargets(Counted):
    targets: list[KpiTarget]
