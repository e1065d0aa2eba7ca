"""Raw MQTT messages become typed values here, and nowhere else (SPEC section 4).

``parse_message(topic, payload, context)`` never raises: it returns what it could use
(observations, citizen reports, command replies) and a ``Rejection`` with a reason for
what it could not. Reasons are the stable codes in ``REASONS``.

Tolerated deviations of real feeds: NGSI-LD (and NGSI v2) normalized attributes,
attribute-name case variants, numbers sent as strings, ids with or without the
``urn:ngsi-ld:<Type>:`` prefix, expanded type URIs, time intervals ``a/b`` (the end is used),
naive timestamps (read as UTC, as NGSI-LD prescribes), humidity and occupancy in percent.

The device is the entity's own ``id``; the topic's ``<device_id>`` only names the device of an
entity that has none (a gateway publishes many sensors' entities on its own topic). One unusable
measured attribute does not lose its entity: the entity is stored without it and the attribute
is kept as a ``partial`` rejection. A message is bounded: at most ``ParseContext.max_entities``
entities and ``MAX_KEPT_REASONS`` kept reasons, however many entities it holds.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Mapping

from services import adapters, fastjson
from services.i18n import N_, Said, Term, in_english, in_reader_language, say
from services.units_of_measure import UnitError, convert as convert_unit, describe as describe_unit

log = logging.getLogger("cityops.telemetry")

MAX_PAYLOAD_BYTES = 1_000_000
MAX_FUTURE = timedelta(days=1)
MAX_ID_CHARS = 128  # the length of the id columns (devices.id, unit_command_replies.unit_id and cmd_id)
DRILL_ATTRIBUTE = "drill"  # kept on every entity and report: what a drill produced (services/drills.py)
MAX_REPORT_ID_CHARS = 200  # citizen_reports.external_id
DEFAULT_MAX_ENTITIES = 1000  # entities read from one message (Settings.max_entities_per_message)
MAX_KEPT_REASONS = 100  # reasons kept per message; the rest are counted, not kept (no amplification)

REASONS = {
    "not_json": N_("the payload is not UTF-8 JSON"),
    "too_large": N_("the payload is larger than 1 MB"),
    "wrong_topic": N_("the topic is not one CityOps reads, or the entity does not belong on it"),
    "unknown_type": N_("the entity type is missing or not one CityOps reads"),
    "missing_location": N_("no usable location and no registered location for the device"),
    "invalid_location": N_("the location is not a GeoJSON Point/LineString with valid lon, lat"),
    "out_of_range": N_("a measured value is outside its physical range"),
    "invalid_value": N_("a value has the wrong type or a required field is missing"),
    "invalid_timestamp": N_("the observation time cannot be read or lies in the future"),
    "partial": N_("the entity was stored without one attribute that could not be used (named in the detail)"),
    "too_many_entities": N_("the message holds more entities than one message may (CITYOPS_MAX_ENTITIES_PER_MESSAGE)"),
    "refused_by_database": N_("the database refused to store the message; the detail says why"),
    "unknown_unit": N_("a value's unitCode is unknown or cannot be converted to the measure's unit"),
    "unprovisioned": N_("the sending device, station or IoT Agent service group (apikey) is not provisioned"),
    "request_refused": N_("a citizen's answer the request cannot take (unknown request, not resolved yet)"),
}
# each reason's name on screen (the code stays the key of counts and filters)
REASON_NAMES = {
    "not_json": N_("Not JSON"), "too_large": N_("Too large"), "wrong_topic": N_("Wrong topic"),
    "unknown_type": N_("Unknown type"), "missing_location": N_("Missing location"),
    "invalid_location": N_("Invalid location"), "out_of_range": N_("Out of range"), "invalid_value": N_("Invalid value"),
    "invalid_timestamp": N_("Invalid timestamp"), "partial": N_("Partly stored"),
    "too_many_entities": N_("Too many entities"), "refused_by_database": N_("Refused by the database"),
    "unknown_unit": N_("Unknown unit"), "unprovisioned": N_("Not provisioned"), "request_refused": N_("Answer refused"),
}
# Reasons that lose nothing but an attribute: counted apart from the rejected entities and messages
PARTIAL_REASONS = frozenset({"partial"})


@dataclass(frozen=True)
class Measure:
    name: str
    low: float
    high: float
    unit: str
    percent_to_fraction: bool = False  # accept 0..100 and store 0..1
    compass: bool = False  # a direction: older models' -180..0 is stored as 180..360


@dataclass(frozen=True)
class EntitySpec:
    """What CityOps reads from one Smart Data Models entity type."""

    type: str
    measures: tuple[Measure, ...]
    texts: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    time_keys: tuple[str, ...] = ("dateObserved", "observationDateTime", "dateObservedTo")


_WEATHER = (
    Measure("temperature", -90, 70, "°C"),
    Measure("relativeHumidity", 0, 1, "1", percent_to_fraction=True),
    Measure("windSpeed", 0, 120, "m/s"),
    Measure("windDirection", 0, 360, "°", compass=True),
    Measure("precipitation", 0, 500, "mm"),
)

ENTITY_SPECS: dict[str, EntitySpec] = {
    spec.type: spec
    for spec in (
        EntitySpec(
            "AirQualityObserved",
            measures=(
                Measure("pm25", 0, 2000, "µg/m³"), Measure("pm10", 0, 3000, "µg/m³"),
                Measure("pm1", 0, 2000, "µg/m³"), Measure("no2", 0, 5000, "µg/m³"),
                Measure("no", 0, 5000, "µg/m³"), Measure("nox", 0, 10000, "µg/m³"),
                Measure("o3", 0, 2000, "µg/m³"), Measure("so2", 0, 10000, "µg/m³"),
                Measure("co", 0, 100000, "µg/m³"), Measure("co2", 0, 100000, "ppm"),
                Measure("airQualityIndex", 0, 1000, "index"), Measure("reliability", 0, 1, "1"),
                *_WEATHER,
            ),
            texts=("airQualityLevel", "typeOfLocation"),
        ),
        EntitySpec(
            "TrafficFlowObserved",
            measures=(
                Measure("averageVehicleSpeed", 0, 300, "km/h"), Measure("intensity", 0, 100000, "vehicles"),
                Measure("occupancy", 0, 1, "1", percent_to_fraction=True),
                Measure("averageVehicleLength", 0, 50, "m"), Measure("averageHeadwayTime", 0, 3600, "s"),
                Measure("averageGapDistance", 0, 10000, "m"), Measure("laneId", 0, 50, ""),
            ),
            texts=("laneDirection",),
            flags=("congested", "reversedLane"),
        ),
        EntitySpec(
            "WaterObserved",
            measures=(
                Measure("height", -100, 1000, "m"), Measure("waterLevel", -100, 1000, "m"),
                Measure("flow", -1e6, 1e6, "m³/s"), Measure("waterDischarge", -1e6, 1e6, "m³/s"),
                Measure("temperature", -5, 60, "°C"),
                # not in the SDM model, but gauges send them like FloodMonitoring: the station's own levels
                Measure("alertLevel", -100, 1000, "m"), Measure("dangerLevel", -100, 1000, "m"),
            ),
        ),
        EntitySpec(
            "FloodMonitoring",
            measures=(
                Measure("currentLevel", -100, 1000, "m"), Measure("referenceLevel", -100, 1000, "m"),
                Measure("measuredDistance", 0, 1000, "m"), Measure("alertLevel", -100, 1000, "m"),
                Measure("dangerLevel", -100, 1000, "m"),
            ),
            texts=("floodLevelStatus", "stationID"),
        ),
        EntitySpec(
            "WeatherObserved",
            measures=(
                *_WEATHER,
                Measure("atmosphericPressure", 300, 1100, "hPa"), Measure("illuminance", 0, 200000, "lx"),
                Measure("snowHeight", 0, 2000, "cm"), Measure("streamGauge", 0, 10000, "cm"),
                Measure("uvIndexMax", 0, 20, ""), Measure("solarRadiation", 0, 2000, "W/m²"),
            ),
            texts=("weatherType",),
        ),
        EntitySpec(
            "Vehicle",
            measures=(Measure("speed", 0, 300, "km/h"), Measure("bearing", 0, 360, "°", compass=True)),
            texts=("serviceStatus", "vehicleType", "emergencyVehicleType", "name", "vehiclePlateIdentifier"),
        ),
    )
}
TELEMETRY_TYPES = frozenset(ENTITY_SPECS) - {"Vehicle"}
# name as spelled and lower-cased -> Measure, per type (tolerates case variants of attribute names)
_MEASURES_BY_FOLDED_NAME = {
    spec.type: {**{m.name.lower(): m for m in spec.measures}, **{m.name: m for m in spec.measures}}
    for spec in ENTITY_SPECS.values()
}
# the Smart Data Models' current Open311 type, then its older names
REPORT_TYPES = frozenset({"service_requests", "Open311_ServiceRequest", "Open311ServiceRequest"})
CLOSED_REQUEST_STATUSES = frozenset({"closed"})  # Open311 GeoReport v2: open | closed
COMMAND_RESULTS = frozenset({"accepted", "rejected", "arrived", "cleared"})


# ---------------------------------------------------------------- value objects

@dataclass(frozen=True, slots=True)
class ObservationIn:
    device_id: str
    entity_type: str
    observed_at: datetime
    received_at: datetime
    lon: float
    lat: float
    values: dict
    geometry: dict | None = None
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CitizenReportIn:
    external_id: str
    service_code: str | None
    service_name: str | None
    description: str | None
    address: str | None
    lon: float
    lat: float
    status: str | None
    requested_at: datetime
    received_at: datetime
    time_from_receive: bool
    updated_at: datetime | None = None  # Open311 updated_datetime: a later message with a newer one counts
    drill: str | None = None  # the drill that made this call (services/drills.py)

    @property
    def closed(self) -> bool:
        return (self.status or "").strip().lower() in CLOSED_REQUEST_STATUSES


# The citizen's answer to a resolved request (the hotline's satisfaction survey), on the wire
SATISFACTION_LEVELS = ("satisfied", "basically_satisfied", "dissatisfied")
MAX_COMMENT_CHARS = 4000


@dataclass(frozen=True, slots=True)
class CitizenRatingIn:
    """``<root>/requests/<service_request_id>/satisfaction``: a citizen app's satisfaction answer."""

    request_id: str
    satisfaction: str
    comment: str | None
    topic: str
    received_at: datetime

    def payload(self) -> bytes:
        return json.dumps({"service_request_id": self.request_id, "satisfaction": self.satisfaction,
                           "comment": self.comment}, ensure_ascii=False).encode("utf-8")


@dataclass(frozen=True, slots=True)
class CommandReplyIn:
    unit_id: str
    cmd_id: str
    result: str
    at: datetime
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    told: Said | str  # what was wrong, said so that each reader sees it in their language

    @property
    def detail(self) -> str:
        return in_english(self.told)


@dataclass
class ParsedMessage:
    observations: list[ObservationIn] = field(default_factory=list)
    reports: list[CitizenReportIn] = field(default_factory=list)
    replies: list[CommandReplyIn] = field(default_factory=list)
    ratings: list[CitizenRatingIn] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)  # the first MAX_KEPT_REASONS
    ignored: bool = False  # CityOps's own outgoing messages, echoed by the broker
    reason_counts: dict[str, int] | None = None  # every rejection by reason, kept or not

    def reject(self, reason: str, told: Said | str) -> None:
        if len(self.rejections) < MAX_KEPT_REASONS:
            self.rejections.append(Rejection(reason, told))
        if self.reason_counts is None:
            self.reason_counts = {}
        self.reason_counts[reason] = self.reason_counts.get(reason, 0) + 1

    @property
    def rejection_count(self) -> int:
        return sum(self.reason_counts.values()) if self.reason_counts else 0


@dataclass(frozen=True)
class ParseContext:
    root: str = "city"
    max_entities: int = DEFAULT_MAX_ENTITIES
    registered_location: Callable[[str], tuple[float, float] | None] = lambda _device_id: None
    in_area: Callable[[float, float], bool] = lambda _lon, _lat: True
    adapters: Mapping[str, Any] = field(default_factory=dict)  # each adapter's state, by name (services.adapters)
    # the demo simulator's back-fill of the past (services/simulator/history.py): a report, a unit's reply or
    # a rating carrying ``recordedAt`` was received then, not now; honoured only when the settings say so
    accept_recorded_at: bool = False


class Rejected(Exception):
    """Raised inside the parser and turned into a Rejection at its edge. ``told`` is what was wrong, said
    (services/i18n.py ``say``) so that the sensors page and the API tell it in their reader's language; a text
    from elsewhere (Python's own words on a JSON error) is kept as it is."""

    def __init__(self, reason: str, told: Said | str):
        super().__init__(reason)
        self.reason = reason
        self.told = told  # put into words only when shown or kept (a gateway's array may raise thousands)

    def __str__(self) -> str:
        return self.detail

    @property
    def detail(self) -> str:
        """In English, as the rejection's row keeps it."""
        return in_english(self.told)

    @property
    def shown(self) -> str:
        """In the current language."""
        return in_reader_language(self.told)


# ---------------------------------------------------------------- entry point

def parse_message(topic: str, payload: bytes, context: ParseContext, received_at: datetime) -> ParsedMessage:
    result = ParsedMessage()
    try:
        route = _route(topic, context.root)
        if route is None:
            result.ignored = True
            return result
        kind, key = route
        if len(payload) > MAX_PAYLOAD_BYTES:
            raise Rejected("too_large", say("{size:,} bytes", size=len(payload)))
        if kind == "adapter":  # a foreign format (services/adapters); its entities take CityOps's routes
            adapter, found = key
            for adapted in adapter.read(found, payload, context, received_at):
                _parse_document(adapted.kind, adapted.entities, adapted.device_id, context, received_at, result)
        else:
            _parse_document(kind, _decode_json(payload), key, context, received_at, result, topic)
    except Rejected as rejection:
        result.reject(rejection.reason, rejection.told)
    except Exception as error:  # a safety net: bad input must never stop the ingest
        log.exception("unexpected error parsing a message on %s", topic)
        result.reject("invalid_value", say("could not be read: {error}",
                                           error=f"{type(error).__name__}: {error}"[:500]))
    return result


def _parse_document(kind: str, document: Any, key: str, context: ParseContext, received_at: datetime,
                    result: ParsedMessage, topic: str = "") -> None:
    if kind in RECORDABLE_KINDS and context.accept_recorded_at:
        received_at = recorded_at(document, received_at)
    if kind == "telemetry":
        _parse_entities(document, key, TELEMETRY_TYPES, context, received_at, result)
    elif kind == "unit_state":
        _parse_entities(document, key, frozenset({"Vehicle"}), context, received_at, result)
    elif kind == "reports":
        for entity in _as_entities(document, context.max_entities):
            _collect(result, lambda e=entity: result.reports.append(parse_report(e, received_at)))
    elif kind == "unit_reply":
        result.replies.append(parse_command_reply(document, key, received_at))
    elif kind == "rating":
        result.ratings.append(parse_rating(document, key, topic, received_at))


RECORDABLE_KINDS = frozenset({"reports", "unit_reply", "rating"})
RECORDED_AT = "recordedAt"


def recorded_at(document: Any, received_at: datetime) -> datetime:
    """The receipt time a back-filled message states (``recordedAt``, never later than now), else now."""
    if not isinstance(document, dict) or document.get(RECORDED_AT) is None:
        return received_at
    return min(parse_time(document[RECORDED_AT], RECORDED_AT), received_at)


def _collect(result: ParsedMessage, action: Callable[[], None]) -> None:
    """Runs one entity's parse; its rejection does not stop its siblings in an array."""
    try:
        action()
    except Rejected as rejection:
        result.reject(rejection.reason, rejection.told)


def _route(topic: str, root: str) -> tuple[str, str] | None:
    """(kind, key) for a topic CityOps reads; None for its own outgoing topics."""
    parts = topic.split("/")
    root_parts = root.split("/")
    if parts[: len(root_parts)] != root_parts:
        return _adapter_route(topic, parts, root_parts, say("topic {topic} is outside {root}/", topic=repr(topic),
                                                                root=root))
    rest = parts[len(root_parts):]
    if len(rest) == 2 and rest[0] == "telemetry" and rest[1]:
        return "telemetry", normalize_id(rest[1])
    if rest == ["reports"]:
        return "reports", ""
    if len(rest) == 3 and rest[0] == "units" and rest[1]:
        if rest[2] == "state":
            return "unit_state", checked_id(normalize_id(rest[1]), say("unit id"))
        if rest[2] == "cmdexe":
            return "unit_reply", checked_id(normalize_id(rest[1]), say("unit id"))
        if rest[2] == "cmd":
            return None
    if len(rest) == 2 and rest[0] == "alerts":
        return None
    if len(rest) in (3, 4) and rest[0] == "kpis":
        return None  # CityOps's own KeyPerformanceIndicator messages (services/kpis/publish.py)
    if len(rest) == 3 and rest[0] == "requests" and rest[1]:
        if rest[2] == "status":
            return None  # CityOps's own status updates of citizen requests (services/requests/publish.py)
        if rest[2] == "satisfaction":
            return "rating", checked_id(normalize_id(rest[1]), "service_request_id")
    return _adapter_route(topic, parts, root_parts, say("CityOps does not read {topic}", topic=repr(topic)))


def _adapter_route(topic: str, parts: list[str], root_parts: list[str], refusal: Said) -> tuple[str, Any]:
    """A registered topic adapter's route (services/adapters), asked only when no built-in route matched."""
    found = adapters.topic_adapter_for(parts, root_parts)
    if found is None:
        readers = adapters.adapters_of_level(parts, root_parts)
        if readers:  # a feed CityOps reads in part: say which of its topics it does read
            refusal = say("{refusal}; on that level it reads: {readers}", refusal=refusal,
                          readers="; ".join(adapter.title for adapter in readers))
        raise Rejected("wrong_topic", refusal)
    return "adapter", found


def _decode_json(payload: bytes) -> Any:
    try:
        return fastjson.loads(payload)
    except fastjson.JSONDecodeError as error:
        try:
            payload.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise Rejected("not_json", say("not UTF-8: {problem} at byte {at:,}", problem=bad.reason,
                                           at=bad.start)) from None
        raise Rejected("not_json", say("{problem} at line {line} column {column}", problem=error.msg,
                                       line=error.lineno, column=error.colno)) from None
    except RecursionError:
        raise Rejected("not_json", say("the JSON is nested too deeply")) from None
    except ValueError as error:  # e.g. an integer literal with thousands of digits
        raise Rejected("not_json", str(error)[:200]) from None


decode_json = _decode_json  # for adapters whose formats are JSON


def _as_entities(document: Any, max_entities: int) -> list[dict]:
    if type(document) is dict and (adapter := adapters.document_adapter_for(document)) is not None:
        document = adapter.unwrap(document)  # a broker notification, a GeoJSON Feature(Collection)
    entities = document if isinstance(document, list) else [document]
    if not entities:
        raise Rejected("invalid_value", say("an empty array holds no entity"))
    if len(entities) > max_entities:
        raise Rejected("too_many_entities", say("{count:,} entities in one message; at most {most:,} are read, "
                                                "send them in smaller messages", count=len(entities),
                                                most=max_entities))
    for entity in entities:
        if not isinstance(entity, dict):
            raise Rejected("invalid_value", say("an entity must be a JSON object, got {kind}",
                                                kind=type(entity).__name__))
    return entities


def _parse_entities(document, topic_id, allowed_types, context, received_at, result) -> None:
    for entity in _as_entities(document, context.max_entities):
        _collect(result, lambda e=entity: result.observations.append(
            parse_observation(e, topic_id, allowed_types, context, received_at, result)))


# ---------------------------------------------------------------- entities

def parse_observation(entity: dict, topic_id: str, allowed_types: frozenset[str],
                      context: ParseContext, received_at: datetime,
                      result: ParsedMessage | None = None) -> ObservationIn:
    """One entity as an observation. ``topic_id`` is the topic's device or unit id; the
    attributes it could not use are reported to ``result`` as ``partial`` rejections."""
    attributes = CaseInsensitiveAttributes(entity)
    entity_type = entity_type_of(attributes)
    if entity_type not in ENTITY_SPECS:
        raise Rejected("unknown_type", say("entity type {type} is not one CityOps reads", type=repr(entity_type)))
    if entity_type not in allowed_types:
        raise Rejected("wrong_topic", say("{type} does not belong on this topic", type=entity_type))
    spec = ENTITY_SPECS[entity_type]
    device_id = device_of(attributes, topic_id, entity_type)
    flags: list[str] = []

    observed_at = _observation_time(attributes, spec.time_keys, received_at)
    if observed_at is None:
        observed_at = received_at
        flags.append("time_from_receive")

    geometry = read_geometry(attributes.get("location"))
    if geometry is None:
        registered = context.registered_location(device_id)
        if registered is None:
            raise Rejected("missing_location", say("{type} from {device} has no location and the device has no "
                                                   "registered location", type=entity_type, device=repr(device_id)))
        lon, lat = registered
        flags.append("location_from_registry")
    else:
        lon, lat = representative_point(geometry)
        if not context.in_area(lon, lat):
            flags.append("out_of_area")

    dropped: list[tuple[str, Rejected]] = []
    values = read_measures(attributes, spec, dropped)
    for name in (*spec.texts, DRILL_ATTRIBUTE):  # a drill's entity keeps its marker (services/drills.py)
        text = attributes.get(name)
        if isinstance(text, (str, int, float)) and not isinstance(text, bool):
            values[name] = str(text)
    for name in spec.flags:
        flag = attributes.get(name)
        if isinstance(flag, bool):
            values[name] = flag
        elif isinstance(flag, str) and flag.lower() in ("true", "false"):
            values[name] = flag.lower() == "true"
    if dropped:
        _keep_partial(dropped, values, result)
    return ObservationIn(
        device_id=device_id, entity_type=entity_type, observed_at=observed_at, received_at=received_at,
        lon=lon, lat=lat, values=values,
        geometry=geometry if geometry and geometry["type"] == "LineString" else None, flags=tuple(flags),
    )


def device_of(attributes: "CaseInsensitiveAttributes", topic_id: str, entity_type: str) -> str:
    """The device an entity reports for.

    Telemetry: the entity's own ``id`` (SPEC section 4), so a gateway's topic carries many
    sensors; the topic's segment only for an entity without one.
    Unit state (``Vehicle`` on ``<root>/units/<unit_id>/state``): always the topic's unit id.
    The unit registry, its commands (``.../<unit_id>/cmd``) and their replies (``.../cmdexe``)
    are all keyed by that segment, and a vehicle's entity id is often its fleet system's own
    (a plate, a tracker serial); keying the position by it would leave the dispatch's unit
    without a position. A unit's state topic is the unit's own, never a gateway's.
    """
    if entity_type == "Vehicle":
        return topic_id
    own = attributes.get("id")
    # a plain string, the common case, skips the general reader (hot path); a number is read as text
    own = own.strip() if type(own) is str else _optional_text(own, "id")
    if not own:
        return checked_id(topic_id, DEVICE_ID)
    device_id = normalize_id(own)
    if not device_id:
        raise Rejected("invalid_value", say("the entity id {id} names no device", id=repr(own[:60])))
    return checked_id(device_id, DEVICE_ID)


DEVICE_ID = say("device id")


def checked_id(identifier: str, what: Said | str) -> str:
    """An id that fits its column and holds no control characters (the database would refuse it). ``what`` names
    the id (said, or a field's own name)."""
    if len(identifier) > MAX_ID_CHARS:
        raise Rejected("invalid_value", say("{what} longer than {most} characters ({length}: {start}...)", what=what,
                                            most=MAX_ID_CHARS, length=len(identifier), start=repr(identifier[:40])))
    if not identifier.isprintable():
        raise Rejected("invalid_value", say("{what} {id} holds control characters", what=what,
                                            id=repr(identifier[:60])))
    return identifier


def read_measures(attributes: "CaseInsensitiveAttributes", spec: EntitySpec,
                  dropped: list[tuple[str, Rejected]]) -> dict[str, float]:
    """The entity's measured values, by walking what it sent (not every measure the type knows).
    An unusable value is left out and appended to ``dropped`` as (attribute, why)."""
    values: dict[str, float] = {}
    measures = _MEASURES_BY_FOLDED_NAME[spec.type]
    for key, raw in attributes.raw_items():
        measure = measures.get(key) or measures.get(key.lower())
        if measure is None or raw is None or measure.name in values:
            continue
        unit_code = None
        if type(raw) is dict:  # normalized: its unitCode (NGSI-LD) or metadata.unitCode (NGSI v2)
            unit_code = unit_code_of(raw)
            raw = unwrap(raw)
            if raw is None:
                continue
        if type(raw) is str and raw.endswith("%"):  # "45%", as IoT Agent devices send it
            raw, unit_code = raw[:-1], unit_code or "P1"
        try:
            number = to_number(raw, measure.name)
            if unit_code is not None:
                number = in_measure_unit(number, unit_code, measure)
        except Rejected as unusable:
            dropped.append((measure.name, unusable))
            continue
        if unit_code is None and measure.percent_to_fraction and 1 < number <= 100:
            number = number / 100.0
        if measure.compass and -180 <= number < 0:  # FIWARE's older WeatherObserved allowed -180..180
            number += 360.0
        if not measure.low <= number <= measure.high:
            sent = repr(raw) if unit_code is None else f"{raw!r} {describe_unit(unit_code)} = {number:g} {measure.unit}"
            dropped.append((measure.name, Rejected("out_of_range", say(
                "{name}={value} is outside {range}", name=measure.name, value=sent,
                range=f"{measure.low:g}..{measure.high:g} {measure.unit}".rstrip()))))
            continue
        values[measure.name] = number
    return values


def _keep_partial(dropped: list[tuple[str, Rejected]], values: dict, result: ParsedMessage | None) -> None:
    """An entity keeps what it could use; with nothing usable left (no measure, text or flag) it is
    rejected whole, with the reason of its first unusable attribute."""
    if not values:
        first = dropped[0][1]
        raise Rejected(first.reason, first.told)
    if result is not None:
        for name, why in dropped:
            result.reject("partial", say("{name} dropped ({reason}): {why}", name=name,
                                         reason=Term("rejection_reason", why.reason), why=why.told))


def unit_code_of(attribute: dict) -> Any:
    """The UN/CEFACT code of a normalized attribute, or None when it states none."""
    code = attribute.get("unitCode")
    if code is None:
        metadata = attribute.get("metadata")
        if type(metadata) is dict and metadata:
            code = metadata.get("unitCode")
    if type(code) is dict:
        code = code.get("value")
    return code


def in_measure_unit(number: float, unit_code: Any, measure: Measure) -> float:
    try:
        return convert_unit(number, unit_code, measure.unit)
    except UnitError as error:
        raise Rejected("unknown_unit", say("{name}={value}: {problem}", name=measure.name, value=f"{number:g}",
                                           problem=error.told)) from None


def parse_report(entity: dict, received_at: datetime) -> CitizenReportIn:
    attributes = CaseInsensitiveAttributes(entity)
    report_type = attributes.get("type")
    if report_type is not None and entity_type_of(attributes) not in REPORT_TYPES:
        raise Rejected("unknown_type", say("entity type {type} is not an Open311 service request",
                                           type=repr(report_type)))
    service_code = _optional_text(attributes.get("service_code"))
    service_name = _optional_text(attributes.get("service_name"))
    if not service_code and not service_name:
        raise Rejected("invalid_value", say("a service request needs service_code or service_name"))
    # GeoReport v2 extensions (6Aika, Helsinki) send a GeoJSON "geometry" instead of "location"
    geometry = read_geometry(attributes.get("location") or attributes.get("geometry"))
    if geometry is None and attributes.get("lat") is not None:
        lon_raw = attributes.get("long") if attributes.get("long") is not None else attributes.get("lon")
        geometry = read_geometry({"type": "Point", "coordinates": [
            to_number(lon_raw, "long"), to_number(attributes.get("lat"), "lat")]})
    if geometry is None:
        raise Rejected("missing_location", say("a service request needs location or lat/long"))
    lon, lat = representative_point(geometry)
    requested_at = _observation_time(attributes, ("requested_datetime",), received_at)
    external_id = _optional_text(attributes.get("service_request_id")) or _optional_text(attributes.get("id"))
    if not external_id:
        canonical = json.dumps(entity, sort_keys=True, separators=(",", ":")).encode()
        external_id = "sha1:" + hashlib.sha1(canonical).hexdigest()
    if len(normalize_id(external_id)) > MAX_REPORT_ID_CHARS:
        raise Rejected("invalid_value", say("service_request_id longer than {most} characters",
                                            most=MAX_REPORT_ID_CHARS))
    return CitizenReportIn(
        external_id=normalize_id(external_id), service_code=service_code, service_name=service_name,
        description=_optional_text(attributes.get("description")),
        address=_optional_text(attributes.get("address_string")) or _georeport_address(attributes), lon=lon, lat=lat,
        status=_optional_text(attributes.get("status")),
        requested_at=requested_at or received_at, received_at=received_at,
        time_from_receive=requested_at is None,
        updated_at=_observation_time(attributes, ("updated_datetime",), received_at),
        drill=_optional_text(attributes.get(DRILL_ATTRIBUTE)),
    )


def _georeport_address(attributes: "CaseInsensitiveAttributes") -> str | None:
    """GeoReport v2 names it ``address`` (text); the Smart Data Models' ``address`` is a PostalAddress."""
    address = attributes.get("address")
    return _optional_text(address) if isinstance(address, str) else None


def parse_rating(document: Any, request_id: str, topic: str, received_at: datetime) -> CitizenRatingIn:
    """``{"satisfaction", "comment"?, "service_request_id"?}``; the topic names the request, and a
    body that names another one is refused rather than guessed at."""
    if not isinstance(document, dict):
        raise Rejected("invalid_value", say("a satisfaction answer must be a JSON object"))
    attributes = CaseInsensitiveAttributes(document)
    named = _optional_text(attributes.get("service_request_id"))
    if named and normalize_id(named) != request_id:
        raise Rejected("invalid_value", say("service_request_id {named} is not the topic's {topic}",
                                            named=repr(named), topic=repr(request_id)))
    satisfaction = (_optional_text(attributes.get("satisfaction")) or "").lower().replace(" ", "_")
    if satisfaction not in SATISFACTION_LEVELS:
        raise Rejected("invalid_value", say("satisfaction must be one of {levels}",
                                            levels=", ".join(SATISFACTION_LEVELS)))
    comment = _optional_text(attributes.get("comment"))
    if comment is not None and len(comment) > MAX_COMMENT_CHARS:
        raise Rejected("invalid_value", say("comment longer than {most} characters", most=MAX_COMMENT_CHARS))
    return CitizenRatingIn(request_id, satisfaction, comment, topic, received_at)


def parse_command_reply(document: Any, unit_id: str, received_at: datetime) -> CommandReplyIn:
    if not isinstance(document, dict):
        raise Rejected("invalid_value", say("a command reply must be a JSON object"))
    attributes = CaseInsensitiveAttributes(document)
    cmd_id = _optional_text(attributes.get("cmdId"))
    result = _optional_text(attributes.get("result"))
    if not cmd_id:
        raise Rejected("invalid_value", say("a command reply needs cmdId"))
    checked_id(cmd_id, "cmdId")
    if result not in COMMAND_RESULTS:
        raise Rejected("invalid_value", say("result must be one of {results}, got {result}",
                                            results=str(sorted(COMMAND_RESULTS)), result=repr(result)))
    at = _observation_time(attributes, ("at",), received_at) or received_at
    return CommandReplyIn(unit_id=unit_id, cmd_id=cmd_id, result=result, at=at, received_at=received_at)


# ---------------------------------------------------------------- tolerant readers

class CaseInsensitiveAttributes:
    """Attribute lookup that ignores case and unwraps NGSI normalized values."""

    __slots__ = ("_entity", "_folded")

    def __init__(self, entity: Mapping[str, Any]):
        self._entity = entity
        self._folded: dict[str, Any] | None = None  # built only when a name is not found as spelled

    def get(self, name: str) -> Any:
        value = self._entity.get(name)
        if value is None:
            if self._folded is None:
                self._folded = {}
                for key, raw in self._entity.items():
                    self._folded.setdefault(key.lower(), raw)
            value = self._folded.get(name.lower())
        return unwrap(value) if type(value) is dict else value

    def items(self):
        """(name as sent, plain value) of every attribute."""
        for key, value in self._entity.items():
            yield key, unwrap(value) if type(value) is dict else value

    def raw_items(self):
        """(name as sent, value as sent) of every attribute."""
        return self._entity.items()


def unwrap(value: Any) -> Any:
    """The plain value of an NGSI-LD/NGSI v2 normalized attribute; other values as they are.
    Real NGSI v2 brokers and feeds also send ``{"value": ...}`` without ``type``."""
    if isinstance(value, dict) and "coordinates" not in value:
        if "value" in value:
            return unwrap_literal(value["value"])
        if "object" in value and "type" in value:
            return value["object"]
    return unwrap_literal(value)


def unwrap_literal(value: Any) -> Any:
    """JSON-LD typed literals, as in NGSI-LD times: {"@type": "DateTime", "@value": "..."}."""
    if isinstance(value, dict) and "@value" in value:
        return value["@value"]
    return value


def entity_type_of(attributes: CaseInsensitiveAttributes) -> str:
    raw = attributes.get("type")
    if isinstance(raw, list) and raw:
        raw = raw[0]
    if not isinstance(raw, str) or not raw:
        raise Rejected("unknown_type", say("the entity has no type"))
    # expanded NGSI-LD types: https://smartdatamodels.org/dataModel.Environment/AirQualityObserved
    return raw.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def normalize_id(raw: str) -> str:
    """Strips the ``urn:ngsi-ld:<Type>:`` prefix that some feeds send and others do not."""
    if raw[:12].lower() == "urn:ngsi-ld:":
        rest = raw[len("urn:ngsi-ld:"):]
        return rest.split(":", 1)[1] if ":" in rest else rest
    return raw


def to_number(raw: Any, name: str) -> float:
    if isinstance(raw, bool):
        raise Rejected("invalid_value", say("{name} must be a number, got a boolean", name=name))
    if isinstance(raw, (int, float)):
        try:
            number = float(raw)
        except OverflowError:
            raise Rejected("out_of_range", say("{name} is too large to be a measurement", name=name)) from None
    elif isinstance(raw, str):
        text = raw.strip()
        if text.count(",") == 1 and "." not in text:  # a decimal comma: "12,5"
            text = text.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            raise Rejected("invalid_value", say("{name}={value} is not a number", name=name,
                                                value=repr(raw[:50]))) from None
    else:
        raise Rejected("invalid_value", say("{name} must be a number, got {kind}", name=name, kind=type(raw).__name__))
    if not math.isfinite(number):
        raise Rejected("invalid_value", say("{name}={value} is not a finite number", name=name, value=repr(raw)))
    return number


def read_geometry(raw: Any) -> dict | None:
    """A validated GeoJSON Point or LineString (lon, lat), or None when there is none."""
    if raw is None:
        return None
    if isinstance(raw, str):  # NGSI v2 geo:point "lat, lon"
        parts = raw.split(",")
        if len(parts) != 2:
            raise Rejected("invalid_location", say("location {value} is not 'lat, lon'", value=repr(raw)))
        lat, lon = (to_number(p, "location") for p in parts)
        return {"type": "Point", "coordinates": _checked_position([lon, lat])}
    if not isinstance(raw, dict):
        raise Rejected("invalid_location", say("location must be GeoJSON, got {kind}", kind=type(raw).__name__))
    kind, coordinates = raw.get("type"), raw.get("coordinates")
    if kind == "Point":
        return {"type": "Point", "coordinates": _checked_position(coordinates)}
    if kind == "LineString":
        if not isinstance(coordinates, list) or len(coordinates) < 2:
            raise Rejected("invalid_location", say("a LineString needs at least two positions"))
        if all(type(p) is list and len(p) == 2 and type(p[0]) is float and type(p[1]) is float
               and -180.0 <= p[0] <= 180.0 and -90.0 <= p[1] <= 90.0 for p in coordinates):
            return {"type": "LineString", "coordinates": coordinates}  # well-formed: taken as is (hot path)
        return {"type": "LineString", "coordinates": [_checked_position(p) for p in coordinates]}
    raise Rejected("invalid_location", say("location type {kind} is not Point or LineString", kind=repr(kind)))


def _checked_position(position: Any) -> list[float]:
    if not isinstance(position, (list, tuple)) or len(position) < 2:
        raise Rejected("invalid_location", say("position {position} is not [lon, lat]", position=repr(position)))
    lon, lat = position[0], position[1]
    if type(lon) is not float or type(lat) is not float:  # the common case needs no conversion (hot path)
        lon, lat = to_number(lon, "location"), to_number(lat, "location")
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise Rejected("invalid_location", say("position {position} is outside the world",
                                               position=f"[{lon}, {lat}]"))
    return [lon, lat]


def representative_point(geometry: dict) -> tuple[float, float]:
    if geometry["type"] == "Point":
        lon, lat = geometry["coordinates"]
        return lon, lat
    coordinates = geometry["coordinates"]
    lon = sum(p[0] for p in coordinates) / len(coordinates)
    lat = sum(p[1] for p in coordinates) / len(coordinates)
    return lon, lat


def _observation_time(attributes: CaseInsensitiveAttributes, keys: tuple[str, ...],
                      received_at: datetime) -> datetime | None:
    for key in keys:
        raw = attributes.get(key)
        if raw is None:
            continue
        moment = parse_time(raw, key)
        if moment - received_at > MAX_FUTURE:
            raise Rejected("invalid_timestamp", say("{name}={value} lies in the future", name=key, value=repr(raw)))
        return moment
    return None


def parse_time(raw: Any, name: str = "time") -> datetime:
    """ISO 8601 to aware UTC; an interval ``a/b`` gives its end; naive times are UTC."""
    if not isinstance(raw, str) or not raw.strip():
        raise Rejected("invalid_timestamp", say("{name} must be an ISO 8601 string, got {value}", name=name,
                                                value=repr(raw)))
    text = raw.strip().split("/")[-1]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Rejected("invalid_timestamp", say("{name}={value} is not ISO 8601", name=name,
                                                value=repr(raw))) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise Rejected("invalid_timestamp", say("{name}={value} is outside the representable range", name=name,
                                                value=repr(raw))) from None


def from_unix_seconds(raw: Any, name: str = "time") -> datetime:
    """Unix seconds (as feeds such as Digitraffic and HSL send them) to aware UTC."""
    try:
        return datetime.fromtimestamp(to_number(raw, name), timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise Rejected("invalid_timestamp", say("{name}={value} is not a Unix time", name=name,
                                                value=repr(raw))) from None


def _optional_text(raw: Any, name: str | None = None) -> str | None:
    if raw is None:
        return None
    if isinstance(raw, (str, int, float)) and not isinstance(raw, bool):
        text = str(raw).strip()
        return text or None
    if name:
        raise Rejected("invalid_value", say("{name} must be text, got {kind}", name=name, kind=type(raw).__name__))
    raise Rejected("invalid_value", say("expected text, got {kind}", kind=type(raw).__name__))

