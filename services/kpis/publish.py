"""KPIs on MQTT: each current value as a Smart Data Models ``KeyPerformanceIndicator``, retained, QoS 1.

``kpi_rollups`` is the outbox: a value stored changed is unpublished (``published`` false) until the
broker acknowledged it. Only the current period of each kind is published (a closed period's
last value was published while it was current; its later corrections are in the API):

  ``<root>/kpis/<kpi>/<district>``           the current day (the topic of SPEC section 4)
  ``<root>/kpis/<kpi>/<district>/<period>``  the current hour, day, week, month and quarter

``<district>`` is the district's name (``/``, ``+`` and ``#`` replaced by ``_``) or ``city``.

Mapping (SDM dataModel.KeyPerformanceIndicator, key-values):
  id                     urn:ngsi-ld:KeyPerformanceIndicator:cityops:<kpi>:<district>:<period>
  name / description     the catalogue's label (English) / its standard or source
  category               ["quantitative"]; process: the KPI's dimension; organization: the city
  kpiValue               the value in the catalogue's unit (null: no data in the period)
  currentStanding        veryGood | good | fair | bad | veryBad (absent without a target)
  calculationPeriod      {from, to}: the period's first and last local day (an hour: ISO instants, [from, to))
  calculationFrequency   hourly | daily | weekly | monthly | quarterly
  calculationMethod      automatic; calculationFormula: the catalogue's method (English)
  area                   the district's name, or the city's name
  businessTarget         the target in words ("<= 300 s"), absent without a target
  dateCreated / dateModified   when this value was computed
  data                   CityOps's own: kpi, district, period, unit, target, baseline, count, shareMeeting
"""
from __future__ import annotations

import logging
import re
from datetime import datetime
from typing import Callable

from sqlalchemy import or_, and_, select, update
from sqlmodel import Session

from services.incidents import iso
from services.kpis.catalogue import Catalogue
from services.kpis.periods import FREQUENCY, PERIODS, local_dates, period_bounds
from services.kpis.query import KpiValue, values_of
from services.kpis.targets import CITY
from services.models import KpiRollup, utcnow

log = logging.getLogger("cityops.kpis")

SDM_STANDING = {"very_good": "veryGood", "good": "good", "fair": "fair", "bad": "bad", "very_bad": "veryBad"}
BATCH = 500
_UNSAFE = re.compile(r"[/+#]")


def kpi_topics(root: str, value: KpiValue) -> list[str]:
    district = _UNSAFE.sub("_", value.district)
    topics = [f"{root}/kpis/{value.kpi}/{district}/{value.period}"]
    if value.period == "day":
        topics.insert(0, f"{root}/kpis/{value.kpi}/{district}")
    return topics


def kpi_entity(value: KpiValue, catalogue: Catalogue, city_name: str, tz: str, computed_at: datetime) -> dict:
    kpi = catalogue.get(value.kpi)
    if value.period == "hour":
        period = {"from": iso(value.start), "to": iso(value.end)}
    else:
        first, last = local_dates(value.period, value.start, value.end, tz)
        period = {"from": first.isoformat(), "to": last.isoformat()}
    entity = {
        "id": f"urn:ngsi-ld:KeyPerformanceIndicator:cityops:{value.kpi}:{_UNSAFE.sub('_', value.district)}:{value.period}",
        "type": "KeyPerformanceIndicator",
        "name": kpi.label_in("en"),
        "description": kpi.standard or kpi.label_in("en"),
        "category": ["quantitative"],
        "organization": city_name,
        "process": kpi.dimension,
        "kpiValue": value.value,
        "calculationPeriod": period,
        "calculationFrequency": FREQUENCY[value.period],
        "calculationMethod": "automatic",
        "calculationFormula": kpi.method_in("en"),
        "area": city_name if value.district == CITY else value.district,
        "dateCreated": iso(computed_at),
        "dateModified": iso(computed_at),
        "data": {"kpi": value.kpi, "district": value.district, "period": value.period, "unit": kpi.unit,
                 "direction": kpi.direction, "target": value.target, "baseline": value.baseline,
                 "count": value.count, "shareMeeting": value.share_meeting, "standing": value.standing},
    }
    if value.standing is not None:
        entity["currentStanding"] = SDM_STANDING[value.standing]
    if value.target is not None:
        entity["businessTarget"] = f"{'<=' if kpi.lower_is_better else '>='} {value.target:g} {kpi.unit}"
    return entity


def retained_publisher(target) -> Callable[[str, dict], bool]:
    """Publishes to the broker of ``target`` with QoS 1, retained; True once the broker took it."""
    from services.mqtt_publisher import publisher_for

    def publish(topic: str, payload: dict) -> bool:
        return publisher_for(target).publish(topic, payload, qos=1, retain=True)

    return publish


def publish_current(engine, catalogue: Catalogue, city_name: str, tz: str, root: str,
                    publish: Callable[[str, dict], bool], now: datetime | None = None) -> int:
    """Publishes the unpublished values of the current periods; returns how many the broker took."""
    now = now or utcnow()
    current = [and_(KpiRollup.period == period, KpiRollup.start == period_bounds(period, now, tz)[0])
               for period in PERIODS]
    with Session(engine) as session:
        rows = list(session.execute(select(KpiRollup).where(KpiRollup.published.is_(False), or_(*current))
                                    .order_by(KpiRollup.id).limit(BATCH)).scalars())
        computed = {(row.kpi, row.district, row.period): (row.id, row.computed_at) for row in rows}
        views = values_of(session, catalogue, rows, tz)
    done = []
    for value in views:
        row_id, computed_at = computed[(value.kpi, value.district, value.period)]
        entity = kpi_entity(value, catalogue, city_name, tz, computed_at)
        if all(_publish(publish, topic, entity) for topic in kpi_topics(root, value)):
            done.append((row_id, computed_at))
        else:
            break  # the broker is away: the rest waits for the next run
    if done:
        with engine.begin() as connection:
            for row_id, computed_at in done:  # a value recomputed meanwhile stays unpublished
                connection.execute(update(KpiRollup).where(KpiRollup.id == row_id,
                                                           KpiRollup.computed_at == computed_at)
                                   .values(published=True))
    return len(done)


def _publish(publish: Callable[[str, dict], bool], topic: str, entity: dict) -> bool:
    try:
        return bool(publish(topic, entity))
    except Exception:  # the broker's absence must not stop the roll-ups
        log.exception("publishing %s failed", topic)
        return False
