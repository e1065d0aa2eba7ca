"""Batched writes of parsed messages: observations once each, latest state per device.

One transaction per batch. The same observation delivered twice (QoS 1 redelivery, a replayed
batch, two ingest processes) is stored once: identity is (device id, observation time, type),
enforced by a unique constraint and ``ON CONFLICT DO NOTHING``, so it holds across processes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import datetime, timezone
from typing import Callable, Iterable

from sqlalchemy import JSON, Boolean, and_, bindparam, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services import fastjson
from services.i18n import Said, in_english
from services.models import (
    UTCDateTime,
    CitizenReport,
    Device,
    DeviceLatest,
    Observation,
    RejectedMessage,
    RejectionReason,
    UnitCommandReply,
)
from services.telemetry import CitizenRatingIn, CitizenReportIn, CommandReplyIn, ObservationIn, ParsedMessage
from services.unit_fixes import flag_impossible_fixes, moves_unit

MAX_KEPT_PAYLOAD = 16 * 1024

OBSERVATION_COLUMNS = ("device_id", "entity_type", "observed_at", "received_at", "lon", "lat", "values", "flags")
DEVICE_COLUMNS = ("id", "type", "registered", "lon", "lat", "geometry", "district", "out_of_area", "first_seen_at",
                  "last_observed_at", "last_received_at")
LATEST_COLUMNS = ("device_id", "entity_type", "observed_at", "received_at", "lon", "lat", "values", "flags")

OBSERVATIONS = Observation.__table__
DEVICES = Device.__table__
LATEST = DeviceLatest.__table__
REJECTED = RejectedMessage.__table__
REJECTION_REASONS = RejectionReason.__table__
REPORTS = CitizenReport.__table__
REPLIES = UnitCommandReply.__table__


@dataclass(frozen=True, slots=True)
class RejectedIn:
    """A message with rejections, kept once: its first reason, the further kept ones
    (``further``: (reason, detail) pairs) and how many rejections it had in all. A detail is said
    (services/i18n.py ``say``: kept in English and as said, for the reader's language) or a text kept as it is."""

    topic: str
    payload: bytes
    reason: str
    detail: Said | str
    received_at: datetime
    further: tuple[tuple[str, Said | str], ...] = ()
    count: int = 1

    @classmethod
    def of(cls, topic: str, payload: bytes, received_at: datetime, parsed: ParsedMessage) -> RejectedIn:
        """A parsed message with rejections, kept once with its first reasons."""
        first, *further = parsed.rejections
        return cls(topic, payload, first.reason, first.told, received_at,
                   tuple((rejection.reason, rejection.told) for rejection in further), parsed.rejection_count)


@dataclass
class Batch:
    observations: list[ObservationIn] = field(default_factory=list)
    reports: list[CitizenReportIn] = field(default_factory=list)
    replies: list[CommandReplyIn] = field(default_factory=list)
    rejected: list[RejectedIn] = field(default_factory=list)
    ratings: list[CitizenRatingIn] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.observations) + len(self.reports) + len(self.replies) + len(self.rejected) + len(self.ratings)


@dataclass(frozen=True)
class BatchResult:
    stored: int
    duplicates: int
    reports_stored: int
    replies_stored: int
    rejected_kept: int
    stored_observations: tuple[ObservationIn, ...] = ()
    stored_reports: tuple[CitizenReportIn, ...] = ()
    updated_reports: tuple[CitizenReportIn, ...] = ()  # known requests received again with a later status
    stored_replies: tuple[CommandReplyIn, ...] = ()


class ObservationStore:
    def __init__(self, engine: Engine, district_of: Callable[[float, float], str | None] = lambda lon, lat: None):
        self.engine = engine
        # what a citizen request's later status changes (its incident: services/dispatch.py), set by the runtime
        self.follow_report_updates: Callable[[Session, tuple[CitizenReportIn, ...]], object] | None = None
        # what a citizen's satisfaction answer changes (its work order: services/requests/intake.py), set by the
        # runtime; returns the answers it refused, each with its reason (kept as rejected messages)
        self.receive_ratings: Callable[[Session, tuple[CitizenRatingIn, ...]],
                                       list[tuple[CitizenRatingIn, str]]] | None = None
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        # a fixed sensor reports from the same spot every time: one point-in-polygon per spot
        self._district_of = lru_cache(maxsize=65_536)(district_of)
        self._observations = self._insert(OBSERVATIONS).on_conflict_do_nothing(
            index_elements=["device_id", "observed_at", "entity_type"])
        insert = self._insert(DEVICES)
        self._devices = insert.on_conflict_do_update(
            index_elements=["id"],
            set_={
                "lon": insert.excluded.lon, "lat": insert.excluded.lat, "out_of_area": insert.excluded.out_of_area,
                "last_observed_at": insert.excluded.last_observed_at,
                "last_received_at": insert.excluded.last_received_at,
                "first_seen_at": func.coalesce(DEVICES.c.first_seen_at, insert.excluded.first_seen_at),
            },
            where=or_(DEVICES.c.last_observed_at.is_(None),
                      DEVICES.c.last_observed_at <= insert.excluded.last_observed_at),
        )
        insert = self._insert(LATEST)
        self._latest = insert.on_conflict_do_update(
            index_elements=["device_id", "entity_type"],
            set_={name: insert.excluded[name] for name in LATEST_COLUMNS[2:]},
            where=LATEST.c.observed_at <= insert.excluded.observed_at,
        )
        self._bulk = {}
        if engine.dialect.name == "sqlite":
            self._bulk = {
                "observations": SqliteBulk(self._observations, OBSERVATIONS, OBSERVATION_COLUMNS),
                "devices": SqliteBulk(self._devices, DEVICES, DEVICE_COLUMNS),
                "latest": SqliteBulk(self._latest, LATEST, LATEST_COLUMNS),
            }

    def _run(self, connection, name: str, statement, rows: list[dict]) -> None:
        if name in self._bulk:
            self._bulk[name].execute(connection, rows)
        else:
            connection.execute(statement, rows)

    def write(self, batch: Batch) -> BatchResult:
        unique = list({(o.device_id, o.observed_at, o.entity_type): o for o in batch.observations}.values())
        with self.engine.begin() as connection:
            unique = flag_impossible_fixes(connection, unique)
            stored_keys = self._insert_observations(connection, unique)
            stored = [o for o in unique if (o.device_id, o.observed_at, o.entity_type) in stored_keys]
            if unique:
                self._upsert_devices(connection, unique)
            moving = [o for o in unique if moves_unit(o)]  # a bad fix of a unit does not move it
            if moving:
                self._upsert_latest(connection, moving)
            reports = self._insert_reports(connection, batch.reports)
            inserted = {r.external_id for r in reports}
            updated = self._update_reports(connection, [r for r in batch.reports if r.external_id not in inserted])
            if updated and self.follow_report_updates is not None:
                # in this transaction: a report updated in place leaves no new row for a reaction to find
                with Session(bind=connection) as session:
                    self.follow_report_updates(session, tuple(updated))
                    session.flush()
            replies = self._insert_replies(connection, batch.replies)
            rejected = batch.rejected + self._receive_ratings(connection, batch.ratings)
            if rejected:
                self._insert_rejected(connection, rejected)
        return BatchResult(
            stored=len(stored), duplicates=len(batch.observations) - len(stored),
            reports_stored=len(reports), replies_stored=len(replies),
            rejected_kept=len(rejected), stored_observations=tuple(stored),
            stored_reports=tuple(reports), stored_replies=tuple(replies), updated_reports=tuple(updated),
        )

    def _receive_ratings(self, connection, ratings: list[CitizenRatingIn]) -> list[RejectedIn]:
        """Applies the citizens' answers in this transaction (after this batch's reports, so an
        answer never waits for a later batch); a refused answer is kept with its reason."""
        if not ratings or self.receive_ratings is None:
            return []
        with Session(bind=connection) as session:
            refused = self.receive_ratings(session, tuple(ratings))
            session.flush()
        return [RejectedIn(r.topic, r.payload(), "request_refused", reason, r.received_at) for r, reason in refused]

    def _insert_observations(self, connection, observations: list[ObservationIn]) -> set[tuple]:
        """Inserts what is new; returns the identities that were inserted."""
        if not observations:
            return set()
        rows = [_observation_row(o) for o in observations]
        if "observations" in self._bulk:
            # SQLite counts an executemany exactly, so the per-row RETURNING fetch is not needed; when
            # some rows were already known, the new ones are those above the highest id before.
            highest_before = connection.execute(select(func.max(OBSERVATIONS.c.id))).scalar() or 0
            if self._bulk["observations"].execute(connection, rows) == len(rows):
                return {(o.device_id, o.observed_at, o.entity_type) for o in observations}
            return self._inserted_since(connection, highest_before, {o.device_id for o in observations})
        statement = self._observations.returning(OBSERVATIONS.c.device_id, OBSERVATIONS.c.observed_at,
                                                 OBSERVATIONS.c.entity_type)
        return {tuple(row) for row in connection.execute(statement, rows)}

    @staticmethod
    def _inserted_since(connection, highest_before: int, devices: set[str]) -> set[tuple]:
        """The identities this (single-writer SQLite) transaction inserted: ids above the old highest."""
        query = select(OBSERVATIONS.c.device_id, OBSERVATIONS.c.observed_at, OBSERVATIONS.c.entity_type).where(
            OBSERVATIONS.c.id > highest_before, OBSERVATIONS.c.device_id.in_(devices))
        return {tuple(row) for row in connection.execute(query)}

    def _upsert_devices(self, connection, observations: Iterable[ObservationIn]) -> None:
        newest: dict[str, ObservationIn] = {}
        for observation in observations:
            current = newest.get(observation.device_id)
            if current is None or observation.observed_at >= current.observed_at:
                newest[observation.device_id] = observation
        rows = [
            {
                "id": o.device_id, "type": o.entity_type, "registered": False,
                "lon": o.lon, "lat": o.lat, "geometry": o.geometry,
                "district": self._district_of(o.lon, o.lat), "out_of_area": "out_of_area" in o.flags,
                "first_seen_at": o.received_at, "last_observed_at": o.observed_at, "last_received_at": o.received_at,
            }
            for o in newest.values()
        ]
        self._run(connection, "devices", self._devices, rows)

    def _upsert_latest(self, connection, observations: Iterable[ObservationIn]) -> None:
        newest: dict[tuple[str, str], ObservationIn] = {}
        for observation in observations:
            key = (observation.device_id, observation.entity_type)
            current = newest.get(key)
            if current is None or observation.observed_at >= current.observed_at:
                newest[key] = observation
        stored_at = datetime.now(timezone.utc)  # the live map reads "stored since" (services/live_layers.py)
        self._run(connection, "latest", self._latest, [
            {"device_id": o.device_id, "entity_type": o.entity_type, "observed_at": o.observed_at,
             "received_at": stored_at, "lon": o.lon, "lat": o.lat, "values": o.values,
             "flags": ",".join(o.flags) or None}
            for o in newest.values()
        ])

    @staticmethod
    def _insert_rejected(connection, rejected: list[RejectedIn]) -> None:
        """One row (and one bounded payload copy) per message; its further reasons point to it."""
        single = [_rejected_row(r) for r in rejected if not r.further]
        if single:
            connection.execute(REJECTED.insert(), single)
        for message in (r for r in rejected if r.further):
            message_id = connection.execute(REJECTED.insert().returning(REJECTED.c.id),
                                            _rejected_row(message)).scalar_one()
            connection.execute(REJECTION_REASONS.insert(), [
                {"message_id": message_id, "reason": reason, **_told(detail)} for reason, detail in message.further])

    def _insert_reports(self, connection, reports: list[CitizenReportIn]) -> list[CitizenReportIn]:
        """Stores new reports; returns those that were new (a replayed report is stored once)."""
        if not reports:
            return []
        unique = {r.external_id: r for r in reports}
        statement = (self._insert(REPORTS).on_conflict_do_nothing(index_elements=["external_id"])
                     .returning(REPORTS.c.external_id))
        rows = [{**{name: getattr(r, name) for name in r.__slots__}, "district": self._district_of(r.lon, r.lat)}
                for r in unique.values()]
        return [unique[external_id] for (external_id,) in connection.execute(statement, rows)]

    @staticmethod
    def _update_reports(connection, reports: list[CitizenReportIn]) -> list[CitizenReportIn]:
        """Known requests received again: those with a newer ``updated_datetime`` (or, where neither
        message has one, another status) replace the stored status; returns them. A redelivery, or
        an older update arriving late, changes nothing."""
        changed = []
        for report in sorted(reports, key=lambda r: r.updated_at or r.received_at):
            if report.updated_at is not None:
                newer = or_(REPORTS.c.updated_at.is_(None), REPORTS.c.updated_at < report.updated_at)
            else:
                newer = and_(REPORTS.c.updated_at.is_(None), REPORTS.c.status.is_distinct_from(report.status))
            statement = (REPORTS.update().where(REPORTS.c.external_id == report.external_id, newer)
                         .values(status=report.status, updated_at=report.updated_at,
                                 description=func.coalesce(report.description, REPORTS.c.description)))
            if connection.execute(statement).rowcount == 1:
                changed.append(report)
        return changed

    def _insert_replies(self, connection, replies: list[CommandReplyIn]) -> list[CommandReplyIn]:
        """Stores new command replies; returns those that were new."""
        if not replies:
            return []
        unique = {(r.unit_id, r.cmd_id, r.result): r for r in replies}
        statement = (
            self._insert(REPLIES)
            .on_conflict_do_nothing(index_elements=["unit_id", "cmd_id", "result"])
            .returning(REPLIES.c.unit_id, REPLIES.c.cmd_id, REPLIES.c.result)
        )
        rows = [{name: getattr(r, name) for name in r.__slots__} for r in unique.values()]
        return [unique[tuple(row)] for row in connection.execute(statement, rows)]


class SqliteBulk:
    """A SQLAlchemy statement run as a plain ``executemany`` on SQLite.

    The SQL is compiled once; rows are dicts converted here by column type to exactly what
    SQLAlchemy would bind (naive-UTC text times, JSON text, 0/1). Skipping SQLAlchemy's
    per-row processing took a third off the ingest's write time; the statement, and so the
    SQL, is the one the PostgreSQL path executes.
    """

    def __init__(self, statement, table, columns: tuple[str, ...]):
        statement = statement.values({name: bindparam(name) for name in columns})
        compiled = statement.compile(dialect=sqlite.dialect())
        self.sql = str(compiled)
        self.order = list(compiled.positiontup)
        converters = {name: _sqlite_converter(table.c[name].type) for name in columns}
        self.converters = [converters[name] for name in self.order]

    def execute(self, connection, rows: list[dict]) -> int:
        order, converters = self.order, self.converters
        prepared = [tuple(convert(row[name]) for name, convert in zip(order, converters)) for row in rows]
        return connection.exec_driver_sql(self.sql, prepared).rowcount


def _sqlite_converter(column_type):
    if isinstance(column_type, UTCDateTime):
        return _sqlite_time
    if isinstance(column_type, JSON):
        return lambda value: None if value is None else fastjson.dumps(value)
    if isinstance(column_type, Boolean):
        return lambda value: None if value is None else int(value)
    return lambda value: value


def _sqlite_time(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is not timezone.utc:
        moment = moment.astimezone(timezone.utc)
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _observation_row(observation: ObservationIn) -> dict:
    return {
        "device_id": observation.device_id, "entity_type": observation.entity_type,
        "observed_at": observation.observed_at, "received_at": observation.received_at,
        "lon": observation.lon, "lat": observation.lat, "values": observation.values,
        "flags": ",".join(observation.flags) or None,
    }


def _rejected_row(rejected: RejectedIn) -> dict:
    return {
        "received_at": rejected.received_at, "topic": _clean(rejected.topic)[:512],
        "payload": rejected.payload[:MAX_KEPT_PAYLOAD], "payload_size": len(rejected.payload),
        "reason": rejected.reason, **_told(rejected.detail), "rejection_count": rejected.count,
    }


def _told(detail: Said | str) -> dict:
    """A rejection's detail columns: in English (the API and exports read it) and, when said, as said (the sensors
    page shows it in its reader's language)."""
    said = None
    if isinstance(detail, Said):
        said = _bounded(detail.stored())
        text = fastjson.dumps(said)
        if "\\u0000" in text:  # what was sent, quoted in it, may hold NUL characters
            said = fastjson.loads(text.replace("\\u0000", "\\ufffd"))
    return {"detail": _clean(in_english(detail))[:2000], "said": said}


def _bounded(value, most: int = 500):
    """What was said with each quoted value cut to ``most`` characters (as the English detail is cut): a
    rejection never keeps a large part of its payload twice."""
    if isinstance(value, str):
        return value if len(value) <= most else value[:most] + "…"
    if isinstance(value, dict):
        return {key: _bounded(item, most) for key, item in value.items()}
    if isinstance(value, list):
        return [_bounded(item, most) for item in value]
    return value


def _clean(text: str) -> str:
    """Text a database accepts: PostgreSQL refuses NUL characters, which a rejection must not stop on."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text
