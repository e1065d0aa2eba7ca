"""The history's players. The dispatcher takes the past's incidents in their turn: one the present refuses for a moment
(a unit's replies still on their way through the ingest) is dispatched before the later ones, which would
otherwise take its units first and leave it waiting, in the past, for the whole queue (days). The hotline plays
every order's steps in the order of their moments."""
from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from services.simulator import history
from services.simulator.history import HistoryDispatcher, HistoryHotline
from services.simulator.hotline import HotlinePlayers, OrderSeen
from tests.unit.test_simulator_hotline import DEPARTMENTS


def _dispatcher(refusals: dict[int, int]) -> tuple[HistoryDispatcher, list[int]]:
    """A dispatcher over incidents 1..3 whose ``refusals[id]`` first tries are refused; returns it and the
    order it dispatched them in."""
    dispatcher = HistoryDispatcher.__new__(HistoryDispatcher)
    dispatcher.dispatched, dispatcher.done = 0, set()
    dispatcher.waiting = lambda: [SimpleNamespace(id=n) for n in (1, 2, 3)]
    order: list[int] = []

    def dispatch(incident) -> bool:
        if refusals.get(incident.id, 0) > 0:
            refusals[incident.id] -= 1
            return False
        order.append(incident.id)
        return True

    dispatcher.dispatch = dispatch
    return dispatcher, order


def test_an_incident_refused_for_a_moment_is_dispatched_before_the_later_ones():
    dispatcher, order = _dispatcher({1: 2})
    dispatcher.play(time.monotonic() + 30, threading.Event())
    assert order == [1, 2, 3]


def test_an_incident_refused_for_long_lets_the_later_ones_go_first_and_comes_back(monkeypatch):
    monkeypatch.setattr(history, "RETRIES", 3)
    dispatcher, order = _dispatcher({1: 4})
    dispatcher.play(time.monotonic() + 30, threading.Event())
    assert order == [2, 3, 1]


def test_a_second_play_takes_the_incidents_opened_since_the_first_and_not_those_it_left_to_the_present(monkeypatch):
    """The dispatcher plays while the past's telemetry is published, then again for the incidents the rules opened
    on it meanwhile; the ones the first play finished (dispatched, or whose mission reached into the present) are
    not tried again."""
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    stored = [SimpleNamespace(id=n, created_at=start + timedelta(hours=n)) for n in (1, 2, 3)]
    monkeypatch.setattr("services.incidents.list_incidents", lambda engine, statuses, limit: list(stored))
    dispatcher, order = _dispatcher({})
    dispatcher.ctx, dispatcher.window = SimpleNamespace(engine=None), SimpleNamespace(start=start, end=start
                                                                                      + timedelta(days=1))
    del dispatcher.waiting  # the real one, over the incidents stored
    dispatcher.play(time.monotonic() + 30, threading.Event())
    stored.append(SimpleNamespace(id=4, created_at=start + timedelta(hours=2, minutes=30)))  # opened by an alarm
    dispatcher.play(time.monotonic() + 30, threading.Event())
    assert order == [1, 2, 3, 4]


class _Desk:
    """The hotline desk over orders kept here: each step moves its order on; records (moment, order, action)."""

    def __init__(self, orders: list[OrderSeen]):
        self.orders = {o.id: o for o in orders}
        self.players = HotlinePlayers(42, DEPARTMENTS)
        self.played: list[tuple[datetime, int, str]] = []
        self.read_with_duplicates: list[tuple[int, datetime]] = []

    def context(self):
        return SimpleNamespace()

    def listed(self, ctx, limit, until=None):
        return [o for o in self.orders.values() if o.status not in ("closed", "merged")]

    def seen(self, ctx, order_id, now, duplicates=True):
        seen = self.orders[order_id]
        if seen.status in ("closed", "merged"):
            return None
        if duplicates and seen.status == "received":
            self.read_with_duplicates.append((order_id, now))
        return seen

    def carry_out(self, ctx, step, at):
        self.played.append((at, step.order_id, step.action))
        status = {"assign": "assigned", "transfer": "assigned", "accept": "accepted", "start": "in_progress",
                  "resolve": "resolved", "rate": "closed", "merge": "merged"}[step.action]
        seen = self.orders[step.order_id]
        self.orders[step.order_id] = replace(seen, status=status, updated_at=at,
                                             department=step.department or seen.department or seen.owner,
                                             resolved_at=at if status == "resolved" else seen.resolved_at)
        return []


def test_the_past_hotline_plays_every_orders_steps_in_the_order_of_their_moments():
    """An order's steps wait for days; one received meanwhile is taken by the agent at its moment, before the first
    order's later steps, and read then (the open orders it may repeat are those of that moment)."""
    start = datetime(2026, 11, 1, tzinfo=timezone.utc)
    orders = [OrderSeen(id=n, request_id=f"S42-2611{n:02d}", status="received", owner="roads", department=None,
                        requested_at=start + timedelta(hours=n), updated_at=start + timedelta(hours=n),
                        resolved_at=None, reopen_count=0, response_s=86400.0, resolution_s=7 * 86400.0)
              for n in (1, 2, 3)]
    desk = _Desk(orders)
    hotline = HistoryHotline(desk, SimpleNamespace(end=start + timedelta(days=60)), lambda messages: None)
    hotline.wait_for_ratings = lambda ctx, deadline, stop: None
    hotline.play(time.monotonic() + 30, threading.Event())
    moments = [at for at, _, _ in desk.played]
    assert moments == sorted(moments)
    assert [order for _, order, _ in desk.played[:3]] == [1, 2, 3]  # each agent's step before the first's next
    assert {order for _, order, action in desk.played if action == "rate"} == {1, 2, 3}
    assert [(n, at) for n, at in desk.read_with_duplicates] == [(n, at) for at, n, _ in desk.played[:3]]
