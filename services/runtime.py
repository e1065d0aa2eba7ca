"""Assembles the product from its settings: database, city, ingest, scheduler.

Both process roles (web, ingest) start here; ``current()`` gives the pages and the API the
runtime of their process.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.engine import Engine

from services import adapters
from services.city import City, load_city
from services.config import Settings
from services.db import make_engine, migrate
from services.devices import purge_observations, register_city_devices, registered_locations
from services.ingest import Ingest
import services.dispatch as dispatch_service  # dispatch; also registers the incidents/units map layers
from services.telemetry import ParseContext

log = logging.getLogger("cityops.runtime")

_current: "Runtime | None" = None


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    city: City
    _snapshots: object = field(default=None, repr=False)
    _live_payloads: object = field(default=None, repr=False)
    _reactions: object = field(default=None, repr=False)

    @property
    def timezone(self) -> str:
        return self.settings.timezone or self.city.timezone

    def snapshots(self):
        """The live map snapshot service of this (web) process, created on first use."""
        if self._snapshots is None:
            from services.layers import load_plugins
            from services.snapshot import SnapshotService

            load_plugins()
            self._snapshots = SnapshotService(self.engine, self.city, redis_url=self.settings.redis_url)
        return self._snapshots

    def live_payloads(self):
        """What each live-map browser is sent, built once per tick per browser version."""
        if self._live_payloads is None:
            from services.live_payloads import LivePayloads

            self._live_payloads = LivePayloads(self.snapshots())
        return self._live_payloads

    def reactions(self):
        """The durable reactions of this (ingest) process and its leadership, created on first use."""
        if self._reactions is None:
            from services.reactions import build_reactions

            self._reactions = build_reactions(self)
        return self._reactions


def open_runtime(settings: Settings) -> Runtime:
    """Connects the database (migrating it), loads the city and registers its devices."""
    global _current
    engine = make_engine(settings.database_url)
    migrate(engine)
    city = load_city(settings.city_dir)
    register_city_devices(engine, city)
    dispatch_service.seed_units(engine, city)
    _current = Runtime(settings=settings, engine=engine, city=city)
    return _current


def current() -> Runtime:
    if _current is None:
        raise RuntimeError("the CityOps runtime is not open; call services.runtime.open_runtime first")
    return _current


def build_ingest(runtime: Runtime, **kwargs) -> Ingest:
    locations = registered_locations(runtime.engine)
    context = ParseContext(root=runtime.settings.topic_root, max_entities=runtime.settings.max_entities_per_message,
                           registered_location=locations.get, in_area=runtime.city.is_in_area,
                           adapters=adapters.configure_all(runtime.settings, runtime.engine),
                           accept_recorded_at=runtime.settings.accepts_recorded_at)
    # what follows from the stored rows (reports -> incidents, replies -> unit states, observations ->
    # alarms) runs from the database on the leading ingest process, woken by each commit (services/reactions.py)
    ingest = Ingest(runtime.settings, runtime.engine, context=context, district_of=runtime.city.district_of,
                    reactions=runtime.reactions(), **kwargs)
    from services.requests.jobs import follow_report_updates, ratings_receiver

    ingest.store.follow_report_updates = follow_report_updates  # an incident's or a work order's request
    ingest.store.receive_ratings = ratings_receiver(runtime)  # citizens' satisfaction answers
    return ingest


def run_retention(runtime: Runtime) -> int:
    deleted = purge_observations(runtime.engine, timedelta(days=runtime.settings.retention_days))
    log.info("retention: deleted %d observations older than %g days", deleted, runtime.settings.retention_days)
    return deleted


def start_scheduler(runtime: Runtime) -> BackgroundScheduler:
    """The ingest role's periodic jobs (APScheduler 3)."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(run_retention, "interval", hours=1, args=[runtime], id="retention",
                      next_run_time=None)
    leading = runtime.reactions().leadership  # jobs that must run once: on the leading ingest process
    dispatch_service.schedule(runtime, scheduler, lambda: leading.is_leader)  # dispatches not accepted in time
    from services.rules import schedule_alarm_jobs
    schedule_alarm_jobs(scheduler, runtime, lambda: leading.is_leader)  # silence, escalation, Alert outbox
    from services.requests.jobs import schedule as schedule_request_jobs
    schedule_request_jobs(runtime, scheduler, lambda: leading.is_leader)  # overdue alarms, status updates
    from services.kpis.jobs import schedule as schedule_kpi_jobs
    schedule_kpi_jobs(runtime, scheduler, lambda: leading.is_leader)  # KPI roll-ups and their MQTT messages
    scheduler.start()
    run_retention(runtime)
    return scheduler
