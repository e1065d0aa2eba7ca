"""The hotline loop played: agents, departments and citizens acting on the simulator's own requests.

Citizens publish their requests on ``<root>/reports`` (reports.py; now and then a second citizen
reports the same thing nearby) and, once their order is resolved, their satisfaction on
``<root>/requests/<id>/satisfaction``. Agents and departments act through the commands a person
uses on /requests (services/requests/commands.py), as system principals in the ``agent`` and
``department`` roles, so their rights and the order's state are checked as anyone's: the agent
merges a duplicate into the open order it repeats, else assigns the request (now and then to the
wrong department, which transfers it on); the department accepts, starts and resolves it at its
own pace. Some departments are slow, and their orders go overdue; a late answer makes a
dissatisfied citizen likelier, and a dissatisfied citizen reopens the order.

Deterministic with the seed: what becomes of an order (misrouted or not, each delay, the rating)
depends only on the seed, its service_request_id and how often it was reopened; a department's
pace only on the seed and its id. Each delay counts from the order's last step, on the sim clock.
Only the simulator's own requests (service_request_id ``S<seed>-...``) are played, never one a
person or another citizen app made. At speed 1 (the demo) the sim clock is the wall clock CityOps
counts deadlines on; a faster simulator makes the departments faster than CityOps's clocks.
"""
from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from services.telemetry import RECORDED_AT

from .common import OutgoingMessage, iso, message

log = logging.getLogger("cityops.simulator.hotline")

PLAY_EVERY = timedelta(seconds=30)  # sim time between two looks at the queue
SLOW_SHARE = 0.3  # departments that answer late
MISROUTE_CHANCE = 0.12  # the agent sends a request to the wrong department
RESOLUTION_NOTES = ("Repaired on site.", "Inspected and fixed.", "Crew sent; the fault is cleared.",
                    "Cleaned up and checked.", "Dealt with; thank you for the report.")
COMMENTS = {"satisfied": (None, "Quick, thank you.", "Fixed well."),
            "basically_satisfied": (None, "Took a while.", "Fixed, but nobody told me."),
            "dissatisfied": ("It is not fixed.", "Far too slow.", "Still the same as before.")}


def department_pace(seed: int, department: str) -> float:
    """How long a department takes, as a share of the time limit it works to (above 1: overdue)."""
    rng = random.Random(f"{seed}:department-pace:{department}")
    return rng.uniform(1.2, 2.5) if rng.random() < SLOW_SHARE else rng.uniform(0.15, 0.7)


@dataclass(frozen=True)
class OrderSeen:
    """What the players read of an open order (services/requests/orders.py WorkOrderView)."""

    id: int
    request_id: str
    status: str
    owner: str  # the department its service belongs to
    department: str | None  # the department that has it now
    requested_at: datetime
    updated_at: datetime  # its last step
    resolved_at: datetime | None
    reopen_count: int
    response_s: float  # its service's time limits, nominal seconds
    resolution_s: float
    repeats: int | None = None  # an older open order of the same service nearby (a duplicate's original)


@dataclass(frozen=True)
class Step:
    """One thing a player does: merge, assign, transfer, accept, start, resolve (commands), rate (MQTT)."""

    action: str
    order_id: int
    request_id: str
    by: str | None = None  # the department acting (transfer, accept, start, resolve)
    round: int = 0  # how often the order was reopened before
    department: str | None = None  # where it goes (assign, transfer)
    into: int | None = None
    text: str | None = None
    satisfaction: str | None = None


@dataclass(frozen=True)
class Fate:
    """Everything random about one round of an order, drawn at once in a fixed order."""

    agent_delay: timedelta
    misrouted_to_draw: float  # picks the wrong department when misrouted (None of that when below 0)
    share: float  # of the department's pace spent on each clock
    resolve_note: str
    rating_delay: timedelta
    rating_draw: float
    comment_draw: float


class HotlinePlayers:
    """Plans what agents, departments and citizens do next; pure (the runner carries it out)."""

    def __init__(self, seed: int, departments: list[str]):
        self.seed = seed
        self.departments = sorted(departments)
        self.pace = {d: department_pace(seed, d) for d in self.departments}

    def plays(self, request_id: str) -> bool:
        return request_id.startswith(f"S{self.seed}-")

    def fate(self, order: OrderSeen) -> Fate:
        rng = random.Random(f"{self.seed}:order:{order.request_id}:{order.reopen_count}")
        agent_delay = timedelta(seconds=rng.uniform(60, 600))
        misrouted = rng.random()
        return Fate(agent_delay, rng.random() if misrouted < MISROUTE_CHANCE and not order.reopen_count else -1.0,
                    rng.uniform(0.6, 1.0), rng.choice(RESOLUTION_NOTES), timedelta(seconds=rng.uniform(600, 7200)),
                    rng.random(), rng.random())

    def wrong_department(self, order: OrderSeen, fate: Fate) -> str | None:
        others = [d for d in self.departments if d not in (order.owner, "emergency")]
        return others[int(fate.misrouted_to_draw * len(others))] if fate.misrouted_to_draw >= 0 and others else None

    def steps(self, orders: list[OrderSeen], now: datetime) -> list[Step]:
        return [step for order in orders if self.plays(order.request_id)
                for step in [self.next_step(order, now)] if step is not None]

    def next_step(self, order: OrderSeen, now: datetime) -> Step | None:
        fate = self.fate(order)
        since = now - order.updated_at
        step = lambda action, **kw: Step(action, order.id, order.request_id, order.department,  # noqa: E731
                                         order.reopen_count, **kw)
        if order.status == "received":
            if now - order.requested_at < fate.agent_delay:
                return None
            if order.repeats is not None:
                return step("merge", into=order.repeats)
            return step("assign", department=self.wrong_department(order, fate) or order.owner)
        pace = self.pace.get(order.department or "", 1.0)
        if order.status in ("assigned", "reopened"):
            if since.total_seconds() < fate.share * pace * order.response_s:
                return None
            if order.department != order.owner:
                return step("transfer", department=order.owner,
                            text=f"Not ours: this is for {order.owner}.")
            return step("accept")
        if order.status == "accepted":
            return step("start") if since.total_seconds() >= 0.1 * fate.share * pace * order.resolution_s else None
        if order.status == "in_progress":
            return step("resolve", text=fate.resolve_note) \
                if since.total_seconds() >= 0.9 * fate.share * pace * order.resolution_s else None
        if order.status == "resolved" and order.resolved_at is not None:
            if now - order.resolved_at < fate.rating_delay:
                return None
            satisfaction = self.satisfaction(order, fate)
            comments = COMMENTS[satisfaction]
            return step("rate", satisfaction=satisfaction, text=comments[int(fate.comment_draw * len(comments))])
        return None

    @staticmethod
    def satisfaction(order: OrderSeen, fate: Fate) -> str:
        late = (order.resolved_at - order.requested_at).total_seconds() > order.resolution_s
        dissatisfied = (0.45 if late else 0.12) / (1 + order.reopen_count)
        if fate.rating_draw < dissatisfied:
            return "dissatisfied"
        return "basically_satisfied" if fate.rating_draw < dissatisfied + 0.25 else "satisfied"


def rating_message(root: str, step: Step, at: datetime | None = None) -> OutgoingMessage:
    """The citizen's answer as their app publishes it (docs/OPEN311.md); ``at``: given in the past
    (the demo's history, history.py), received then."""
    body = {"service_request_id": step.request_id, "satisfaction": step.satisfaction, "comment": step.text}
    if at is not None:
        body[RECORDED_AT] = iso(at)
    return message(f"{root}/requests/{step.request_id}/satisfaction", body)


class HotlineDesk:
    """Carries out the players' steps against CityOps's database, through its commands."""

    def __init__(self, settings, city, seed: int):
        self.settings, self.city, self.seed = settings, city, seed
        self.players: HotlinePlayers | None = None
        self._context = None
        self._rated: set[tuple[str, int]] = set()  # answers published (one per round of an order)

    def context(self):
        if self._context is None:
            from sqlalchemy import make_url

            from services.db import make_engine
            from services.requests.catalogue import catalogue_of
            from services.requests.commands import RequestContext

            url = make_url(self.settings.database_url)
            if url.get_backend_name() == "sqlite" and not Path(url.database or "").exists():
                return None  # a simulator on its own: nobody to play with (and no database made by looking)
            self._context = RequestContext(make_engine(self.settings.database_url), self.city,
                                           lambda: catalogue_of(self.settings),
                                           self.settings.timezone or self.city.timezone, self.settings.topic_root)
        return self._context

    def close(self) -> None:
        if self._context is not None:
            self._context.engine.dispose()

    def __call__(self, now: datetime, present_from: datetime | None = None) -> list[OutgoingMessage]:
        """``present_from``: while the demo's past is being played (history.py), the orders requested
        before it are the history's to play, at their past moments, not this desk's."""
        from sqlalchemy.exc import SQLAlchemyError

        from .history import history_unfinished

        ctx = self.context()
        if ctx is None:
            return []
        try:
            catalogue = ctx.catalogue
            if self.players is None:
                self.players = HotlinePlayers(self.seed, [d.id for d in catalogue.departments])
            # the past's orders are left out of the query, not after reading each as the players do (a
            # duplicate search per order: thousands of them each tick, a fifth of the play's time)
            since = present_from if present_from is not None and history_unfinished(ctx.engine) else None
            steps = self.players.steps(self.read(ctx, now, since=since), now)
            return [out for step in steps for out in self.carry_out(ctx, step)]
        except SQLAlchemyError as error:
            log.warning("cannot play the hotline (%s); trying again later", error)
            return []

    def read(self, ctx, now: datetime, limit: int = 2000, since: datetime | None = None) -> list[OrderSeen]:
        """The active orders (requested at or after ``since``) as the players read them."""
        return [seen for order in self.listed(ctx, limit, since=since) for seen in [self._seen(ctx, order)]
                if seen is not None]

    def listed(self, ctx, limit: int, since: datetime | None = None, until: datetime | None = None) -> list:
        """The active orders as the queue lists them (cheap: ``seen`` reads one as the players do)."""
        from services.models import utcnow
        from services.requests.orders import ACTIVE_STATUSES, OrderFilter, list_orders

        return list_orders(ctx.engine, ctx.catalogue, utcnow(),
                           OrderFilter(statuses=ACTIVE_STATUSES, since=since, until=until, limit=limit))

    def seen(self, ctx, order_id: int, now: datetime, duplicates: bool = True) -> OrderSeen | None:
        """One order as the players read it at ``now``, a moment of the past (history.py); None once inactive.
        ``duplicates``: a received one's older open order it repeats is looked for (the agent's step needs it)."""
        from services.models import utcnow
        from services.requests.orders import ACTIVE_STATUSES, get_order

        order = get_order(ctx.engine, ctx.catalogue, utcnow(), order_id)
        if order is None or order.status not in ACTIVE_STATUSES:
            return None
        return self._seen(ctx, order, past=True, duplicates=duplicates)

    def _seen(self, ctx, order, past: bool = False, duplicates: bool = True) -> OrderSeen | None:
        """``past``: read at a past moment (history.py), where the older orders resolved before this one was received
        were no longer being worked on: still resolved now only until the ingest stores their citizen's rating
        (then closed), they were merged into or not by the ingest's lag (a third more merges while it stored the
        past's telemetry)."""
        from services.requests.orders import duplicate_candidates

        service = ctx.catalogue.service(order.service_code)
        if service is None or not order.request_id.startswith(f"S{self.seed}-"):
            return None
        repeats = None
        if order.status == "received" and duplicates:
            older = [o.id for o in duplicate_candidates(ctx.engine, ctx.catalogue, order) if o.id < order.id
                     and not (past and o.resolved_at is not None and o.resolved_at <= order.received_at)]
            repeats = min(older) if older else None
        return OrderSeen(order.id, order.request_id, order.status, service.department, order.department,
                         order.requested_at, order.updated_at, order.resolved_at, order.reopen_count,
                         service.response.nominal_seconds, service.resolution.nominal_seconds, repeats)

    def carry_out(self, ctx, step: Step, at: datetime | None = None) -> list[OutgoingMessage]:
        """``at``: the step's moment in the past (history.py); None: now."""
        from services.access.principal import Principal
        from services.commands import Refused
        from services.requests import commands

        if step.action == "rate":
            key = (step.request_id, step.round)
            if key in self._rated:
                return []
            self._rated.add(key)
            return [rating_message(ctx.topic_root, step, at)]
        agent = Principal.system("simulator: hotline agent", role="agent")
        if step.action in ("merge", "assign"):
            command = commands.MergeOrder(ctx, agent, step.order_id, into_id=step.into) if step.action == "merge" \
                else commands.AssignOrder(ctx, agent, step.order_id, department=step.department)
        else:
            staff = Principal.system(f"simulator: {step.by} staff", role="department", department=step.by)
            command = {"transfer": lambda: commands.TransferOrder(ctx, staff, step.order_id, department=step.department,
                                                                  reason=step.text),
                       "accept": lambda: commands.AcceptOrder(ctx, staff, step.order_id),
                       "start": lambda: commands.StartWork(ctx, staff, step.order_id),
                       "resolve": lambda: commands.ResolveOrder(ctx, staff, step.order_id, notes=step.text)}[step.action]()
        try:
            command.validate()
            command.run(at)
        except Refused as refusal:  # a person acted on it meanwhile: the next look sees what they did
            log.info("%s of %s refused: %s", step.action, step.request_id, refusal.message)
        return []
