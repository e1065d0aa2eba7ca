"""What the ingest role runs for the scorecards, on the leading process only: the roll-ups every
RUN_S seconds, then the MQTT publication of the values that changed.

While the demo's past is being played (services/simulator/history.py) a run computes the current periods only:
every hour of the past published, every order step of its hotline marks its day, week, month and quarter dirty
again, so computing them during the play computed most of them many times over (a fifth of the play's CPU), and
held the GIL against the play. Once the play has finished the past's periods are computed at once and run after
run, ``CHECK_S`` apart, until none is left; then every ``RUN_S`` again."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from services.kpis import report
from services.kpis.catalogue import CatalogueError
from services.kpis.publish import publish_current, retained_publisher
from services.kpis.rollup import RUN_S, RollupContext, run_rollup

log = logging.getLogger("cityops.kpis")

CHECK_S = 5  # how often the job looks whether a run is due (RUN_S apart, or catching up after a play of the past)
BUDGET_S = RUN_S * 0.6  # a run's time for the past's dirty periods: the rest of the process goes on meanwhile


@dataclass
class RollupPace:
    """When the next run is due: ``RUN_S`` after the previous began; while a play of the demo's past goes on, for
    the current periods only; once it has finished, at once, then ``CHECK_S`` after each run until the past's
    periods are all computed."""

    began: float | None = None
    ended: float = 0.0
    playing: bool = False
    catching_up: bool = False

    def due(self, playing: bool, now: float) -> bool:
        if self.playing and not playing:
            self.catching_up = True
        self.playing = playing
        if self.began is None or now - self.began >= RUN_S - 0.5:  # (the scheduler's CHECK_S steps drift a little)
            return True
        return self.catching_up and now - self.ended >= CHECK_S

    def budget_s(self) -> float:
        return 0.0 if self.playing else BUDGET_S

    def ran(self, began: float, ended: float, dirty_left: int) -> None:
        self.began, self.ended = began, ended
        if not self.playing and dirty_left == 0:
            if self.catching_up:
                log.info("KPI roll-up: the past's periods are computed")
            self.catching_up = False


def schedule(runtime, scheduler, when: Callable[[], bool] = lambda: True) -> None:
    from services.simulator.history import past_in_play

    ctx = RollupContext.of(runtime)
    settings = runtime.settings
    publish = retained_publisher(settings.mqtt)
    pace, running = RollupPace(), threading.Lock()

    def rollup():
        if not when() or not running.acquire(blocking=False):  # a run goes on (the scheduler's second instance)
            return
        try:
            began = time.monotonic()
            if pace.due(past_in_play(ctx.engine) is not None, began):
                run(began)
        finally:
            running.release()

    def run(began: float) -> None:
        try:
            catalogue = ctx.catalogue
        except CatalogueError as error:  # an edit broke the file: say so every run, compute nothing
            log.error("KPI roll-up: the catalogue cannot be used: %s", error)
            pace.ran(began, time.monotonic(), 0)
            return
        done = run_rollup(ctx, budget_s=pace.budget_s())
        if done.failed:
            log.warning("KPI roll-up: skipped %s (their measures failed; see above)", ", ".join(sorted(done.failed)))
        publish_current(ctx.engine, catalogue, runtime.city.name, ctx.tz, settings.topic_root, publish)
        pace.ran(began, time.monotonic(), done.dirty_left)

    # two instances: a look while a run goes on returns at once, rather than the scheduler warning it skipped one
    scheduler.add_job(rollup, "interval", seconds=CHECK_S, id="kpi-rollup", max_instances=2)
    report.schedule(runtime, scheduler, lambda: ctx.catalogue, when)  # the monthly report, printed
