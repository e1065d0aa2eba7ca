"""The history's publishing waits for the ingest to store what it published (a broker drops a slow
subscriber's messages beyond its queue: mosquitto's default is 1,000), one stretch behind (the ingest stores
one while the next is published) or, for the operator on duty, whole. Only the past's observations count: the
live simulator's, stored meanwhile, are of the present. What the ingest refused in the hours before the
previous wait is missing for good and not waited for again."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from services.db import session_scope
from services.models import IngestStatus, Observation, utcnow
from services.simulator import history
from services.simulator.history import HistoryWindow, IngestPace

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
WINDOW = HistoryWindow(START, START + timedelta(hours=10))


@pytest.fixture
def engine(migrated_engine):
    return migrated_engine


def _store(engine, device: str, *moments: datetime) -> None:
    with session_scope(engine) as session:
        session.add_all(Observation(device_id=device, entity_type="AirQualityObserved", observed_at=at,
                                    received_at=at, values={}) for at in moments)


def _hours(*hours: int) -> list[datetime]:
    return [START + timedelta(hours=h) for h in hours]


def _waited(pace: IngestPace, until: datetime, limit_s: float, whole: bool = True) -> float:
    began = time.monotonic()
    pace.wait(until, began + limit_s, threading.Event(), whole=whole)
    return time.monotonic() - began


def test_it_goes_on_once_the_past_published_is_stored(engine):
    pace = IngestPace(engine, WINDOW)
    pace.published = 3
    _store(engine, "a", *_hours(0, 1, 2))
    assert _waited(pace, START + timedelta(hours=3), 3.0) < 1.5


def test_the_live_observations_do_not_count(engine):
    pace = IngestPace(engine, WINDOW)
    pace.published = 3
    _store(engine, "a", *_hours(0))
    _store(engine, "live", *(WINDOW.end + timedelta(minutes=m) for m in range(20)))  # the present's
    assert _waited(pace, START + timedelta(hours=3), 1.0) >= 0.9  # waited to its limit: two are not stored


def test_what_was_refused_before_the_previous_wait_is_not_waited_for_again(engine):
    pace = IngestPace(engine, WINDOW)
    pace.published = 3
    _store(engine, "a", *_hours(0, 1))  # the third was refused
    assert _waited(pace, START + timedelta(hours=3), 0.5) >= 0.4
    pace.published += 3
    _store(engine, "a", *_hours(3, 4, 5))
    assert _waited(pace, START + timedelta(hours=6), 3.0) < 1.5
    pace.published += 3
    _store(engine, "a", *_hours(6, 7))
    assert _waited(pace, START + timedelta(hours=9), 1.0) >= 0.9  # one of the latest hours is missing


def test_it_waits_for_the_stretch_before_the_last_one_published(engine):
    pace = IngestPace(engine, WINDOW)
    pace.published = 3
    assert _waited(pace, START + timedelta(hours=3), 3.0, whole=False) < 1.5  # the first: nothing before it
    pace.published += 3
    _store(engine, "a", *_hours(0, 1))
    assert _waited(pace, START + timedelta(hours=6), 1.0, whole=False) >= 0.9  # the first stretch is not stored
    pace.published += 3
    _store(engine, "a", *_hours(2, 3))  # the first stretch, and one of the second
    assert _waited(pace, START + timedelta(hours=9), 1.0, whole=False) >= 0.9  # the second is not
    _store(engine, "a", *_hours(4, 5, 6, 7, 8))
    pace.published += 3
    assert _waited(pace, START + timedelta(hours=12), 3.0, whole=False) < 1.5  # the fourth is on its way


def _beat(engine, connected: bool) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        session.add(IngestStatus(instance_id="ingest-1", started_at=now, updated_at=now, broker_connected=connected))


def _ready_after(engine, live: bool) -> float:
    began = time.monotonic()
    history._wait_ingest_ready(engine, live, began + 30, threading.Event())
    return time.monotonic() - began


def test_the_past_waits_for_an_ingest_subscribed_and_the_live_back_fill_stored(engine, monkeypatch):
    monkeypatch.setattr(history, "READY_S", 0.6)
    assert _ready_after(engine, live=False) >= 0.5  # nobody listens: it waited (then goes on, saying so)
    _beat(engine, connected=True)
    assert _ready_after(engine, live=False) < 0.5
    _store(engine, "live", utcnow() - timedelta(minutes=10))  # the back-fill's beginning only
    assert _ready_after(engine, live=True) >= 0.5
    _store(engine, "live", utcnow() - timedelta(seconds=20))  # and its end: the present
    assert _ready_after(engine, live=True) < 0.5
