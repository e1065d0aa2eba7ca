"""What the ingest role runs for citizen requests, on the leading process only: overdue alarms and
the status updates the broker did not take the first time."""
from __future__ import annotations

import logging
from typing import Callable

from services.requests.commands import RequestContext
from services.requests.overdue import CHECK_S, check_overdue
from services.requests.publish import publish_pending

log = logging.getLogger("cityops.requests")


def schedule(runtime, scheduler, when: Callable[[], bool] = lambda: True) -> None:
    ctx = RequestContext.of(runtime)

    def overdue():
        if when():
            check_overdue(ctx.engine, ctx.catalogue)

    def republish():
        if when():
            publish_pending(ctx)

    scheduler.add_job(overdue, "interval", seconds=CHECK_S, id="requests-overdue")
    scheduler.add_job(republish, "interval", seconds=10, id="requests-publish")


def follow_report_updates(session, reports, now=None) -> int:
    """A known request received again: its incident (services/dispatch.py) or its work order."""
    from services.dispatch import incidents_follow_reports
    from services.requests.intake import orders_follow_reports

    return incidents_follow_reports(session, reports, now) + orders_follow_reports(session, reports, now)


def ratings_receiver(runtime):
    """What the ingest's store does with citizens' satisfaction answers from MQTT (services/store.py)."""
    from functools import partial

    from services.requests.intake import ratings_from_mqtt

    return partial(ratings_from_mqtt, RequestContext.of(runtime))
