"""Emergency response: the four intervals of NFPA 1710 / 1221, from each incident's recorded timeline.

An incident belongs to the period of its call (``created_at``); drills are left out. Its times are
the facts of its timeline (``incident_timeline``), all on CityOps's clock:

- first dispatch: its first ``dispatched`` event (``incidents.dispatched_at`` is the latest one);
- a unit accepted: an event moving the incident to ``en_route`` (the unit's ``accepted`` reply);
- first unit on scene: the first event moving it to ``on_scene`` (the unit's ``arrived`` reply or
  the dispatcher's "on scene").

Call processing = first dispatch - call; turnout = first acceptance - the dispatch of the unit that
accepted; travel = first on scene - the latest acceptance before it (the unit that arrived);
total response = first on scene - call. An incident without the two facts of an interval gives no
sample for it (a cancelled call, a unit that arrived without ever accepting has no travel time).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import or_, select

from services.drills import not_drill
from services.kpis.measures.common import in_district, record, summarize, within
from services.kpis.registry import MeasureContext, Measured, Scope, measure
from services.models import Incident, IncidentEvent


@dataclass
class Timeline:
    """The facts of one incident that the response intervals are made of."""

    created_at: datetime
    dispatches: list[tuple[datetime, str | None]]  # (at, unit)
    acceptances: list[tuple[datetime, str | None]]
    on_scene: datetime | None = None

    def call_processing(self) -> float | None:
        return _seconds(self.created_at, self.dispatches[0][0] if self.dispatches else None)

    def turnout(self) -> float | None:
        if not self.acceptances:
            return None
        accepted_at, unit = self.acceptances[0]
        sent = [at for at, sent_to in self.dispatches if sent_to == unit and at <= accepted_at]
        return _seconds(sent[-1] if sent else None, accepted_at)

    def travel(self) -> float | None:
        if self.on_scene is None:
            return None
        accepted = [at for at, _ in self.acceptances if at <= self.on_scene]
        return _seconds(accepted[-1] if accepted else None, self.on_scene)

    def total_response(self) -> float | None:
        return _seconds(self.created_at, self.on_scene)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def timelines(ctx: MeasureContext, scope: Scope) -> dict[int, Timeline]:
    """The response facts of every incident called in the scope (drills excluded), by incident id."""
    in_scope = (within(Incident.created_at, scope), not_drill(Incident), in_district(Incident.district, scope))
    called = select(Incident.id).where(*in_scope)
    found = {incident_id: Timeline(created_at, [], []) for incident_id, created_at in ctx.session.execute(
        select(Incident.id, Incident.created_at).where(*in_scope))}
    if not found:
        return found
    events = ctx.session.execute(
        select(IncidentEvent.incident_id, IncidentEvent.at, IncidentEvent.kind, IncidentEvent.status_after,
               IncidentEvent.unit_id)
        .where(IncidentEvent.incident_id.in_(called),
               or_(IncidentEvent.kind == "dispatched", IncidentEvent.status_after.in_(("en_route", "on_scene"))))
        .order_by(IncidentEvent.at, IncidentEvent.id))
    for incident_id, at, kind, status_after, unit_id in events:
        timeline = found[incident_id]
        if kind == "dispatched":
            timeline.dispatches.append((at, unit_id))
        elif status_after == "en_route":
            timeline.acceptances.append((at, unit_id))
        elif timeline.on_scene is None:
            timeline.on_scene = at
    return found


def _interval_measure(interval: Callable[[Timeline], float | None]):
    def measure_interval(ctx: MeasureContext, scope: Scope) -> Measured:
        samples, records = [], []
        for incident_id, timeline in sorted(timelines(ctx, scope).items()):
            seconds = interval(timeline)
            if seconds is not None:
                samples.append(seconds)
                records.append(record("incident", incident_id))
        return summarize(samples, ctx.params, records)

    measure_interval.__name__ = interval.__name__
    return measure_interval


# params: statistic (p90 | mean | median), objective_s (the NFPA objective; share_meeting is measured against it)
for _name in ("call_processing", "turnout", "travel", "total_response"):
    measure(f"emergency.{_name}")(_interval_measure(getattr(Timeline, _name)))
