"""Durable reactions: what follows from the stored rows, driven from the database.

A citizen report opens an incident, a unit's cmdexe reply moves the unit and its incident, a
Vehicle state saying "parked" makes a returning unit available, and observations raise and
clear alarms. None of this runs on the ingest's in-memory batch any more: the ingest stores and
acknowledges; the reactions read what was committed.

Exactly once. Each reactor follows one table (observations, citizen_reports,
unit_command_replies) with a cursor in ``reaction_cursors``: the id of the last row it reacted
to. One transaction reads the rows above the cursor, writes the reaction (incidents, unit and
command states, alarms and the rules' state) and moves the cursor with
``UPDATE ... WHERE last_id = :seen``. A crash before that commit leaves the rows for the next
run; after it, they are never read again. The conditional update also fences a second leader:
of two transactions from the same cursor, one commits and the other rolls back.

Rows committed out of id order. On PostgreSQL two ingest processes' transactions can commit in
the other order of their ids; a cursor moved past the higher id would skip the lower one
committed a moment later. Before each run the leader takes ``LOCK TABLE ... IN SHARE MODE`` on
the three tables, which waits for every transaction writing them (they hold ROW EXCLUSIVE from
before they draw their ids) and reads the highest ids: every row at or below them is committed
or never will be (the safe point). SQLite has one writer at a time, so its highest ids are safe.

Observation time, not arrival order. The broker spreads one device's readings over the ingest
processes, which commit them a few tens of milliseconds apart. A row is reacted to once it was
received ``hold_back_s`` ago (0.5 s), so readings received together are evaluated together, in
observation time; a reading arriving later than that and older than the newest one evaluated
for its device is too late for the rules (as before).

One leader. The reactions and the jobs that must run once (silence check, alarm and dispatch
escalation, the Alert outbox) run on one ingest process at a time: on PostgreSQL the holder of
the advisory lock ``pg_try_advisory_lock`` on a connection of its own (released by the server
when the process dies), on SQLite the holder of an unexpired lease row renewed every second. A
process that is not the leader stores, acknowledges, and tries to become the leader every
``poll_s``. See docs/ARCHITECTURE.md.
"""
from __future__ import annotations

import asyncio
import logging
import os
from abc import ABC, abstractmethod
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Sequence

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from services.db import session_scope
from services.models import CitizenReport, Observation, ReactionCursor, ReactorLease, UnitCommandReply, utcnow
from services.telemetry import CitizenReportIn, CommandReplyIn, ObservationIn

log = logging.getLogger("cityops.reactions")

HOLD_BACK_S = 0.5  # a row is reacted to once received this long ago (readings of one moment together)
POLL_S = 0.5  # how often the leader looks for rows other processes stored, and followers for the lead
REACT_EVERY_S = 0.25  # at most one reaction run per this while rows stream in (each run is a write transaction)
LEASE_S = 5.0  # SQLite: a silent leader is replaced after this
MAX_ROWS = 5000  # rows per reaction transaction
LOCK_TIMEOUT = "2s"  # PostgreSQL: waiting longer for writers to finish means trying again later
LEADER = "reactions"

CURSORS = ReactionCursor.__table__
LEASES = ReactorLease.__table__


class LostRace(Exception):
    """Another leader moved the cursor first: this transaction rolls back, nothing is applied twice."""


# ---------------------------------------------------------------- who leads

class Leadership:
    """Whether this process leads the reactions and the once-only jobs."""

    def __init__(self, engine: Engine, holder: str | None = None, lease_s: float = LEASE_S):
        self.engine = engine
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease_s = lease_s
        self._leading = False
        self._connection: Connection | None = None  # PostgreSQL: the session holding the advisory lock
        self._renewed = 0.0

    @property
    def is_leader(self) -> bool:
        return self._leading

    def hold(self) -> bool:
        """Becomes or stays the leader if it can; returns whether this process leads."""
        try:
            if self.engine.dialect.name == "postgresql":
                self._leading = self._hold_advisory_lock()
            else:
                self._leading = self._hold_lease()
        except Exception:
            log.exception("could not take or keep the reactions' leadership")
            self._drop()
        return self._leading

    def release(self) -> None:
        if self._leading and self.engine.dialect.name != "postgresql":
            try:
                with self.engine.begin() as connection:
                    connection.execute(update(LEASES).where(LEASES.c.name == LEADER, LEASES.c.holder == self.holder)
                                       .values(expires_at=utcnow() - timedelta(seconds=1)))
            except Exception:
                log.exception("could not give up the reactions' lease (it expires by itself)")
        self._drop()

    def _drop(self) -> None:
        self._leading = False
        if self._connection is not None:
            try:
                # ends the session, so the server releases the advisory lock: a plain close() would put
                # the session back in the engine's pool, still holding the lock, and nobody could lead
                self._connection.invalidate()
                self._connection.close()
            except Exception:
                pass
            self._connection = None

    def _hold_advisory_lock(self) -> bool:
        if self._connection is not None:
            self._connection.execute(text("SELECT 1"))  # still our session (else it raises: lead lost)
            return True
        connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            # one lock per schema, so databases sharing a server (and the tests' schemas) lead apart
            taken = connection.execute(text(
                "SELECT pg_try_advisory_lock(hashtext(current_schema() || '/cityops-reactions'))")).scalar()
        except Exception:
            connection.close()
            raise
        if not taken:
            connection.close()
            return False
        self._connection = connection
        self._record_holder()
        log.info("%s leads the reactions (advisory lock)", self.holder)
        return True

    def _record_holder(self) -> None:
        """PostgreSQL: who holds the lock, written where SQLite keeps its lease (for operators and
        tests; the lock, not this row, decides)."""
        now = utcnow()
        with self.engine.begin() as connection:
            if not connection.execute(update(LEASES).where(LEASES.c.name == LEADER)
                                      .values(holder=self.holder, expires_at=now)).rowcount:
                connection.execute(LEASES.insert().values(name=LEADER, holder=self.holder, expires_at=now))

    def _hold_lease(self) -> bool:
        now_monotonic = time.monotonic()
        if self._leading and now_monotonic - self._renewed < self.lease_s / 5:
            return True
        now = utcnow()
        expires = now + timedelta(seconds=self.lease_s)
        with self.engine.begin() as connection:
            taken = connection.execute(update(LEASES).where(
                LEASES.c.name == LEADER, or_(LEASES.c.holder == self.holder, LEASES.c.expires_at < now))
                .values(holder=self.holder, expires_at=expires)).rowcount
            if not taken and connection.execute(select(LEASES.c.name).where(LEASES.c.name == LEADER)).first() is None:
                connection.execute(LEASES.insert().values(name=LEADER, holder=self.holder, expires_at=expires))
                taken = 1
        if taken:
            if not self._leading:
                log.info("%s leads the reactions (lease)", self.holder)
            self._renewed = now_monotonic
        return bool(taken)


# ---------------------------------------------------------------- the reactors

class Reactor(ABC):
    """Reacts to the rows of one table above its cursor, in the cursor's transaction."""

    table = None  # the SQLAlchemy table followed; its name is the cursor's
    columns: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.table.name

    def rows_filter(self):
        """A condition on the rows worth reading (None: all)."""
        return None

    def load(self, session, after: int, upto: int, limit: int) -> list:
        """The rows worth reading with ``after < id <= upto``, in id order."""
        table = self.table
        query = select(*(table.c[name] for name in self.columns)).where(table.c.id > after, table.c.id <= upto)
        condition = self.rows_filter()
        if condition is not None:
            query = query.where(condition)
        return session.execute(query.order_by(table.c.id).limit(limit)).all()

    @abstractmethod
    def react(self, session, rows: list) -> None:
        """The reaction to ``rows`` (from ``load``, in id order), written in ``session``."""

    def after_commit(self) -> None:
        """What follows the committed reaction outside the database (publishing)."""

    def rolled_back(self) -> None:
        """The reaction's transaction did not commit: in-memory state goes back to the database's."""


class ReportReactor(Reactor):
    """Citizen reports -> work orders, or incidents for emergency services (services/requests/intake.py)."""

    table = CitizenReport.__table__
    columns = ("id",) + CitizenReportIn.__slots__

    def __init__(self, ctx):
        self.ctx = ctx  # a services.requests RequestContext

    def react(self, session, rows) -> None:
        from services.requests.intake import requests_from_reports

        reports = [CitizenReportIn(**{name: getattr(row, name) for name in CitizenReportIn.__slots__})
                   for row in rows]
        requests_from_reports(self.ctx, reports, session)


class ReplyReactor(Reactor):
    """Units' cmdexe replies -> command, unit and incident states."""

    table = UnitCommandReply.__table__
    columns = ("id", "unit_id", "cmd_id", "result", "at", "received_at")

    def __init__(self, ctx):
        self.ctx = ctx

    def react(self, session, rows) -> None:
        from services.dispatch import apply_replies

        apply_replies(self.ctx, [CommandReplyIn(r.unit_id, r.cmd_id, r.result, r.at, r.received_at) for r in rows],
                      session)


class ObservationReactor(Reactor):
    """Observations -> the alarm rules, and a returning unit's "parked" state -> available."""

    table = Observation.__table__
    columns = ("id", "device_id", "entity_type", "observed_at", "received_at", "lon", "lat", "values")

    KEPT = 20_000  # observations handed over by this process's ingest, waiting to be reacted to

    def __init__(self, ctx, rule_engine):
        self.ctx = ctx
        self.rule_engine = rule_engine
        self._raised: list = []
        self._handed: dict[tuple, ObservationIn] = {}

    def hand_over(self, observations: Sequence[ObservationIn]) -> None:
        """The observations this process just committed: the leader then reads back only their
        identity, not their values (about half the cost of reading a row back)."""
        handed = self._handed
        for observation in observations:
            handed[(observation.device_id, observation.observed_at, observation.entity_type)] = observation
        while len(handed) > self.KEPT:  # a backlog: the oldest are read back instead
            del handed[next(iter(handed))]

    def _types(self) -> list[str]:
        return sorted(set(self.rule_engine.rules.current().by_type) | {"Vehicle"})

    def rows_filter(self):
        return self.table.c.entity_type.in_(self._types())

    def load(self, session, after: int, upto: int, limit: int) -> list:
        """Identities first; the values only of the rows this process was not handed (stored by another)."""
        table = self.table
        if session.get_bind().dialect.name == "sqlite":  # without SQLAlchemy's per-row processing: a third off
            types = self._types()
            utc, parse = timezone.utc, datetime.fromisoformat
            keys = [(row_id, device_id, parse(observed_at).replace(tzinfo=utc), entity_type)
                    for row_id, device_id, observed_at, entity_type in session.connection().exec_driver_sql(
                        f"SELECT id, device_id, observed_at, entity_type FROM observations WHERE id > ? AND id <= ? "
                        f"AND entity_type IN ({', '.join('?' * len(types))}) ORDER BY id LIMIT ?",
                        (after, upto, *types, limit))]
        else:
            keys = session.execute(select(table.c.id, table.c.device_id, table.c.observed_at, table.c.entity_type)
                                   .where(table.c.id > after, table.c.id <= upto, self.rows_filter())
                                   .order_by(table.c.id).limit(limit)).all()
        found: dict[int, ObservationIn] = {}
        handed = self._handed
        for row_id, device_id, observed_at, entity_type in keys:
            observation = handed.pop((device_id, observed_at, entity_type), None)
            if observation is not None:
                found[row_id] = observation
        missing = [row_id for row_id, *_ in keys if row_id not in found]
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            for row in session.execute(select(*(table.c[name] for name in self.columns)).where(table.c.id.in_(chunk))):
                found[row[0]] = ObservationIn(row[1], row[2], row[3], row[4], row[5], row[6], _mapping(row[7]))
        return [(row_id, found[row_id]) for row_id, *_ in keys]

    def react(self, session, rows) -> None:
        observations = [observation for _, observation in rows]
        vehicles = [o for o in observations if o.entity_type == "Vehicle"]
        if vehicles:
            from services.dispatch import units_back_home

            units_back_home(self.ctx, vehicles, session=session)
        self._raised = self.rule_engine.react(session, observations)

    def after_commit(self) -> None:
        raised, self._raised = self._raised, []
        self.rule_engine.after_commit(raised)

    def rolled_back(self) -> None:
        self._raised = []
        self.rule_engine.forget()  # (observations popped from the hand-over are read back next time)


def _mapping(values) -> dict:
    return values if isinstance(values, dict) else {}  # JSON null or a scalar: nothing a rule can read


# ---------------------------------------------------------------- one run over every reactor

# The order the ingest's writer writes these tables in one transaction (services/store.py: a batch's
# observations, then its citizen reports, then its unit replies). The safe point locks them in the same order:
# taking citizen_reports first, it held it while waiting for a writer's observations, the writer waited for
# citizen_reports, and PostgreSQL ended one of the two as a deadlock.
WRITE_ORDER = ("observations", "citizen_reports", "unit_command_replies")


def _written_at(table) -> int:
    return WRITE_ORDER.index(table.name) if table.name in WRITE_ORDER else len(WRITE_ORDER)


def safe_points(engine: Engine, tables: Sequence) -> dict[str, int]:
    """The highest id of each table below which every row is committed (or never will be)."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            names = ", ".join(table.name for table in sorted(tables, key=_written_at))
            connection.execute(text(f"LOCK TABLE {names} IN SHARE MODE"))  # waits for their writers
        return {table.name: connection.execute(select(func.max(table.c.id))).scalar() or 0 for table in tables}


@dataclass
class RunOutcome:
    reacted: int = 0  # rows reacted to
    held_back_s: float | None = None  # the earliest a held-back row becomes due, in seconds
    more: bool = False  # rows up to the safe point are left for the next transaction (max_rows)


def react_once(engine: Engine, reactor: Reactor, upper: int, now: datetime, hold_back_s: float,
               max_rows: int = MAX_ROWS) -> RunOutcome:
    """One transaction: the rows of ``reactor`` above its cursor up to ``upper`` and received at
    least ``hold_back_s`` before ``now`` (stopping at the first younger one), the reaction, the
    cursor moved."""
    table = reactor.table
    outcome = RunOutcome()
    try:
        with session_scope(engine) as session:
            seen = session.execute(select(CURSORS.c.last_id).where(CURSORS.c.name == reactor.name)).scalar()
            if seen is None:  # a new reactor: it starts with what is stored from now on
                session.execute(CURSORS.insert().values(name=reactor.name, last_id=upper, updated_at=utcnow()))
                return outcome
            if seen >= upper:
                return outcome
            settled_before = now - timedelta(seconds=hold_back_s)
            young = select(table.c.id, table.c.received_at).where(
                table.c.id > seen, table.c.id <= upper, table.c.received_at > settled_before)
            condition = reactor.rows_filter()
            if condition is not None:
                young = young.where(condition)
            first_young = session.execute(young.order_by(table.c.id).limit(1)).first()
            if first_young is not None:
                upper = first_young.id - 1
                outcome.held_back_s = (first_young.received_at - settled_before).total_seconds()
                if upper <= seen:
                    return outcome
            rows = reactor.load(session, seen, upper, max_rows)
            last = upper if len(rows) < max_rows else rows[-1][0]
            if rows:
                reactor.react(session, rows)
            moved = session.execute(update(CURSORS).where(CURSORS.c.name == reactor.name, CURSORS.c.last_id == seen)
                                    .values(last_id=last, updated_at=utcnow())).rowcount
            if moved != 1:
                raise LostRace(f"the {reactor.name} cursor moved under this process")
            outcome.reacted = len(rows)
            if last < upper:
                outcome.more = True
    except Exception:
        reactor.rolled_back()
        raise
    reactor.after_commit()
    return outcome


class Reactions:
    """The reactors of an ingest process, run on the ingest's event loop while it leads.

    On the loop, not on a thread of their own: the rules are Python work, and a second busy
    thread would hold the GIL against the store's SQLite writes (which give it up on every row;
    see services/ingest.py). Only waiting (the leadership, the safe point's lock) goes to a thread.
    """

    def __init__(self, engine: Engine, reactors: Sequence[Reactor], *, hold_back_s: float = HOLD_BACK_S,
                 poll_s: float = POLL_S, react_every_s: float = REACT_EVERY_S, leadership: Leadership | None = None):
        self.engine = engine
        self.reactors = list(reactors)
        self.hold_back_s = hold_back_s
        self.poll_s = poll_s
        self.react_every_s = react_every_s
        self.leadership = leadership or Leadership(engine)
        self._wake: asyncio.Event | None = None

    def wake(self, result=None) -> None:
        """Called by the ingest (on its loop) right after a commit: react now, not at the next poll."""
        if result is not None and result.stored_observations and self.leadership.is_leader:
            for reactor in self.reactors:
                if isinstance(reactor, ObservationReactor):
                    reactor.hand_over(result.stored_observations)
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        """Leads when it can and reacts, until cancelled; then gives up the lead."""
        self._wake = asyncio.Event()
        was_leading = False
        try:
            while True:
                wait = self.poll_s
                try:
                    leading = await asyncio.to_thread(self.leadership.hold)
                    if leading and not was_leading:
                        for reactor in self.reactors:
                            reactor.rolled_back()  # the previous leader's writes are the truth: start from them
                    was_leading = leading
                    if leading:
                        started = time.monotonic()
                        due = await self.run_once()
                        if due is not None:
                            wait = min(wait, due + 0.02)
                        # While rows stream in, the ingest wakes the reactions after every commit and the
                        # first held-back row is always about to settle: without a pause, every batch would
                        # cost a reaction transaction too (two commits per batch on SQLite's one writer).
                        # Rows that settle meanwhile are taken together by the next run.
                        pause = self.react_every_s - (time.monotonic() - started)
                        if pause > 0:
                            await asyncio.sleep(pause)
                            wait = max(0.0, wait - pause)
                except LostRace as race:
                    log.warning("%s; reloading", race)
                except Exception:
                    log.exception("reacting failed; retrying in %.1f s", self.poll_s)
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns the woken wait's result
                    # when the task is cancelled in the same step as the ingest wakes it, so the cancel was
                    # lost, the reactions went on and the ingest's stop waited for them forever
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
        finally:
            self._wake = None
            await asyncio.to_thread(self.leadership.release)

    async def run_once(self, now: datetime | None = None) -> float | None:
        """Reacts to every settled row; returns in how many seconds held-back rows are due (None: none)."""
        tables = [reactor.table for reactor in self.reactors]
        if not await asyncio.to_thread(self._anything_new, tables):
            return None
        limits = await asyncio.to_thread(safe_points, self.engine, tables)
        due = None
        for reactor in self.reactors:
            while True:
                outcome = react_once(self.engine, reactor, limits[reactor.name], now or utcnow(), self.hold_back_s)
                if outcome.held_back_s is not None:
                    due = outcome.held_back_s if due is None else min(due, outcome.held_back_s)
                if not outcome.more:
                    break
                await asyncio.sleep(0)  # a long catch-up lets the ingest's writer (same loop) go on
        return due

    def _anything_new(self, tables) -> bool:
        """A cheap look before the lock: is any table past its cursor?"""
        with self.engine.connect() as connection:
            cursors = dict(connection.execute(select(CURSORS.c.name, CURSORS.c.last_id)).all())
            for table in tables:
                highest = connection.execute(select(func.max(table.c.id))).scalar() or 0
                if highest > cursors.get(table.name, -1):
                    return True
        return False

    def caught_up(self) -> bool:
        """Every stored row is reacted to (tests and tools wait for it)."""
        with self.engine.connect() as connection:
            cursors = dict(connection.execute(select(CURSORS.c.name, CURSORS.c.last_id)).all())
            return all((connection.execute(select(func.max(r.table.c.id))).scalar() or 0) <= cursors.get(r.name, -1)
                       for r in self.reactors)

    def leader_only(self, job: Callable[[], object]) -> Callable[[], object]:
        def run_if_leading():
            return job() if self.leadership.is_leader else None

        return run_if_leading


def build_reactions(runtime) -> Reactions:
    """The reactions of an ingest process: reports, then replies, then observations (a unit's
    "cleared" reply makes it returning before its "parked" state makes it available)."""
    from services.dispatch import DispatchContext
    from services.rules import alarm_service

    from services.requests.commands import RequestContext

    ctx = DispatchContext.of(runtime)
    hold_back_s = float(os.environ.get("CITYOPS_REACTION_HOLD_BACK_S") or HOLD_BACK_S)
    return Reactions(runtime.engine, [ReportReactor(RequestContext.of(runtime)), ReplyReactor(ctx),
                                      ObservationReactor(ctx, alarm_service(runtime).engine)],
                     hold_back_s=hold_back_s)
