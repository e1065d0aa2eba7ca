"""A drill started from the command line, played by a running simulator over a real broker, read by
the real ingest on SQLite and PostgreSQL: its readings, the alarm and the incidents they raise
are all marked with the drill; `drill stop` ends it."""
from __future__ import annotations

import json
import threading

from sqlalchemy import select

import manage
from services.alarms import AlarmFilter, list_alarms
from services.config import PROJECT_ROOT
from services.incidents import list_incidents
from services.models import DeviceLatest
from services.simulator import start_simulator_thread
from tests.brokers import wait_until
from tests.integration.support import make_settings, start_ingest, thread_stacks

HELSINKI = PROJECT_ROOT / "cities" / "helsinki"
SPEED = 60.0  # the storm builds up over 15 sim minutes: 15 s here


def _gauges(engine) -> list[dict]:
    with engine.connect() as connection:
        rows = connection.execute(select(DeviceLatest.values).where(DeviceLatest.entity_type == "FloodMonitoring"))
        return [json.loads(v) if isinstance(v, str) else v for (v,) in rows]


def test_a_storm_drill_from_the_cli_marks_its_readings_alarm_and_incidents_and_stop_ends_it(
        database_url, broker, monkeypatch, capsys):
    running = start_ingest(make_settings(database_url, broker, HELSINKI))
    engine, settings = running.runtime.engine, running.runtime.settings
    for name, value in (("CITYOPS_MQTT_URL", broker.url), ("CITYOPS_TOPIC_ROOT", settings.topic_root),
                        ("CITYOPS_DATABASE_URL", database_url), ("CITYOPS_CITY", str(HELSINKI))):
        monkeypatch.setenv(name, value)
    stop = threading.Event()
    simulator = start_simulator_thread(settings, stop, speed=SPEED, seed=42)
    try:
        wait_until(lambda: _gauges(engine), 30, interval=0.2, message="the simulated gauges")
        assert not any("drill" in g for g in _gauges(engine))

        manage.main(["drill", "start", "storm"])
        assert "drill storm started" in capsys.readouterr().out

        wait_until(lambda: any(g.get("drill") == "storm" for g in _gauges(engine)), 30, interval=0.3,
                   message="readings marked drill=storm")
        alarm = wait_until(lambda: [a for a in list_alarms(engine, AlarmFilter(limit=200))
                                    if a.rule_id == "water-danger"], 90, interval=0.5,
                           message="the water-danger alarm")[0]
        assert alarm.drill == "storm" and alarm.as_json()["drill"] == "storm"
        incident = wait_until(lambda: [i for i in list_incidents(engine) if i.external_id == f"alarm:{alarm.id}"], 30,
                              interval=0.5, message="the alarm's incident")[0]
        assert incident.drill == "storm"
        calls = wait_until(lambda: [i for i in list_incidents(engine) if i.source == "citizen" and i.drill], 60,
                           interval=0.5, message="the drill's calls as incidents")
        assert {i.drill for i in calls} == {"storm"} and calls[0].as_json()["drill"] == "storm"
        assert not [a for a in list_alarms(engine, AlarmFilter(limit=200)) if a.drill not in (None, "storm")]

        manage.main(["drill", "stop"])
        assert "drill stopped" in capsys.readouterr().out
        wait_until(lambda: not any("drill" in g for g in _gauges(engine)), 30, interval=0.3,
                   message="every gauge reporting unmarked after the stop")
    finally:
        stop.set()
        simulator.join(30)
        assert not simulator.is_alive(), f"the simulator did not stop; where each thread is:\n{thread_stacks()}"
        running.close()
