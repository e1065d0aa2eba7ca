"""A restarted simulator (real broker, real database, the real ingest): its units finish the
missions they were on, and the citizen reports it replays open no second incident."""
from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import func, select

from services.config import PROJECT_ROOT
from services.dispatch import CreateIncident, DispatchContext, DispatchUnit
from services.incidents import get_incident
from services.models import CitizenReport, Incident, utcnow
from services.simulator import start_simulator_thread
from services.units import get_unit
from tests.brokers import wait_until
from tests.integration.support import make_settings, start_ingest
from tests.integration.test_dispatch import DISPATCHER, HEART_ATTACK

HELSINKI = PROJECT_ROOT / "cities" / "helsinki"
SPEED = 60.0  # a sim minute per wall second once caught up: a scene is worked in 5-40 s
BACKFILL = timedelta(minutes=45)
# the first run's reports must reach this far inside the second run's backfill window before the first
# stops: the dispatch, the unit reaching its scene and the stop take well under this
REACH = timedelta(minutes=5)


def _reports(engine) -> dict[str, object]:
    with engine.connect() as connection:
        return dict(connection.execute(select(CitizenReport.external_id, CitizenReport.requested_at)).all())


def _citizen_incidents(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Incident)
                                  .where(Incident.source == "citizen")).scalar_one()


def _start_simulator(settings):
    stop = threading.Event()
    thread = start_simulator_thread(settings, stop, speed=SPEED, backfill=BACKFILL, seed=42)
    return stop, thread


def _stop_simulator(stop, thread) -> None:
    stop.set()
    thread.join(30)
    assert not thread.is_alive(), "the simulator did not stop"


def test_after_a_restart_units_on_scene_finish_their_missions_and_replayed_reports_open_no_incident(
        database_url, broker):
    running = start_ingest(make_settings(database_url, broker, HELSINKI))
    engine, settings = running.runtime.engine, running.runtime.settings
    ctx = DispatchContext.of(running.runtime)
    first = _start_simulator(settings)
    try:
        # the backfill is published oldest first, in sim time: on a busy machine the first run may still be in
        # its oldest minutes, whose reports the second run (45 minutes back from later) does not replay
        wait_until(lambda: max(_reports(engine).values(), default=None) is not None
                   and max(_reports(engine).values()) > utcnow() - BACKFILL + REACH, 120, interval=0.5,
                   message="the first run's reports reaching into the second run's backfill")
        incident = CreateIncident(ctx, DISPATCHER, HEART_ATTACK)()
        unit_id = DispatchUnit(ctx, DISPATCHER, incident.id)().unit_id
        wait_until(lambda: get_incident(engine, incident.id).status == "on_scene", 60, interval=0.2,
                   message="the unit on scene")
        _stop_simulator(*first)
        before = _reports(engine)
        assert get_unit(engine, unit_id).status == "on_scene"

        second_start = utcnow() - BACKFILL
        second = _start_simulator(settings)
        try:
            wait_until(lambda: get_incident(engine, incident.id).status == "resolved", 120, interval=0.5,
                       message="the resumed unit to clear its incident")
            wait_until(lambda: get_unit(engine, unit_id).status == "available", 60, interval=0.5,
                       message="the unit back at base and available")
        finally:
            _stop_simulator(*second)
    finally:
        running.close()

    after = _reports(engine)
    replayed = {k for k, at in before.items() if at > second_start + timedelta(seconds=1)}
    assert replayed, "the second run replayed none of the first run's reports; the test proves nothing"
    assert set(before) <= set(after)
    assert len(set(after.values())) == len(after), "a report was stored twice under two ids"
    assert _citizen_incidents(engine) <= len(after)
