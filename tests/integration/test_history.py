"""The demo's past (services/simulator/history.py), played through the real broker, ingest and commands:
after a back-fill of N days the database holds observations, incidents and work orders spread over
those days, with their past times."""
from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from services.city import load_city
from services.config import PROJECT_ROOT
from services.db import make_engine, migrate, session_scope
from services.models import Alarm, AuditEntry, Incident, Observation, WorkOrder, utcnow
from services.simulator.history import (ACKNOWLEDGE_S, HISTORY_OPERATOR, HistoryWindow, history_window, past_messages,
                                       play_history, played_past)
from services.simulator.model import CitySimulator
from tests.brokers import wait_until
from tests.integration.support import make_settings, start_ingest

HELSINKI = PROJECT_ROOT / "cities" / "helsinki"
DAYS = 2
LIVE_BACKFILL = timedelta(minutes=15)


def _days_holding(engine, column, *where) -> set:
    """The past days (0 = the most recent) in which ``column`` has a value."""
    now = utcnow()
    with engine.connect() as connection:
        moments = connection.execute(select(column).where(column.is_not(None), *where)).scalars().all()
    return {int((now - (m if m.tzinfo else m.replace(tzinfo=now.tzinfo))).total_seconds() // 86400) for m in moments}


def _observed(messages) -> Counter:
    """How many of the telemetry entities were observed at each moment (a gateway's arrays included)."""
    bodies = [m.json() for m in messages if "/telemetry/" in m.topic]
    entities = [e for body in bodies for e in (body if isinstance(body, list) else [body]) if isinstance(e, dict)]
    return Counter(str(e.get("dateObserved")).split("/")[-1] for e in entities)  # an interval: its end


def _count(engine, model, *where) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def test_history_of_two_days_stores_observations_incidents_and_orders_over_those_days(database_url, broker):
    settings = make_settings(database_url, broker, HELSINKI, demo=True, sim_history_days=DAYS)
    running = start_ingest(settings)
    engine = running.runtime.engine
    try:
        counts = play_history(running.runtime, threading.Event(), days=DAYS, live_backfill=LIVE_BACKFILL,
                              time_limit_s=300)
        assert counts is not None and counts.dispatches > 0 and counts.order_steps > 0
        # the units' last replies travel through the broker and the ingest after the play
        wait_until(lambda: _count(engine, Incident, Incident.status.in_(("dispatched", "en_route", "on_scene"))) == 0,
                   60, interval=0.5, message="the past incidents resolved")

        assert _days_holding(engine, Observation.observed_at) >= {0, 1}
        # paced to the ingest: (nearly) every hourly report stored, none lost in the broker's queue
        assert _count(engine, Observation, Observation.observed_at < utcnow() - LIVE_BACKFILL) >= 0.97 * counts.observations
        assert _count(engine, Observation, Observation.observed_at < utcnow() - timedelta(days=1)) > 1000

        assert _days_holding(engine, Incident.created_at) >= {0, 1}
        assert _days_holding(engine, Incident.resolved_at) >= {0, 1}
        with engine.connect() as connection:
            handled = connection.execute(select(Incident.created_at, Incident.dispatched_at, Incident.on_scene_at,
                                                Incident.resolved_at).where(Incident.resolved_at.is_not(None))).all()
        assert handled and all(c < d < o < r < utcnow() - LIVE_BACKFILL for c, d, o, r in handled)

        assert _days_holding(engine, WorkOrder.received_at) >= {0, 1}
        assert _days_holding(engine, WorkOrder.resolved_at) >= {0, 1}
        assert _count(engine, WorkOrder, WorkOrder.rated_at.is_not(None)) > 0
        with engine.connect() as connection:
            assert connection.execute(select(func.max(WorkOrder.received_at))).scalar_one() < utcnow() - LIVE_BACKFILL
            audited = connection.execute(select(AuditEntry.action).where(AuditEntry.action.like("simulator.history%"))
                                         .order_by(AuditEntry.id)).scalars().all()
        assert audited == ["simulator.history", "simulator.history.done"]

        # the rules raised the past's alarms at the moments of its readings, and the operator on duty
        # acknowledged each a while after, then (not thousands raised "now", nobody acknowledging them)
        with engine.connect() as connection:
            start, end, _every = played_past(connection)
            alarms = connection.execute(select(Alarm.id, Alarm.raised_at, Alarm.acknowledged_at, Alarm.acknowledged_by)
                                        .where(Alarm.raised_at < end)).all()
        assert alarms and counts.acknowledgements > 0
        assert all(start <= alarm.raised_at for alarm in alarms)
        slowest = timedelta(seconds=max(high for _low, high in ACKNOWLEDGE_S.values()))
        waiting = [alarm.id for alarm in alarms if alarm.acknowledged_at is None and alarm.raised_at < end - slowest]
        assert not waiting, f"past alarms nobody acknowledged: {waiting[:10]}"
        assert all(alarm.raised_at < alarm.acknowledged_at < end and alarm.acknowledged_by == HISTORY_OPERATOR
                   for alarm in alarms if alarm.acknowledged_at is not None)

        # a second start finds the past there and plays nothing
        assert play_history(running.runtime, threading.Event(), days=DAYS, live_backfill=LIVE_BACKFILL) is None
    finally:
        running.close()


def test_the_played_past_ends_on_the_minute_where_the_live_back_fill_begins(database_url):
    """No hour without a reading between the past and the live back-fill: the window's end is the back-fill's
    start (on the minute), or the oldest reading already stored, and its last, part hour has its reports."""
    engine = make_engine(database_url)
    migrate(engine)
    try:
        now = datetime(2026, 12, 2, 16, 52, 31, tzinfo=UTC)
        window = history_window(engine, 30, LIVE_BACKFILL, now)
        assert window.start == datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
        assert window.end == datetime(2026, 12, 2, 16, 37, tzinfo=UTC)
        sim = CitySimulator(load_city(HELSINKI), seed=42, topic_root="cityops", start=window.start)
        last = list(past_messages(sim, HistoryWindow(datetime(2026, 12, 2, 15, tzinfo=UTC), window.end)))
        assert len(last) == 2  # 15:00 ... 16:37: the reports of 15:00 and of the last, part hour at 16:00
        assert _observed(last[-1]).most_common(1)[0][0] == "2026-12-02T16:00:00Z"

        with session_scope(engine) as session:  # a reading already there: the past ends before it
            session.add(Observation(device_id="air-1", entity_type="AirQualityObserved", values={"pm25": 1.0},
                                    observed_at=datetime(2026, 12, 2, 16, 20, 45, tzinfo=UTC), received_at=now))
        assert history_window(engine, 30, LIVE_BACKFILL, now).end == datetime(2026, 12, 2, 16, 20, tzinfo=UTC)
    finally:
        engine.dispose()
