"""The alarm lifecycle: commands that raise, acknowledge, clear, assign, comment and escalate
alarms, and the seam that opens an incident for an alarm.

States (like ThingsBoard, plus escalation): an alarm is active or cleared, and unacknowledged
or acknowledged. It is *open* while active or unacknowledged and *closed* once cleared and
acknowledged. There is at most one open alarm per (rule, device), held by the unique
``open_key``: a repeat of the condition counts on the open alarm instead of duplicating it, and
a re-trigger within the rule's ``min_reraise`` of its clear re-activates the same alarm
(damping flapping). Every command is ``validate()`` (the principal's permission, the input) then ``run()``: one
transaction that
writes the alarm, its event history and the audit log; publishing to MQTT follows from the
alarm's ``revision`` (see services/alarms_publish.py), never from the web process.
"""
from __future__ import annotations

from abc import abstractmethod

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from sqlmodel import select as orm_select

from services.access.principal import Principal
from services.audit import record
from services.commands import Command, Refused
from services.db import session_scope
from services.i18n import Said, Term, _, recorded, say, with_said
from services.models import Alarm, AlarmEvent, utcnow

log = logging.getLogger("cityops.alarms")

SEVERITIES = ("informational", "low", "medium", "high", "critical")  # SDM Alert vocabulary, ascending
SYSTEM_ACTOR = "system:rules"
MAX_COMMENT = 2000


def next_severity(severity: str) -> str:
    index = SEVERITIES.index(severity) if severity in SEVERITIES else 2
    return SEVERITIES[min(index + 1, len(SEVERITIES) - 1)]


# ---------------------------------------------------------------- what pages and the API see

@dataclass(frozen=True)
class AlarmView:
    id: int
    rule_id: str
    rule_name: str
    device_id: str
    device_type: str | None
    device_name: str | None
    district: str | None
    category: str
    sub_category: str
    severity: str
    base_severity: str
    escalation_level: int
    active: bool
    acknowledged: bool
    description: str
    metric: str | None
    value: float | None
    threshold: float | None
    lon: float | None
    lat: float | None
    started_at: datetime
    raised_at: datetime
    last_raised_at: datetime
    repeat_count: int
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    cleared_at: datetime | None
    cleared_by: str | None
    assignee: str | None
    incident_id: int | None
    updated_at: datetime
    drill: str | None = None  # raised from a drill's readings: a DRILL badge, never scored (services/drills.py)

    @property
    def escalated(self) -> bool:
        return self.escalation_level > 0

    @property
    def state(self) -> str:
        """ThingsBoard-style: ACTIVE_UNACK, ACTIVE_ACK, CLEARED_UNACK, CLEARED_ACK."""
        return f"{'active' if self.active else 'cleared'}_{'ack' if self.acknowledged else 'unack'}"

    @property
    def open(self) -> bool:
        return self.active or not self.acknowledged

    @classmethod
    def of(cls, row) -> "AlarmView":
        return cls(**{name: getattr(row, name) for name in cls.__dataclass_fields__})

    def as_json(self) -> dict:
        body = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name, value in body.items():
            if isinstance(value, datetime):
                body[name] = _iso(value)
        body["location"] = None if self.lon is None else {"type": "Point", "coordinates": [self.lon, self.lat]}
        body.pop("lon"), body.pop("lat")
        body.update(state=self.state, escalated=self.escalated, open=self.open)
        return body


@dataclass(frozen=True)
class AlarmEventView:
    at: datetime
    kind: str
    actor: str
    text: str | None
    data: dict | None

    def as_json(self) -> dict:
        return {"at": _iso(self.at), "kind": self.kind, "actor": self.actor, "text": self.text, "data": self.data}


STATE_FILTERS = ("open", "active", "cleared", "unacknowledged", "acknowledged", "escalated", "all")
RAISING_KINDS = ("raised", "repeated", "reactivated")  # the history entries that (re)write the description


def shown_description(alarm, history: list[AlarmEventView]) -> str:
    """The alarm's description in the reader's language: as said by the newest raising in its history, whose
    text is the description's English, else as stored (a rule's own words, alarms older than this)."""
    raising = max((event for event in history if event.kind in RAISING_KINDS), key=lambda event: event.at,
                  default=None)
    return _as_said(alarm.description, raising.text, raising.data) if raising else alarm.description


def _as_said(description: str, raising_text: str | None, raising_data) -> str:
    """The description rendered from what its raising said, when that raising wrote this description."""
    return recorded(description, raising_data) if raising_text == description else description


def shown_descriptions(engine: Engine, alarms: list) -> dict[int, str]:
    """Each alarm's description in the reader's language (as ``shown_description``) for a list or the strip: the
    newest raising of each, read in one query."""
    if not alarms:
        return {}
    query = select(AlarmEvent.alarm_id, AlarmEvent.text, AlarmEvent.data).where(
        AlarmEvent.alarm_id.in_([alarm.id for alarm in alarms]), AlarmEvent.kind.in_(RAISING_KINDS)).order_by(
        AlarmEvent.alarm_id, AlarmEvent.at, AlarmEvent.id)
    with engine.connect() as connection:
        newest = {alarm_id: (text, data) for alarm_id, text, data in connection.execute(query)}
    return {alarm.id: _as_said(alarm.description, *newest.get(alarm.id, (None, None))) for alarm in alarms}


@dataclass(frozen=True)
class AlarmFilter:
    state: str = "open"
    severities: tuple[str, ...] = ()
    rule_id: str | None = None
    device: str | None = None  # a device id, or part of it / of its name
    district: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 200

    def validate(self) -> "AlarmFilter":
        if self.state not in STATE_FILTERS:
            raise Refused("invalid_value", _("state must be one of {choices}",
                                             choices=', '.join(STATE_FILTERS)), 400, "state")
        for severity in self.severities:
            if severity not in SEVERITIES:
                raise Refused("invalid_value", _("severity must be one of {choices}",
                                                 choices=', '.join(SEVERITIES)), 400, "severity")
        if self.since and self.until and self.since > self.until:
            raise Refused("invalid_range", _("since must not be after until"), 400, "since")
        return self


def list_alarms(engine: Engine, filters: AlarmFilter = AlarmFilter()) -> list[AlarmView]:
    """Alarms newest first (active and critical ones are what screens put on top themselves)."""
    query = select(Alarm)
    state = filters.state
    conditions = {
        "open": Alarm.open_key.is_not(None), "active": Alarm.active.is_(True), "cleared": Alarm.active.is_(False),
        "unacknowledged": Alarm.acknowledged.is_(False), "acknowledged": Alarm.acknowledged.is_(True),
        "escalated": and_(Alarm.escalation_level > 0, Alarm.open_key.is_not(None)),
    }
    if state in conditions:
        query = query.where(conditions[state])
    if filters.severities:
        query = query.where(Alarm.severity.in_(filters.severities))
    if filters.rule_id:
        query = query.where(Alarm.rule_id == filters.rule_id)
    if filters.device:
        pattern = f"%{filters.device.lower()}%"
        query = query.where(or_(func.lower(Alarm.device_id).like(pattern), func.lower(Alarm.device_name).like(pattern)))
    if filters.district:
        query = query.where(Alarm.district == filters.district)
    if filters.since:
        query = query.where(Alarm.last_raised_at >= filters.since)
    if filters.until:
        query = query.where(Alarm.raised_at <= filters.until)
    query = query.order_by(Alarm.last_raised_at.desc(), Alarm.id.desc()).limit(filters.limit)
    with engine.connect() as connection:
        return [AlarmView.of(row) for row in connection.execute(query)]


def get_alarm(engine: Engine, alarm_id: int) -> AlarmView | None:
    with engine.connect() as connection:
        row = connection.execute(select(Alarm).where(Alarm.id == alarm_id)).first()
    return AlarmView.of(row) if row else None


def alarm_history(engine: Engine, alarm_id: int) -> list[AlarmEventView]:
    with engine.connect() as connection:
        rows = connection.execute(select(AlarmEvent).where(AlarmEvent.alarm_id == alarm_id)
                                  .order_by(AlarmEvent.at, AlarmEvent.id))
        return [AlarmEventView(row.at, row.kind, row.actor, row.text, row.data) for row in rows]


@dataclass(frozen=True)
class StripSummary:
    """What the alarm strip on every page shows."""

    active: int
    unacknowledged: int
    critical_unacknowledged: int
    newest: tuple[AlarmView, ...]
    newest_critical_id: int | None  # the newest active, unacknowledged critical alarm (sound + flash)


def strip_summary(engine: Engine, limit: int = 4) -> StripSummary:
    with engine.connect() as connection:
        counts = connection.execute(select(
            func.count().filter(Alarm.active.is_(True)),
            func.count().filter(Alarm.acknowledged.is_(False), Alarm.open_key.is_not(None)),
            func.count().filter(Alarm.acknowledged.is_(False), Alarm.active.is_(True), Alarm.severity == "critical"),
        ).where(Alarm.open_key.is_not(None))).one()
        newest = [AlarmView.of(row) for row in connection.execute(
            select(Alarm).where(Alarm.active.is_(True))
            .order_by(Alarm.acknowledged, Alarm.last_raised_at.desc()).limit(50))]
        critical_id = connection.execute(
            select(func.max(Alarm.id)).where(Alarm.active.is_(True), Alarm.acknowledged.is_(False),
                                             Alarm.severity == "critical")).scalar()
    rank = {severity: i for i, severity in enumerate(SEVERITIES)}
    newest.sort(key=lambda a: (a.acknowledged, -rank.get(a.severity, 0), -a.last_raised_at.timestamp()))
    return StripSummary(active=counts[0] or 0, unacknowledged=counts[1] or 0, critical_unacknowledged=counts[2] or 0,
                        newest=tuple(newest[:limit]), newest_critical_id=critical_id)


def alarm_districts(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return sorted(d for (d,) in connection.execute(select(Alarm.district).distinct()) if d)


# ---------------------------------------------------------------- commands

def _snapshot(alarm: Alarm) -> dict:
    return {"active": alarm.active, "acknowledged": alarm.acknowledged, "severity": alarm.severity,
            "assignee": alarm.assignee, "escalation_level": alarm.escalation_level,
            "repeat_count": alarm.repeat_count, "incident_id": alarm.incident_id}


def _event(session: Session, alarm: Alarm, kind: str, actor: str, text: Said | str | None = None,
           data: dict | None = None, now: datetime | None = None) -> None:
    """An entry of the alarm's history: ``text`` stored in English, with what was said (a ``Said``) for the
    screens (services/i18n.py ``recorded``); a ``str`` is a person's or a rule's own words."""
    said = text if isinstance(text, Said) else None
    session.add(AlarmEvent(alarm_id=alarm.id, at=now or utcnow(), kind=kind, actor=actor,
                           text=said.english if said else text, data=with_said(data, said)))


def _touch(alarm: Alarm, now: datetime, publish: bool = True) -> None:
    alarm.updated_at = now
    if publish:
        alarm.revision += 1
    if not alarm.active and alarm.acknowledged:
        alarm.open_key = None  # closed: a new occurrence opens a new alarm


def _load_for_update(session: Session, alarm_id: int) -> Alarm:
    if not isinstance(alarm_id, int) or isinstance(alarm_id, bool):
        raise Refused.invalid(_("an alarm id is an integer"), "id")
    alarm = session.get(Alarm, alarm_id, with_for_update=True)
    if alarm is None:
        raise Refused.not_found(_("no alarm {alarm_id}", alarm_id=alarm_id), "id")
    return alarm


class _AlarmCommand(Command):
    """Loads one alarm for update, checks its state, changes it, records event + audit, commits."""

    action = "alarm.change"

    def __init__(self, engine: Engine, principal: Principal, alarm_id: int):
        self.engine, self.principal, self.alarm_id = engine, principal, alarm_id

    @property
    def permission(self) -> str:
        return self.action

    @property
    def actor(self) -> str:
        return self.principal.name

    def check_state(self, alarm: Alarm) -> None:  # inside the transaction
        pass

    @abstractmethod
    def apply(self, session: Session, alarm: Alarm, now: datetime) -> None:
        """The change itself (each command its own)."""

    def run(self, at: datetime | None = None) -> AlarmView:
        """``at``: the moment it happened (the demo's played past, services/simulator/history.py); else now."""
        now = at or utcnow()
        with session_scope(self.engine) as session:
            alarm = _load_for_update(session, self.alarm_id)
            self.check_state(alarm)
            before = _snapshot(alarm)
            self.apply(session, alarm, now)
            record(session, self.actor, self.action, f"alarm:{alarm.id}", before, _snapshot(alarm))
            session.flush()
            return AlarmView.of(alarm)


class AcknowledgeAlarm(_AlarmCommand):
    action = "alarm.acknowledge"

    def check_state(self, alarm: Alarm) -> None:
        if alarm.acknowledged:
            raise Refused.conflict("already_acknowledged",
                                   _("alarm {id} was acknowledged by {acknowledged_by}",
                                     id=alarm.id, acknowledged_by=alarm.acknowledged_by))

    def apply(self, session, alarm, now):
        alarm.acknowledged, alarm.acknowledged_at, alarm.acknowledged_by = True, now, self.actor
        _event(session, alarm, "acknowledged", self.actor, now=now)
        _touch(alarm, now)


class ClearAlarm(_AlarmCommand):
    """An operator clears an alarm (the rules clear theirs with ``clear_by_rule``)."""

    action = "alarm.clear"

    def __init__(self, engine: Engine, principal: Principal, alarm_id: int, note: str | None = None):
        super().__init__(engine, principal, alarm_id)
        self.note = (note or "").strip() or None

    def check(self) -> None:
        if self.note and len(self.note) > MAX_COMMENT:
            raise Refused.invalid(_("a note is at most {MAX_COMMENT} characters", MAX_COMMENT=MAX_COMMENT), "note")

    def check_state(self, alarm):
        if not alarm.active:
            raise Refused.conflict("already_cleared", _("alarm {id} is already cleared", id=alarm.id))

    def apply(self, session, alarm, now):
        alarm.active, alarm.cleared_at, alarm.cleared_by = False, now, self.actor
        _event(session, alarm, "cleared", self.actor, self.note, now=now)
        _touch(alarm, now)


class AssignAlarm(_AlarmCommand):
    action = "alarm.assign"

    def __init__(self, engine: Engine, principal: Principal, alarm_id: int, assignee: str | None):
        super().__init__(engine, principal, alarm_id)
        self.assignee = (assignee or "").strip() or None

    def check(self) -> None:
        if self.assignee and len(self.assignee) > 128:
            raise Refused.invalid(_("an assignee is at most 128 characters"), "assignee")

    def check_state(self, alarm):
        if alarm.open_key is None:
            raise Refused.conflict("closed", _("alarm {id} is closed (cleared and acknowledged)", id=alarm.id))

    def apply(self, session, alarm, now):
        alarm.assignee = self.assignee
        _event(session, alarm, "assigned", self.actor, self.assignee or say("(unassigned)"), now=now)
        _touch(alarm, now, publish=False)


class CommentAlarm(_AlarmCommand):
    action = "alarm.comment"

    def __init__(self, engine: Engine, principal: Principal, alarm_id: int, text: str | None):
        super().__init__(engine, principal, alarm_id)
        self.text = (text or "").strip()

    def check(self) -> None:
        if not self.text:
            raise Refused.invalid(_("a comment needs text"), "text")
        if len(self.text) > MAX_COMMENT:
            raise Refused.invalid(_("a comment is at most {MAX_COMMENT} characters", MAX_COMMENT=MAX_COMMENT), "text")

    def apply(self, session, alarm, now):
        _event(session, alarm, "commented", self.actor, self.text, now=now)
        _touch(alarm, now, publish=False)


class OpenIncidentFromAlarm(Command):
    """An operator opens the incident the alarm's rule offers (once; the existing one after that)."""

    permission = "alarm.open_incident"

    def __init__(self, runtime, principal: Principal, alarm_id: int):
        self.runtime, self.principal, self.alarm_id = runtime, principal, alarm_id
        self.request: IncidentRequest | None = None

    def check(self) -> None:
        from services.rules import RulesFile

        alarm = get_alarm(self.runtime.engine, self.alarm_id)
        if alarm is None:
            raise Refused.not_found(_("no alarm {alarm_id}", alarm_id=self.alarm_id), "alarm_id")
        settings = self.runtime.settings
        rule = RulesFile(settings.rules_file, settings.aqi_standard).current().by_id.get(alarm.rule_id)
        self.request = rule.incident_request() if rule else None
        if self.request is None:
            raise Refused.conflict("no_incident", _("the rule {rule_id} does not offer an incident",
                                                    rule_id=repr(alarm.rule_id)))

    def run(self) -> int:
        return open_incident_for_alarm(self.runtime.engine, self.alarm_id, self.principal, self.request,
                                       runtime=self.runtime)


# ---------------------------------------------------------------- raised and cleared by the rules

@dataclass(frozen=True)
class Trigger:
    """A rule's condition held on a device: what RaiseAlarm needs to know."""

    rule_id: str
    rule_name: str
    device_id: str
    device_type: str | None
    device_name: str | None
    district: str | None
    category: str
    sub_category: str
    severity: str
    description: str
    metric: str | None
    value: float | None
    threshold: float | None
    lon: float | None
    lat: float | None
    started_at: datetime
    min_reraise_s: float = 600.0
    said: Said | None = None  # the description as CityOps said it (description is its English sentence)

    @property
    def open_key(self) -> str:
        return f"{self.rule_id}|{self.device_id}"


@dataclass(frozen=True)
class RaiseOutcome:
    alarm: AlarmView
    outcome: str  # new | repeated | reactivated


class RaiseAlarm:
    """The rules raise an alarm: new, or counted on the open one, or the recent one re-activated."""

    def __init__(self, trigger: Trigger, actor: str = SYSTEM_ACTOR):
        self.trigger = trigger
        self.actor = actor

    def validate(self) -> "RaiseAlarm":
        if self.trigger.severity not in SEVERITIES:
            raise Refused.invalid(_("unknown severity {severity}", severity=repr(self.trigger.severity)), "severity")
        return self

    def run(self, engine: Engine) -> RaiseOutcome:
        try:
            with session_scope(engine) as session:
                return self.run_in(session)
        except IntegrityError:  # another process opened it at the same moment: count on that one
            with session_scope(engine) as session:
                return self.run_in(session)

    def run_in(self, session: Session, at: datetime | None = None) -> RaiseOutcome:
        """The raise inside the caller's transaction (the rules: with their reaction cursor); ``at``: the moment
        of the reading that raised it, in the demo's played past (services/simulator/history.py), else now."""
        t, now = self.trigger, at or utcnow()
        alarm = session.exec(orm_select(Alarm).where(Alarm.open_key == t.open_key).with_for_update()).first()
        if alarm is None:
            recent = now - timedelta(seconds=t.min_reraise_s)
            alarm = session.exec(
                orm_select(Alarm).where(Alarm.rule_id == t.rule_id, Alarm.device_id == t.device_id,
                                        Alarm.open_key.is_(None), Alarm.cleared_at >= recent)
                .order_by(Alarm.cleared_at.desc()).limit(1).with_for_update()).first()
        if alarm is None:
            outcome, before = "new", None
            alarm = Alarm(
                open_key=t.open_key, rule_id=t.rule_id, rule_name=t.rule_name, device_id=t.device_id,
                device_type=t.device_type, device_name=t.device_name, district=t.district, category=t.category,
                sub_category=t.sub_category, severity=t.severity, base_severity=t.severity,
                description=t.description, metric=t.metric, value=t.value, threshold=t.threshold, lon=t.lon,
                lat=t.lat, started_at=t.started_at, raised_at=now, last_raised_at=now, updated_at=now,
            )
            session.add(alarm)
            session.flush()
            _event(session, alarm, "raised", self.actor, t.said or t.description,
                   {"value": t.value, "threshold": t.threshold}, now)
        else:
            before = _snapshot(alarm)
            outcome = "repeated" if alarm.active else "reactivated"
            alarm.repeat_count += 1
            alarm.last_raised_at, alarm.value, alarm.description = now, t.value, t.description
            if not alarm.active:
                alarm.active, alarm.cleared_at, alarm.cleared_by = True, None, None
                alarm.open_key = t.open_key
                alarm.started_at = t.started_at
            _event(session, alarm, outcome, self.actor, t.said or t.description,
                   {"value": t.value, "threshold": t.threshold}, now)
            _touch(alarm, now, publish=outcome == "reactivated")
        record(session, self.actor, f"alarm.{'raise' if outcome == 'new' else outcome.rstrip('d')}",
               f"alarm:{alarm.id}", before, _snapshot(alarm))
        session.flush()
        return RaiseOutcome(AlarmView.of(alarm), outcome)


def clear_by_rule(engine: Engine, rule_id: str, device_id: str, value: float | None, text: Said | str,
                  actor: str = SYSTEM_ACTOR) -> AlarmView | None:
    """The condition went away (past the clearing threshold, long enough): clears the open alarm."""
    with session_scope(engine) as session:
        return clear_by_rule_in(session, rule_id, device_id, value, text, actor)


def clear_by_rule_in(session: Session, rule_id: str, device_id: str, value: float | None, text: Said | str,
                     actor: str = SYSTEM_ACTOR, at: datetime | None = None) -> AlarmView | None:
    """``clear_by_rule`` inside the caller's transaction; ``at`` as ``RaiseAlarm.run_in``'s."""
    now = at or utcnow()
    alarm = session.exec(orm_select(Alarm).where(Alarm.open_key == f"{rule_id}|{device_id}", Alarm.active.is_(True))
                         .with_for_update()).first()
    if alarm is None:
        return None
    before = _snapshot(alarm)
    alarm.active, alarm.cleared_at, alarm.cleared_by = False, now, actor
    if value is not None:
        alarm.value = value
    _event(session, alarm, "cleared", actor, text, {"value": value}, now)
    _touch(alarm, now)
    record(session, actor, "alarm.clear", f"alarm:{alarm.id}", before, _snapshot(alarm))
    session.flush()
    return AlarmView.of(alarm)


def active_alarm_keys(engine: Engine) -> dict[tuple[str, str], datetime]:
    """(rule id, device id) -> condition start of every active alarm: the rule engine's source of truth."""
    with engine.connect() as connection:
        rows = connection.execute(select(Alarm.rule_id, Alarm.device_id, Alarm.started_at)
                                  .where(Alarm.active.is_(True), Alarm.open_key.is_not(None)))
        return {(r, d): started for r, d, started in rows}


# ---------------------------------------------------------------- escalation

def escalate_due(engine: Engine, escalate_after_s: dict[str, float], now: datetime | None = None) -> list[AlarmView]:
    """Raises by one step the severity of each active alarm nobody acknowledged within its rule's
    time (counted from its raise, then from its last escalation); stops at critical. While the demo's past is
    being played, its alarms are not escalated: the history operator acknowledges each at its past moment, and
    an alarm raised days ago is overdue by the clock before anyone could (a 10 s check between the rules
    raising it and the operator catching up escalated it, as if the past's operator had been late)."""
    from services.simulator.history import past_in_play

    now = now or utcnow()
    escalated: list[AlarmView] = []
    if not escalate_after_s:
        return escalated
    due = and_(Alarm.active.is_(True), Alarm.acknowledged.is_(False), Alarm.severity != "critical",
               Alarm.rule_id.in_(list(escalate_after_s)))
    past = past_in_play(engine)
    if past is not None:
        due = and_(due, Alarm.raised_at >= past)
    with engine.connect() as connection:
        candidates = connection.execute(
            select(Alarm.id, Alarm.rule_id, Alarm.raised_at, Alarm.escalated_at, Alarm.severity).where(due)).all()
    for row in candidates:
        since = row.escalated_at or row.raised_at
        if (now - since).total_seconds() < escalate_after_s[row.rule_id]:
            continue
        with session_scope(engine) as session:
            alarm = session.get(Alarm, row.id, with_for_update=True)
            if alarm is None or not alarm.active or alarm.acknowledged or alarm.severity == "critical":
                continue
            before = _snapshot(alarm)
            old = alarm.severity
            alarm.severity = next_severity(old)
            alarm.escalation_level += 1
            alarm.escalated_at = now
            text = say("not acknowledged within {seconds:g} s: {old} -> {new}", seconds=escalate_after_s[row.rule_id],
                       old=Term("severity_code", old), new=Term("severity_code", alarm.severity))
            _event(session, alarm, "escalated", SYSTEM_ACTOR, text, {"from": old, "to": alarm.severity}, now)
            _touch(alarm, now)
            record(session, SYSTEM_ACTOR, "alarm.escalate", f"alarm:{alarm.id}", before, _snapshot(alarm))
            session.flush()
            escalated.append(AlarmView.of(alarm))
    if escalated:
        log.info("escalated %d alarm(s)", len(escalated))
    return escalated


# ---------------------------------------------------------------- the incident seam

@dataclass(frozen=True)
class IncidentRequest:
    """What an alarm's rule says about the incident to open (from the rules file)."""

    category: str
    sub_category: str | None
    priority: int


def open_incident_for_alarm(engine: Engine, alarm_id: int, actor, request: IncidentRequest,
                            runtime=None) -> int | None:
    """Opens one incident for an alarm, once: returns its id (the existing one when already opened).

    The seam to dispatch, imported lazily so alarms work without it. ``actor`` is a name (the
    rules: acts as a dispatcher) or an ``auth.Principal`` (an operator: dispatch checks its role).
    A conditional update claims the alarm first, so two callers (the rules' auto-incident and an
    operator's click) never open two incidents; the incident id is stored on the alarm, and the
    incident carries ``external_id = "alarm:<id>"`` (unique in the incidents table) as a second guard.
    """
    with engine.begin() as connection:
        claimed = connection.execute(
            update(Alarm).where(Alarm.id == alarm_id, Alarm.incident_id.is_(None), Alarm.incident_requested.is_(False))
            .values(incident_requested=True)).rowcount
        row = connection.execute(select(Alarm).where(Alarm.id == alarm_id)).first()
    if row is None:
        raise Refused.not_found(_("no alarm {alarm_id}", alarm_id=alarm_id), "id")
    if not claimed:
        return row.incident_id  # opened before (or being opened right now by another caller)
    actor_name = getattr(actor, "name", actor)
    try:
        incident_id = _create_incident(engine, row, actor, request, runtime)
    except Exception:
        with engine.begin() as connection:  # give the claim back: a later attempt may succeed
            connection.execute(update(Alarm).where(Alarm.id == alarm_id).values(incident_requested=False))
        raise
    now = utcnow()
    with session_scope(engine) as session:
        alarm = session.get(Alarm, alarm_id, with_for_update=True)
        before = _snapshot(alarm)
        alarm.incident_id = int(incident_id)
        _event(session, alarm, "incident", actor_name, say("incident {incident_id} opened", incident_id=incident_id),
               {"incident_id": incident_id}, now)
        _touch(alarm, now)
        record(session, actor_name, "alarm.open_incident", f"alarm:{alarm_id}", before, _snapshot(alarm))
    log.info("alarm %s opened incident %s", alarm_id, incident_id)
    return int(incident_id)


def _create_incident(engine: Engine, row, actor, request: IncidentRequest, runtime) -> int:
    """Creates the alarm's incident through dispatch, in one transaction with everything it carries
    (a drill's alarm makes a drill's incident: no screen ever sees it unmarked)."""
    from services.dispatch import CreateIncident, DispatchContext
    from services.incidents import IncidentInput

    if runtime is None:
        from services.runtime import current

        runtime = current()
    title = f"{row.rule_name}: {row.device_name or row.device_id}"
    principal = actor if isinstance(actor, Principal) else Principal.system(str(actor))
    data = IncidentInput(request.category, request.sub_category, request.priority, row.lon, row.lat,
                         description=f"{title} — {row.description}", address=row.device_name,
                         source="alarm", external_id=f"alarm:{row.id}", drill=row.drill)
    command = CreateIncident(DispatchContext.of(runtime, engine=engine), principal, data)
    command.validate()
    return int(command.run().id)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")
