"""The demo's history stops with the server: its players run in worker threads that Python waits for at exit,
so each loop must end as soon as the server stops, not at the play's deadline (up to an hour away)."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace

from services.simulator.history import HistoryDispatcher, HistoryHotline

FAR = 3600.0  # a deadline an hour away


def _stopped_within(play, seconds: float) -> bool:
    stop = threading.Event()
    failed = []

    def run() -> None:
        try:
            play(time.monotonic() + FAR, stop)
        except Exception as error:  # the test would pass for the wrong reason
            failed.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    time.sleep(0.3)  # the player is in its loop
    stop.set()
    worker.join(seconds)
    assert not failed, failed
    return not worker.is_alive()


def test_the_history_dispatcher_stops_with_the_server_while_incidents_wait():
    dispatcher = HistoryDispatcher.__new__(HistoryDispatcher)
    dispatcher.dispatched = 0
    waiting = [SimpleNamespace(id=1)]
    dispatcher.waiting = lambda: waiting
    dispatcher.dispatch = lambda incident: False  # no unit free yet: it would try again until the deadline
    assert _stopped_within(dispatcher.play, 2.0)


def test_the_history_hotline_stops_with_the_server_while_it_waits_for_ratings():
    hotline = HistoryHotline.__new__(HistoryHotline)
    hotline.window = SimpleNamespace(end=datetime(2026, 12, 1, tzinfo=timezone.utc))
    engine = SimpleNamespace(connect=lambda: _Counting())
    assert _stopped_within(lambda deadline, stop: hotline.wait_for_ratings(SimpleNamespace(engine=engine), deadline,
                                                                           stop), 2.0)


class _Counting:
    """A connection whose count of unrated orders keeps changing (ratings still arriving)."""
    calls = 0

    def __enter__(self):
        return self

    def __exit__(self, *_exc):
        return False

    def execute(self, _query):
        _Counting.calls += 1
        return SimpleNamespace(scalar_one=lambda: _Counting.calls)
