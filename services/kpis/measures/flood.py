"""Flood resilience: how long the water stood at or above the stations' alert level.

(The time from an alert-level crossing to its alarm's acknowledgement is the alarms' measure,
``operations.time_to_acknowledge``, given the water-alert rule and the crossing time.)
"""
from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, select

from services.devices import READING_LEVELS
from services.kpis.measures.common import (VALUES, hour_index, hour_start, not_drill_reading, number, per_district,
                                           within)
from services.kpis.registry import SUM, MeasureContext, Measured, Period, measure
from services.models import Device, Observation
from services.rules import WATER_LEVEL

WATER = ("FloodMonitoring", "WaterObserved")


@measure("flood.station_hours_above_alert", combine=SUM)
def station_hours_above_alert(ctx: MeasureContext, period: Period) -> dict[str | None, Measured]:
    """Station-hours at or above the alert level: for every water station, the clock hours in which one
    of its readings reached its alert level (the reading's own ``alertLevel``, else the registry's
    ``alert_level``, as the alarm rules read it); summed over the stations. None without readings; a
    drill's readings are left out."""
    level = func.coalesce(*(number(VALUES, name) for name in WATER_LEVEL))
    reading_alert, registry_alert = READING_LEVELS[0]
    alert = func.coalesce(number(VALUES, reading_alert), number(Device.meta, registry_alert))
    hour = hour_index(Observation.observed_at).label("hour")
    rows = ctx.session.execute(
        select(Observation.device_id, hour, func.max(level - alert), Device.district)
        .join(Device, Device.id == Observation.device_id)
        .where(Observation.entity_type.in_(WATER), Device.type.in_(WATER), within(Observation.observed_at, period),
               level.is_not(None), not_drill_reading())
        .group_by(Observation.device_id, Device.district, hour)).all()

    def hours_above(found, _) -> Measured:
        if not found:
            return Measured(None, 0)
        above: dict[str, list[str]] = defaultdict(list)
        for device_id, index, margin, _ in sorted(found, key=lambda row: (row[0], row[1])):
            if margin is not None and margin >= 0:
                above[device_id].append(hour_start(int(index)).isoformat())
        hours = sum(len(h) for h in above.values())
        return Measured(float(hours), len(found), None, {"by_station": {d: len(h) for d, h in sorted(above.items())},
                                                         "hours": dict(sorted(above.items()))})

    return per_district(ctx, rows, lambda row: row[3], hours_above)
