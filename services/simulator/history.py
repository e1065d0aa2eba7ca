"""The demo city's past, played once at start-up, so the scorecards open with weeks of history.

The past goes the way the present does: the simulator publishes it over MQTT and CityOps's ingest
stores it; the people in it act through CityOps's commands. Only coarser and faster:

- Telemetry: every device reports once an hour (``CitySimulator.past``), with its past observation
  time; the weather and the water move on in one-minute steps between two reports.
- Citizens: the same seeded reports the live simulator makes (reports.py), and 112 calls (traffic
  accidents, fires, injured people; the live demo leaves those to its drills), published on
  ``<root>/reports`` when they happened.
- Dispatchers and units: each incident is dispatched through ``DispatchUnit`` at its past moment by
  ``HISTORY_DISPATCHER``; the unit's replies (accepted, arrived, cleared) follow on
  ``<root>/units/<id>/cmdexe`` with their past times. The live units ignore these commands (issued
  before the live simulator started) and the acceptance timeout leaves them alone.
- The hotline: agents, departments and citizens (hotline.py) play the orders through the same
  commands, every step at its past moment and in the order of those moments (an order is read as it stood
  then); the citizens' ratings go out over MQTT.
- Alarms: the rules raise and clear them on the past's readings at those readings' moments (services/rules.py
  reads the window from the audit log), and the operator on duty (``HistoryOperator``) acknowledges each a
  seeded while after it was raised, sooner the more severe, at that past moment, as the play goes on.

The play begins once an ingest process listens (and, in ``serve``, has stored the live simulator's back-fill) and
goes at the ingest's pace (``IngestPace``): a broker drops what nobody listens to, and what passes its queue for a
slow subscriber. The reports go first, all 30 days of them, then the telemetry, while the dispatchers and the hotline
play the incidents and orders the reports opened (they need none of the telemetry; the incidents the rules open on
it are dispatched after). One after the other, the play took two and a half minutes; so, under two.

What the commands cannot take from the wire is when CityOps received a message: a report, reply or
rating of the past carries ``recordedAt`` (the moment it was received then), which the ingest
honours only in the demo with history (``Settings.accepts_recorded_at``). The play itself is audited:
one ``simulator.history`` entry (window, seed, counts), and every command it runs is audited as
anyone's under a ``simulator: ...`` principal, at the real time of writing, with the past times in
its snapshot.

The window is ``[now - days, now - live back-fill)``, its start on the hour and its end on the minute (the
live back-fill takes over there, so no hour goes without a reading), cut at the oldest observation already
stored; the last hour's reports are made at its start, as every hour's. The audit log says whether a play
finished: a second start after a finished one plays nothing; after an interrupted one it plays the same
window again, whole (observations, reports and their orders and incidents are stored once; the players
carry on where things stand).
Deterministic with the seed, apart from what depends on the order the ingest stores things in.
"""
from __future__ import annotations

import asyncio
import heapq
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial

import aiomqtt
from sqlalchemy import func, or_, select

from services.access.principal import Principal
from services.audit import record
from services.db import session_scope
from services.models import (Alarm, AuditEntry, CitizenReport, Incident, Observation, ReactionCursor, WorkOrder,
                            utcnow)
from services.telemetry import RECORDED_AT

from .common import OutgoingMessage, iso, message, point
from .hotline import HotlineDesk, HotlinePlayers
from .model import CitySimulator

log = logging.getLogger("cityops.simulator.history")

EVERY = timedelta(hours=1)  # the past's telemetry interval
HISTORY_ACTOR = "simulator: history"
HISTORY_OPERATOR = "simulator: history operator"
# raised -> acknowledged by the operator on duty, by the severity the alarm was raised with (seconds)
ACKNOWLEDGE_S = {"critical": (20, 120), "high": (30, 300), "medium": (60, 600), "low": (120, 1200),
                 "informational": (120, 1800)}
STARTED, FINISHED = "simulator.history", "simulator.history.done"  # the audit log's entries of a play
CALLS_PER_HOUR = 0.3  # 112 calls in the past: about seven a day
CALLS = (  # (service_code, service_name, description, weight)
    ("accident", "traffic accident", "Two cars collided at the crossing", 5.0),
    ("accident", "traffic accident", "A cyclist was hit by a van", 2.0),
    ("MCI", "injured people", "A person collapsed on the pavement", 3.0),
    ("fire", "fire", "Smoke coming out of a flat's window", 1.5),
    ("fire", "fire", "A car is on fire in the car park", 1.0),
)
TURNOUT_S = (20, 90)  # dispatch -> unit accepted
ON_SCENE_MIN = (10, 45)  # arrived -> cleared
PROCESSING_S = (25, 150)  # call created -> first dispatch
RETRIES = 50  # tries of an incident the present refuses (0.2 s apart) before the next go first
ROUNDS = 4  # hotline passes: a dissatisfied citizen reopens an order, which is played again
SCAN = timedelta(minutes=5)  # how finely the players' next moment is looked for
CATCH_UP_EVERY = 3  # hours of the past published before waiting for the ingest to store them
REPORT_HOURS = 48  # the reports' hours published before waiting for the ingest (about 250 reports)
# hours of the past before the operator on duty waits for the rules to read them and acknowledges what they raised:
# each wait lasts at least the reactions' hold-back (half a second), so every 3 hours it was most of the play (159
# of 219 s); an alarm cleared and raised again before the operator came back would be the same alarm, which the
# demo's seeded past never does in 12 hours (the same alarms, each acknowledged at the same moment, as every 3)
OPERATOR_EVERY = 12
READY_S = 60.0  # how long the play waits for an ingest process to listen and store the present before it publishes
PRESENT = timedelta(minutes=2)  # an observation this recent: the live simulator's back-fill is stored
WAIT_POLL_S = 0.05  # how often the waits for the ingest and the rules look (a count on an index)
CAUGHT_UP = 0.97  # of the observations published since the previous wait (a misbehaving sensor's are refused)


@dataclass(frozen=True)
class HistoryWindow:
    start: datetime
    end: datetime


def history_window(engine, days: float, live_backfill: timedelta, now: datetime) -> HistoryWindow | None:
    """The past still to play: a play begun and not finished (audited) again, whole (what it stored
    is stored once); else ``days`` before the live simulator's own back-fill, before anything stored."""
    last = _last_play(engine)
    if last is not None:
        action, played = last
        return None if action == FINISHED else HistoryWindow(_utc(played["from"]), _utc(played["to"]))
    with engine.connect() as connection:
        oldest = connection.execute(select(func.min(Observation.observed_at))).scalar_one_or_none()
    end = _floor_minute(now - live_backfill)  # where the live simulator's back-fill begins: no hole between
    if oldest is not None:
        end = min(end, _floor_minute(_aware(oldest)))
    start = _floor_hour(now - live_backfill - timedelta(days=days))
    return HistoryWindow(start, end) if end - start >= EVERY else None


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def history_unfinished(engine) -> bool:
    """Whether a play of the past began and has not finished (the live hotline leaves the past to it)."""
    return past_in_play(engine) is not None


def past_in_play(engine) -> datetime | None:
    """The end of the past being played (its orders are not overdue now: they are worked at their past
    moments), None when no play is unfinished."""
    last = _last_play(engine)
    return _utc(last[1]["to"]) if last is not None and last[0] == STARTED else None


def played_past(session) -> tuple[datetime, datetime, timedelta] | None:
    """(start, end, interval) of the demo's played past, begun or finished: in it every device reported once
    per ``EVERY``, by design, and the sensor availability expects no more of them there
    (services/kpis/measures/operations.py). None where no past was played."""
    play = play_state(session)
    return None if play is None else (play[0], play[1], EVERY)


def play_state(connection) -> tuple[datetime, datetime, bool] | None:
    """The demo's latest play of the past: its window and whether it finished; None where none was played."""
    last = _latest_play(connection)
    return None if last is None else (_utc(last[1]["from"]), _utc(last[1]["to"]), last[0] == FINISHED)


def _last_play(engine) -> tuple[str, dict] | None:
    """The audit log's latest word on a play of the past: (started or finished, its window)."""
    with engine.connect() as connection:
        return _latest_play(connection)


def _latest_play(connection) -> tuple[str, dict] | None:
    last = connection.execute(select(AuditEntry.action, AuditEntry.after).where(
        AuditEntry.action.in_((STARTED, FINISHED))).order_by(AuditEntry.id.desc()).limit(1)).first()
    if last is None:
        return None
    return last.action, json.loads(last.after) if isinstance(last.after, str) else last.after


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(second=0, microsecond=0)


def recorded(outgoing: OutgoingMessage, at: datetime) -> OutgoingMessage:
    """The message as received at ``at`` (the back-fill's ``recordedAt``)."""
    body = outgoing.json()
    body[RECORDED_AT] = iso(at)
    return OutgoingMessage(outgoing.topic, json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
                           outgoing.qos, outgoing.retain)


class EmergencyCalls:
    """112 calls of the past: per hour, from its own seeded stream, somewhere on a named street."""

    def __init__(self, sim: CitySimulator):
        self.sim = sim
        self.streets = [e for e in (sim.roads.core_edges() or list(sim.roads.edges.values())) if e.name]

    def during(self, hour: datetime) -> list[OutgoingMessage]:
        rng = random.Random(f"{self.sim.seed}:history-call:{iso(hour)}")
        if not self.streets or rng.random() >= CALLS_PER_HOUR:
            return []
        at = hour + timedelta(seconds=rng.randrange(3600))
        code, name, description, _ = rng.choices(CALLS, weights=[c[3] for c in CALLS])[0]
        street = rng.choice(self.streets)
        lon, lat, _ = self.sim.roads.position_on(street, rng.uniform(0, street.length_m))
        request_id = f"E{self.sim.seed}-{at:%y%m%d-%H%M%S}"
        body = {"id": f"urn:ngsi-ld:Open311ServiceRequest:{request_id}", "type": "Open311ServiceRequest",
                "service_request_id": request_id, "service_code": code, "service_name": name,
                "description": description, "status": "open", "location": point(lon, lat),
                "address_string": f"{street.name}, {self.sim.city.name}", "requested_datetime": iso(at)}
        return [message(f"{self.sim.topic_root}/reports", body)]


def past_messages(sim: CitySimulator, window: HistoryWindow, *, telemetry: bool = True, reports: bool = True):
    """Hour by hour, oldest first: what the city published, its telemetry, its reports (as received when made:
    citizens' and 112 calls) or both."""
    calls = EmergencyCalls(sim)
    hour = window.start
    while hour < window.end:
        out = sim.past(hour, EVERY) if telemetry else []
        if reports:
            out += [recorded(m, _requested(m)) for m in sim.past_reports(hour) + calls.during(hour)]
        yield out
        hour += EVERY


def _requested(outgoing: OutgoingMessage) -> datetime:
    return datetime.fromisoformat(outgoing.json()["requested_datetime"].replace("Z", "+00:00"))


@dataclass
class PlayCounts:
    messages: int = 0
    observations: int = 0  # telemetry entities published
    reports: int = 0
    dispatches: int = 0
    order_steps: int = 0
    acknowledgements: int = 0
    reports_s: float = 0.0  # publishing the past's reports until they are orders and incidents
    telemetry_s: float = 0.0  # publishing the past's telemetry, the waits below included
    ingest_wait_s: float = 0.0  # waiting for the ingest to store what was published
    operator_s: float = 0.0  # waiting for the rules to react, and acknowledging


class HistoryDispatcher:
    """Dispatches the past's incidents, oldest first, each to a unit free at that moment in the past."""

    def __init__(self, ctx, seed: int, window: HistoryWindow, publish: Callable[[list[OutgoingMessage]], None]):
        from services.dispatch import HISTORY_DISPATCHER

        self.ctx, self.seed, self.window, self.publish = ctx, seed, window, publish
        self.actor = Principal.system(HISTORY_DISPATCHER, role="dispatcher")
        self.busy_until: dict[str, datetime] = {}  # in the past's time
        self.dispatched = 0
        self.done: set[int] = set()  # incidents dispatched or left to the present (a later play passes them by)

    def waiting(self) -> list:
        """The past's new incidents not done yet (a second play takes those opened since the first: the rules open
        one on an alarm of the past's readings, published meanwhile)."""
        from services.incidents import list_incidents

        return sorted((i for i in list_incidents(self.ctx.engine, ("new",), limit=5000)
                       if self.window.start <= i.created_at < self.window.end and i.id not in self.done),
                      key=lambda i: i.created_at)

    def play(self, deadline: float, stop: threading.Event) -> int:
        """Oldest first, each in its turn. One the present refuses for a moment (its unit's last replies are still
        on their way through the ingest, or the unit moved as it was taken) is tried again before the next: tried
        after the rest, as it was, it found every unit busy until the end of the past and waited for days in it
        (a traffic accident dispatched 13 days after the call, two more a week after). One refused for longer
        (``RETRIES``) lets the rest go first and comes back after them."""
        pending, tries = deque(self.waiting()), 0
        while pending and _going(deadline, stop):
            if self.dispatch(pending[0]):  # (one dispatched by someone on duty meanwhile is refused: done too)
                self.done.add(pending.popleft().id)
                tries = 0
                continue
            tries += 1
            if tries >= RETRIES:
                pending.rotate(-1)
                tries = 0
            time.sleep(0.2)  # the units' replies are on their way through the ingest
        if pending:
            log.warning("history: %d past incident(s) left in the queue", len(pending))
        log.info("history: %d incident(s) dispatched", self.dispatched)
        return self.dispatched

    def dispatch(self, incident) -> bool:
        """True once the incident is dispatched (or cannot be); False to try again shortly."""
        from services.commands import Refused
        from services.dispatch import DispatchUnit, recommend

        rng = random.Random(f"{self.seed}:history-dispatch:{incident.external_id or incident.id}")
        at = incident.created_at + timedelta(seconds=rng.uniform(*PROCESSING_S))
        draw = rng.random()  # the unit's part (mission)
        candidates = recommend(self.ctx, incident)
        if not candidates:
            return False
        free = [c for c in candidates if self.busy_until.get(c.unit.unit_id, at) <= at]
        chosen = free[0] if free else min(candidates, key=lambda c: self.busy_until[c.unit.unit_id])
        at = max(at, self.busy_until.get(chosen.unit.unit_id, at))
        if self.mission(at, chosen.eta_seconds, draw)[-1][1] >= self.window.end:
            return True  # its mission reaches into the present: the dispatchers on duty have it
        command = DispatchUnit(self.ctx, self.actor, incident.id, chosen.unit.unit_id)
        try:
            command.validate()
            result = command.run(at)
        except Refused as refusal:
            log.info("history: incident #%s not dispatched (%s)", incident.id, refusal.message)
            return refusal.code not in ("unit_unavailable", "unreachable")
        self.dispatched += 1
        self.publish(self.replies(result, at, draw))
        return True

    @staticmethod
    def mission(at: datetime, eta_seconds: float, draw: float) -> list[tuple[str, datetime]]:
        """The unit's replies and their moments, from the incident's own draw."""
        rng = random.Random(draw)
        accepted = at + timedelta(seconds=rng.uniform(*TURNOUT_S))
        arrived = accepted + timedelta(seconds=eta_seconds * rng.uniform(0.9, 1.35))
        return [("accepted", accepted), ("arrived", arrived),
                ("cleared", arrived + timedelta(minutes=rng.uniform(*ON_SCENE_MIN)))]

    def replies(self, result, at: datetime, draw: float) -> list[OutgoingMessage]:
        steps = self.mission(at, result.eta_seconds, draw)
        self.busy_until[result.unit_id] = steps[-1][1] + timedelta(seconds=result.eta_seconds)
        topic = f"{self.ctx.topic_root}/units/{result.unit_id}/cmdexe"
        return [recorded(message(topic, {"cmdId": result.cmd_id, "result": outcome, "at": iso(moment)}), moment)
                for outcome, moment in steps]


class HistoryOperator:
    """The operator on duty in the past: acknowledges each alarm the rules raised on the past's readings, a
    seeded while after it was raised (``ACKNOWLEDGE_S``), at that past moment, through ``AcknowledgeAlarm``."""

    def __init__(self, engine, seed: int, window: HistoryWindow):
        self.engine, self.seed, self.window = engine, seed, window
        self.actor = Principal.system(HISTORY_OPERATOR, role="dispatcher")  # who acknowledges alarms
        self.acknowledged = 0

    def moment(self, alarm_id: int, raised_at: datetime, severity: str) -> datetime:
        rng = random.Random(f"{self.seed}:history-acknowledge:{alarm_id}")
        return raised_at + timedelta(seconds=rng.uniform(*ACKNOWLEDGE_S.get(severity, ACKNOWLEDGE_S["medium"])))

    def catch_up(self, until: datetime, deadline: float, stop: threading.Event) -> int:
        """Once the rules have read every reading stored so far, acknowledges the past's alarms whose moment
        comes before ``until`` (the rest wait for a later call); returns how many it acknowledged in all."""
        from services.alarms import AcknowledgeAlarm
        from services.commands import Refused

        _wait_reacted(self.engine, deadline, stop)
        with self.engine.connect() as connection:
            waiting = connection.execute(select(Alarm.id, Alarm.raised_at, Alarm.base_severity).where(
                Alarm.acknowledged.is_(False), Alarm.raised_at >= self.window.start,
                Alarm.raised_at < self.window.end).order_by(Alarm.raised_at, Alarm.id)).all()
        for alarm_id, raised_at, severity in waiting:
            if not _going(deadline, stop):
                break
            at = self.moment(alarm_id, raised_at, severity)
            if at >= min(until, self.window.end):
                continue
            try:
                AcknowledgeAlarm(self.engine, self.actor, alarm_id).validate().run(at)
                self.acknowledged += 1
            except Refused as refusal:  # acknowledged meanwhile by someone on duty now
                log.info("history: alarm %s not acknowledged (%s)", alarm_id, refusal.message)
        return self.acknowledged


class HistoryHotline:
    """The hotline's players (hotline.py) over the past: every order's steps in the order of their moments, each at
    its moment, so each order is read as it stood then (an agent merges a report into an order still being worked
    on at that moment, not into one that was closed days later, nor passes one by that was)."""

    def __init__(self, desk: HotlineDesk, window: HistoryWindow, publish: Callable[[list[OutgoingMessage]], None]):
        self.desk, self.window, self.publish = desk, window, publish
        self.steps = 0

    def play(self, deadline: float, stop: threading.Event) -> int:
        ctx = self.desk.context()
        if ctx is None:
            return 0
        self.desk.players = self.desk.players or HotlinePlayers(self.desk.seed,
                                                                [d.id for d in ctx.catalogue.departments])
        for _ in range(ROUNDS):
            ahead: list[tuple[datetime, int, object]] = []  # every order's next step: (its moment, order id, as read)
            for order in self.desk.listed(ctx, 20_000, until=self.window.end):
                if order.requested_at < self.window.end:
                    self.plan(ahead, self.desk.seen(ctx, order.id, self.window.end, duplicates=False))
            rated = 0
            while ahead:
                if not _going(deadline, stop):
                    return self.steps
                rated += self.play_next(ctx, ahead)
            log.info("history: hotline round played (%d steps so far)", self.steps)
            if not rated:
                break
            self.wait_for_ratings(ctx, deadline, stop)
        return self.steps

    def plan(self, ahead: list, seen) -> None:
        found = self.next_step(seen) if seen is not None else None
        if found is not None:
            heapq.heappush(ahead, (found[1], seen.id, seen))

    def play_next(self, ctx, ahead: list) -> int:
        """Plays the earliest step of all and plans its order's next; 1 if it was a rating (the order may reopen)."""
        at, order_id, seen = heapq.heappop(ahead)
        if seen.status == "received":  # the agent looks for an open order it repeats, as they stand at its moment
            seen = self.desk.seen(ctx, order_id, at)
        step = self.desk.players.next_step(seen, at) if seen is not None else None
        if step is None:  # someone on duty acted on it meanwhile: its next step is another
            self.plan(ahead, seen)
            return 0
        self.publish(self.desk.carry_out(ctx, step, at))
        self.steps += 1
        if step.action in ("rate", "merge"):
            return int(step.action == "rate")
        self.plan(ahead, self.desk.seen(ctx, order_id, at, duplicates=False))
        return 0

    def next_step(self, seen):
        """The first moment (to SCAN) the order's player acts, before the window's end: a player
        waits for a delay to pass, so once it would act it would act later too (gallop, then halve)."""
        act = lambda moment: self.desk.players.next_step(seen, moment)  # noqa: E731
        waited = max(seen.updated_at, seen.requested_at)
        if act(waited) is not None:
            return act(waited), waited
        stride = SCAN
        while act(min(waited + stride, self.window.end)) is None:
            if waited + stride >= self.window.end:
                return None
            waited, stride = waited + stride, stride * 2
        acts = min(waited + stride, self.window.end)
        while acts - waited > SCAN:
            middle = waited + (acts - waited) / 2
            waited, acts = (waited, middle) if act(middle) is not None else (middle, acts)
        return act(acts), acts

    def wait_for_ratings(self, ctx, deadline: float, stop: threading.Event) -> None:
        """Until the ratings published are stored (the orders leave 'resolved'), or a while."""
        def unrated() -> int:
            with ctx.engine.connect() as connection:
                return connection.execute(select(func.count()).select_from(WorkOrder).where(
                    WorkOrder.status == "resolved", WorkOrder.rated_at.is_(None),
                    WorkOrder.resolved_at < self.window.end)).scalar_one()
        before, settled_at = unrated(), time.monotonic()
        while _going(min(deadline, settled_at + 30), stop):
            time.sleep(0.5)
            now = unrated()
            if now == before and time.monotonic() - settled_at > 2:
                return
            if now != before:
                before, settled_at = now, time.monotonic()


def received_count(engine, request_ids: set[str]) -> int:
    """How many of the past's reports CityOps holds as an order or an incident."""
    ids = sorted(request_ids)
    total = 0
    with engine.connect() as connection:
        for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500)):
            total += connection.execute(select(func.count()).select_from(WorkOrder)
                                        .where(WorkOrder.request_id.in_(chunk))).scalar_one()
            total += connection.execute(select(func.count()).select_from(Incident).where(
                or_(*(Incident.external_id == f"open311:{i}" for i in chunk)))).scalar_one()
    return total


def play_history(runtime, stop: threading.Event, *, days: float, live_backfill: timedelta, seed: int = 42,
                 time_limit_s: float = 1800.0, live: bool = False) -> PlayCounts | None:
    """Plays the past once (see the module's docstring); None when there is none left to play. ``live``: the
    live simulator runs too (its back-fill is stored before the past is published)."""
    from services.dispatch import DispatchContext

    window = history_window(runtime.engine, days, live_backfill, utcnow())
    if window is None:
        log.info("history: the past is there already; nothing to play")
        return None
    began = time.monotonic()
    deadline = began + time_limit_s
    played = {"from": iso(window.start), "to": iso(window.end), "every": "PT1H", "seed": seed}
    with session_scope(runtime.engine) as session:
        record(session, HISTORY_ACTOR, STARTED, f"city:{runtime.city.name}", None, played)
    sim = CitySimulator(runtime.city, seed=seed, topic_root=runtime.settings.topic_root, start=window.start)
    counts = asyncio.run(_play(runtime, sim, window, stop, deadline, DispatchContext.of(runtime),
                               HotlineDesk(runtime.settings, runtime.city, seed), live))
    if stop.is_set() or time.monotonic() > deadline:
        log.warning("history: stopped before the end; the next start plays it again")
        return counts
    with session_scope(runtime.engine) as session:
        record(session, HISTORY_ACTOR, FINISHED, f"city:{runtime.city.name}", None,
               {**played, "messages": counts.messages, "reports": counts.reports, "dispatches": counts.dispatches,
                "order_steps": counts.order_steps, "acknowledgements": counts.acknowledgements})
    log.info("history: %s to %s played in %.0f s: %d messages, %d reports, %d dispatches, %d hotline steps, "
             "%d alarms acknowledged; the reports took %.0f s, then the telemetry %.0f s (the players meanwhile), "
             "%.0f s of them waiting for the ingest and %.0f s for the rules and the operator", iso(window.start),
             iso(window.end), time.monotonic() - began, counts.messages, counts.reports, counts.dispatches,
             counts.order_steps, counts.acknowledgements, counts.reports_s, counts.telemetry_s, counts.ingest_wait_s,
             counts.operator_s)
    return counts


class Sender:
    """Publishes with the simulator's account; survives the broker's loss (reconnects, resends what
    was not acknowledged) until the play's deadline."""

    def __init__(self, settings, seed: int, deadline: float, stop: threading.Event):
        self.settings, self.seed, self.deadline, self.stop = settings, seed, deadline, stop
        self.client: aiomqtt.Client | None = None

    async def send(self, messages: list[OutgoingMessage]) -> None:
        from .runner import MAX_BACKOFF_S, _client, _flush

        pending, backoff = deque(messages), 0.5
        while pending and _going(self.deadline, self.stop):
            try:
                if self.client is None:
                    self.client = _client(self.settings, self.seed, "history")
                    await self.client.__aenter__()
                await _flush(self.client, pending)
            except aiomqtt.MqttError as error:
                log.warning("history: broker unavailable (%s); retrying in %.1f s", error, backoff)
                await self.close()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None:
            try:
                await client.__aexit__(None, None, None)
            except aiomqtt.MqttError:
                pass


async def _play(runtime, sim, window, stop, deadline, dispatch_ctx, desk, live: bool) -> PlayCounts:
    counts = PlayCounts()
    queue: asyncio.Queue[list[OutgoingMessage]] = asyncio.Queue()
    loop = asyncio.get_running_loop()
    sender = Sender(runtime.settings, sim.seed, deadline, stop)

    def publish(messages: list[OutgoingMessage]) -> None:  # from the players' threads
        if messages:
            loop.call_soon_threadsafe(queue.put_nowait, list(messages))

    halt, hotline_played, dispatched = _Halt(stop), None, None

    async def pass_on() -> None:  # what the players published meanwhile
        while not queue.empty():
            batch = queue.get_nowait()
            counts.messages += len(batch)
            await sender.send(batch)

    try:
        await asyncio.to_thread(_wait_ingest_ready, runtime.engine, live, deadline, stop)
        began = time.monotonic()
        report_ids = await _publish_reports(runtime.engine, sim, window, sender, counts, deadline, stop)
        if stop.is_set():
            return counts
        await asyncio.to_thread(_wait_received, runtime.engine, report_ids, deadline, stop)
        counts.reports, counts.reports_s = len(report_ids), time.monotonic() - began
        log.info("history: the reports are received")
        dispatcher = HistoryDispatcher(dispatch_ctx, sim.seed, window, publish)
        hotline = HistoryHotline(desk, window, publish)
        hotline_played = asyncio.ensure_future(asyncio.to_thread(hotline.play, deadline, halt))
        dispatched = asyncio.ensure_future(asyncio.to_thread(dispatcher.play, deadline, halt))
        began = time.monotonic()
        days = (window.end - window.start) / timedelta(days=1)
        operator, pace = HistoryOperator(runtime.engine, sim.seed, window), IngestPace(runtime.engine, window)
        for played, hour in enumerate(past_messages(sim, window, reports=False), start=1):
            if stop.is_set():
                break
            counts.messages += len(hour)
            pace.published += len(hour)
            await sender.send(hour)
            await pass_on()
            until = window.start + played * EVERY
            if played % OPERATOR_EVERY == 0:  # every hour published stored, then read by the rules
                counts.ingest_wait_s += await _timed(partial(pace.wait, whole=True), until, deadline, stop)
                counts.operator_s += await _timed(operator.catch_up, until, deadline, stop)
            elif played % CATCH_UP_EVERY == 0:
                counts.ingest_wait_s += await _timed(pace.wait, until, deadline, stop)
            counts.observations = pace.published
            if played % 24 == 0:
                log.info("history: %d of %.0f days published", played // 24, days)
        if not stop.is_set():
            counts.ingest_wait_s += await _timed(partial(pace.wait, whole=True), window.end, deadline, stop)
            counts.operator_s += await _timed(operator.catch_up, window.end, deadline, stop)
        counts.acknowledgements, counts.telemetry_s = operator.acknowledged, time.monotonic() - began
        log.info("history: published the past's telemetry")
        # the incidents the rules opened on the past's readings (an alarm asking for one) are dispatched too
        players = asyncio.gather(hotline_played, _after(dispatched, asyncio.to_thread, dispatcher.play, deadline, halt))
        while not players.done() or not queue.empty():
            try:
                batch = await asyncio.wait_for(queue.get(), 0.2)
            except asyncio.TimeoutError:
                continue
            counts.messages += len(batch)
            await sender.send(batch)
        counts.order_steps, counts.dispatches = players.result()
    finally:
        halt.set()  # (a failure above: the players end too, before what they use is closed)
        await asyncio.gather(*(p for p in (hotline_played, dispatched) if p is not None), return_exceptions=True)
        await sender.close()
        desk.close()
    return counts


class _Halt:
    """What the players stop on: the server's stop, or the play's own end (it failed)."""

    def __init__(self, stop: threading.Event):
        self.stop, self.own = stop, threading.Event()

    def is_set(self) -> bool:
        return self.stop.is_set() or self.own.is_set()

    def set(self) -> None:
        self.own.set()


async def _publish_reports(engine, sim, window, sender: "Sender", counts: PlayCounts, deadline: float,
                           stop: threading.Event) -> set[str]:
    """The past's reports first, hour by hour, at the ingest's pace: the hotline and the dispatchers play their
    orders and incidents while the telemetry is published (they need none of it). Returns their ids."""
    pace, report_ids = IngestPace(engine, window, CitizenReport.requested_at), set()
    for played, hour in enumerate(past_messages(sim, window, telemetry=False), start=1):
        if stop.is_set():
            break
        report_ids.update(m.json()["service_request_id"] for m in hour)
        counts.messages += len(hour)
        pace.published += len(hour)
        await sender.send(hour)
        if played % REPORT_HOURS == 0:
            counts.ingest_wait_s += await _timed(pace.wait, window.start + played * EVERY, deadline, stop)
    return report_ids


async def _after(first: asyncio.Future, run: Callable, *args):
    """``run(*args)``'s result, once ``first`` is done."""
    await first
    return await run(*args)


async def _timed(run: Callable, *args) -> float:
    """Seconds ``run(*args)`` took in a worker thread."""
    began = time.monotonic()
    await asyncio.to_thread(run, *args)
    return time.monotonic() - began


def _going(deadline: float, stop: threading.Event) -> bool:
    """A player goes on until its deadline or the server stopping (its threads would hold the exit)."""
    return time.monotonic() < deadline and not stop.is_set()


def _until_settled(count: Callable[[], float], enough: float, settle_s: float, every_s: float, deadline: float,
                   stop: threading.Event) -> None:
    """Polls ``count()`` until it reaches ``enough``, stops moving for ``settle_s``, or the play must stop."""
    seen, settled_at = -1.0, time.monotonic()
    while _going(deadline, stop):
        now = count()
        if now >= enough:
            return
        if now != seen:
            seen, settled_at = now, time.monotonic()
        elif time.monotonic() - settled_at > settle_s:
            return
        time.sleep(every_s)


class IngestPace:
    """Holds the past's publishing back until the ingest has stored what was published (a broker queues a slow
    subscriber's messages only so far: mosquitto's default is 1,000, then it drops them; amqtt gives up on each
    after 5 s, logging it).

    Each wait marks how much was published; it returns once what was published before the previous mark is
    stored, so the ingest stores one stretch while the next is published (at most two stretches ahead: about
    640 messages), or, ``whole``, once everything published is (the operator on duty reads what the rules made of
    it). Counts the past's observations only (the live simulator's, stored meanwhile, are of the present), and
    allows for what the ingest refused (a misbehaving sensor's values) in the stretches before, settled by now:
    what is missing there is missing for good; of the stretch waited for, all but a few (``CAUGHT_UP``) must be
    stored. A share of everything published, as it was, let the publisher run further ahead the longer the play
    went (3 % of 30 days is 21 hours) and the live observations, counted too, let it go from the first minute."""

    def __init__(self, engine, window: HistoryWindow, moment=Observation.observed_at):
        """``moment``: the stored rows' column that says which hour of the past they are of (the reports':
        ``CitizenReport.requested_at``)."""
        self.engine, self.window, self.moment = engine, window, moment
        self.published = 0  # the past's messages published so far (the telemetry's, or the reports')
        self._marks = [(window.start, 0)]  # (the hours before this moment, published then), at each wait

    def stored(self, before: datetime) -> int:
        with self.engine.connect() as connection:
            return connection.execute(select(func.count()).where(
                self.moment >= self.window.start, self.moment < before)).scalar_one()

    def wait(self, published_until: datetime, deadline: float, stop: threading.Event, *, whole: bool = False) -> None:
        """Until the ingest stored the hours published before the previous wait (``whole``: before
        ``published_until``), or stopped storing more."""
        self._marks.append((published_until, self.published))
        del self._marks[:-3]
        marks = self._marks if whole else self._marks[:-1]
        if len(marks) < 2:
            return
        (settled, settled_count), (target, target_count) = marks[-2], marks[-1]
        missing = max(0, settled_count - self.stored(settled))
        enough = target_count - missing - int((target_count - settled_count) * (1 - CAUGHT_UP))
        _until_settled(lambda: self.stored(target), enough, 5, WAIT_POLL_S, deadline, stop)


def _wait_ingest_ready(engine, live: bool, deadline: float, stop: threading.Event) -> None:
    """Until an ingest process says (its heartbeat) it is connected and subscribed and, with the ``live``
    simulator, has stored its back-fill (an observation of the last minutes): on the first start nobody is
    subscribed yet and a broker drops what nobody listens to (the first two hours of the past were lost so, the
    ingest subscribing a second after the play began), and the back-fill's burst (3,500 messages) with the past's
    on top of it passed mosquitto's default queue (1,000), which dropped an hour's. Goes on after ``READY_S``
    regardless, saying so."""
    from services.health import ingest_health

    def ready() -> bool:
        if not ingest_health(engine)["broker"]:  # an ingest process beating lately is connected
            return False
        if not live:
            return True
        with engine.connect() as connection:
            latest = connection.execute(select(func.max(Observation.observed_at))).scalar()
        return latest is not None and _aware(latest) >= utcnow() - PRESENT

    given_up = min(deadline, time.monotonic() + READY_S)
    while not ready():
        if not _going(given_up, stop):
            if not stop.is_set():
                log.warning("history: the ingest is not listening or not storing the present; playing the past "
                            "regardless")
            return
        time.sleep(WAIT_POLL_S)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _wait_reacted(engine, deadline: float, stop: threading.Event) -> None:
    """Until the reactions (the alarm rules) have read every observation stored when asked, or stop moving (no
    reactions run here, or they are stuck: the operator acknowledges what is raised)."""
    def highest() -> int:
        with engine.connect() as connection:
            return connection.execute(select(func.max(Observation.id))).scalar() or 0

    def read() -> int:
        with engine.connect() as connection:
            return connection.execute(select(ReactionCursor.last_id).where(
                ReactionCursor.name == Observation.__tablename__)).scalar() or 0
    _until_settled(read, highest(), 5, WAIT_POLL_S, deadline, stop)


def _wait_received(engine, report_ids: set[str], deadline: float, stop: threading.Event) -> None:
    """Until the ingest turned the past's reports into orders and incidents, or the count settles (the rest
    was closed, outside the city or refused: nothing more will come)."""
    _until_settled(lambda: received_count(engine, report_ids), len(report_ids), 10, 0.5, deadline, stop)


def start_history_thread(runtime, stop: threading.Event, **kw) -> threading.Thread:
    def target() -> None:
        try:
            play_history(runtime, stop, **kw)
        except Exception:  # a failed history must say so, not vanish
            log.exception("history: the past could not be played")

    thread = threading.Thread(target=target, name="cityops-history", daemon=True)
    thread.start()
    return thread
