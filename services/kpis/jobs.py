"""What the ingest role runs for the scorecards, on the leading process only: the roll-ups every
RUN_S seconds, then the MQTT publication of the values that changed."""
from __future__ import annotations

import logging
from typing import Callable

from services.kpis import report
from services.kpis.catalogue import CatalogueError
from services.kpis.publish import publish_current, retained_publisher
from services.kpis.rollup import RUN_S, RollupContext, run_rollup

log = logging.getLogger("cityops.kpis")


def schedule(runtime, scheduler, when: Callable[[], bool] = lambda: True) -> None:
    ctx = RollupContext.of(runtime)
    settings = runtime.settings
    publish = retained_publisher(settings.mqtt)

    def rollup():
        if not when():
            return
        try:
            catalogue = ctx.catalogue
        except CatalogueError as error:  # an edit broke the file: say so every run, compute nothing
            log.error("KPI roll-up: the catalogue cannot be used: %s", error)
            return
        done = run_rollup(ctx, budget_s=RUN_S * 0.6)
        if done.failed:
            log.warning("KPI roll-up: skipped %s (their measures failed; see above)", ", ".join(sorted(done.failed)))
        publish_current(ctx.engine, catalogue, runtime.city.name, ctx.tz, settings.topic_root, publish)

    scheduler.add_job(rollup, "interval", seconds=RUN_S, id="kpi-rollup")
    report.schedule(runtime, scheduler, lambda: ctx.catalogue, when)  # the monthly report, printed
