"""The history's dispatcher takes the past's incidents in their turn: one the present refuses for a moment
(a unit's replies still on their way through the ingest) is dispatched before the later ones, which would
otherwise take its units first and leave it waiting, in the past, for the whole queue (days)."""
from __future__ import annotations

import threading
import time
from types import SimpleNamespace

from services.simulator import history
from services.simulator.history import HistoryDispatcher


def _dispatcher(refusals: dict[int, int]) -> tuple[HistoryDispatcher, list[int]]:
    """A dispatcher over incidents 1..3 whose ``refusals[id]`` first tries are refused; returns it and the
    order it dispatched them in."""
    dispatcher = HistoryDispatcher.__new__(HistoryDispatcher)
    dispatcher.dispatched = 0
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
