"""Emergency response: the four intervals of NFPA 1710 / 1221, from each incident's recorded timeline.

An incident belongs to the period of its call (``created_at``); drills are left out, and so are the incidents
whose kind the KPI's ``incidents`` param does not name (a list of categories or category/sub-category, as a
unit's capabilities are written: the emergency services' calls are scored apart from the crews' jobs, such
as blocked drains, which NFPA's objectives were never meant for). Its times are
the facts of its timeline (``incident_timeline``), all on CityOps's clock:

- first dispatch: its first ``dispatched`` event (``incidents.dispatched_at`` is the latest one);
- a unit accepted: an event moving the incident to ``en_route`` (the unit's ``accepted`` reply);
- first unit on scene: the first event moving it to ``on_scene`` (the unit's ``arrived`` reply or
  the dispatcher's "on scene").

Call processing = first dispatch - call; turnout = first acceptance - the dispatch of the unit that
accepted; travel = first on scene - the arriving unit's latest acceptance before it; total response =
first on scene - call. An incident without the two facts of an interval gives no sample for it (a
cancelled call; a unit that arrived without ever accepting has no travel time, even when another unit,
recalled since, had accepted).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import or_, select

from services.drills import not_drill
from services.incidents import can_handle
from services.kpis.measures.common import mean_statistic, once, per_district, record, summarize, within
from services.kpis.registry import MeasureContext, Measured, Period, measure
from services.models import Incident, IncidentEvent


@dataclass
class Timeline:
    """The facts of one incident that the response intervals are made of."""

    created_at: datetime
    district: str | None
    kind: tuple[str, str | None]  # (category, sub-category)
    dispatches: list[tuple[datetime, str | None]]  # (at, unit)
    acceptances: list[tuple[datetime, str | None]]
    on_scene: datetime | None = None
    on_scene_unit: str | None = None

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
        accepted = [at for at, unit in self.acceptances if at <= self.on_scene
                    and (self.on_scene_unit is None or unit == self.on_scene_unit)]
        return _seconds(accepted[-1] if accepted else None, self.on_scene)

    def total_response(self) -> float | None:
        return _seconds(self.created_at, self.on_scene)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds()


def timelines(ctx: MeasureContext, period: Period) -> dict[int, Timeline]:
    """The response facts of every incident called in the period (drills excluded), by incident id."""
    in_period = (within(Incident.created_at, period), not_drill(Incident))
    called = select(Incident.id).where(*in_period)
    found = {incident_id: Timeline(created_at, district, (category, sub_category), [], [])
             for incident_id, created_at, district, category, sub_category in ctx.session.execute(
                 select(Incident.id, Incident.created_at, Incident.district, Incident.category, Incident.sub_category)
                 .where(*in_period))}
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
            timeline.on_scene, timeline.on_scene_unit = at, unit_id
    return found


def _interval_measure(interval: Callable[[Timeline], float | None]):
    def measure_interval(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
        called = once(ctx, ("timelines", period), lambda: timelines(ctx, period))  # one read for all of them
        kinds = ctx.params.get("incidents")
        counted = sorted((incident_id, timeline) for incident_id, timeline in called.items()
                         if kinds is None or can_handle(kinds, *timeline.kind))
        sampled = [(incident_id, timeline.district, seconds) for incident_id, timeline in counted
                   if (seconds := interval(timeline)) is not None]
        return per_district(ctx, sampled, lambda sample: sample[1], lambda found, _: summarize(
            [seconds for *_, seconds in found], ctx.params, [record("incident", ident) for ident, *_ in found]))

    measure_interval.__name__ = interval.__name__
    return measure_interval


# params: statistic (p90 | mean | median), objective_s (the NFPA objective; share_meeting is measured against it),
# incidents (the kinds counted, e.g. [health, fire] or [infrastructure/blockedDrain]; none: every incident)
for _name in ("call_processing", "turnout", "travel", "total_response"):
    measure(f"emergency.{_name}", combine=mean_statistic)(_interval_measure(getattr(Timeline, _name)))
