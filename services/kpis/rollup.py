"""The roll-ups: every catalogue KPI per district and city-wide, per hour, day, week, month and
quarter in the site time zone, stored in ``kpi_rollups`` by the leading ingest process.

Each run (every ``RUN_S`` seconds, so the current periods are at most a minute old):

1. **What changed** since the last run, per source, read from watermarks (``kpi_watermarks``):
   observations by id (the rows stored since; their ``observed_at`` may be long past: late data),
   incidents, work orders and alarms by ``updated_at`` (a re-opened incident, a rated request, an
   acknowledged alarm) and by their new facts (timeline events, by id: an "overdue" fact). Every UTC hour
   one of their times falls in marks the past periods holding that hour as dirty for that source
   (``kpi_dirty_buckets``). Rows stored in the last ``SETTLE``
   are read again by the next run too, so a transaction that commits late is not missed.
2. **The current periods** of every kind (and each period just ended, once, after its end): the KPIs
   whose sources changed and those that change with the clock (``TIMELY``) every run, every KPI at
   least every ``REFRESH``.
3. **The dirty periods**, newest first, for as long as ``budget_s`` allows; only the KPIs whose
   ``sources`` include a source that changed in them. What is left waits for the next run.

Each period is one call of each KPI's measure, for the city and every district at once; a week, month
or quarter of a KPI whose measure registered a combination (registry.SUM / MEAN) is added up from its
stored days when they are ready (``_from_days``); a measure that does not combine so but whose scan of raw
rows adds up over days (the stations' sums, the roads' flows, the sensors' reports) reads a long period's
complete days from their stored scans (``scans.DayScans``, kept as the days are computed for ``SCAN_KEEP``).
Hours are computed for the last ``HOUR_HORIZON`` only (late data older than that recomputes its day, week,
month and quarter) and kept for ``HOUR_KEEP``. A measure that raises is logged and its KPI skipped (its
stored value stays); the others go on.
"""
from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlmodel import Session

from services import fastjson
from services.kpis.catalogue import Catalogue, Kpi
from services.kpis.periods import PERIODS, buckets, period_bounds, shift
from services.kpis.registry import (CITY_WIDE, MEASURES, NO_DATA, SUM, MeasureContext, Measured, Period,
                                    combination_of)
from services.kpis.scans import DayScans
from services.kpis.targets import CITY, district_names
from services.models import (Alarm, AlarmEvent, Incident, IncidentEvent, KpiBehind, KpiDayScan, KpiDirtyBucket,
                            KpiRollup, KpiWatermark, Observation, WorkOrder, WorkOrderEvent, utcnow)

log = logging.getLogger("cityops.kpis")

RUN_S = 30
REFRESH = timedelta(minutes=5)  # every KPI's current values at least this often, changed sources or not
TIMELY = {"devices"}  # KPIs of these sources change with the clock (expected reports): every run
SETTLE = timedelta(seconds=60)
HOUR_HORIZON = timedelta(days=2)
HOUR_KEEP = timedelta(days=35)  # hourly values older than this are deleted (days and longer are kept)
SCAN_KEEP = timedelta(days=100)  # day scans (scans.py) are kept a quarter and more; a period of older days reads them
HOUR = timedelta(hours=1)
# Per source read by updated_at: the record, the times that may put it in a period, and its
# append-only facts (read by id: a fact such as "overdue" does not always touch the record)
RECORD_TIMES = {
    "incidents": (Incident, ("created_at", "dispatched_at", "on_scene_at", "resolved_at", "closed_at"),
                  IncidentEvent, "incident_id"),
    "requests": (WorkOrder, ("received_at", "assigned_at", "accepted_at", "started_at", "resolved_at",
                             "closed_at", "rated_at"), WorkOrderEvent, "order_id"),
    "alarms": (Alarm, ("started_at", "raised_at", "acknowledged_at", "escalated_at", "cleared_at"),
               AlarmEvent, "alarm_id"),
}


@dataclass
class RollupContext:
    engine: Engine
    city: object
    catalogue_source: Callable[[], Catalogue]
    tz: str

    @property
    def catalogue(self) -> Catalogue:
        return self.catalogue_source()

    full_at: datetime | None = None  # when the current periods were last computed for every KPI

    @cached_property
    def districts(self) -> list[str]:
        return district_names(self.city)

    @classmethod
    def of(cls, runtime) -> "RollupContext":
        from services.kpis.catalogue import catalogue_of

        return cls(runtime.engine, runtime.city, lambda: catalogue_of(runtime.settings), runtime.timezone)


@dataclass
class RollupReport:
    """What one run did: periods computed, values stored, KPIs skipped because their measure failed."""

    periods: int = 0
    values: int = 0
    changed: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    dirty_left: int = 0


# ---------------------------------------------------------------- one run

def run_rollup(ctx: RollupContext, now: datetime | None = None, budget_s: float = 20.0) -> RollupReport:
    """One scheduled run: mark what changed, compute the current periods, then the dirty ones."""
    now = now or utcnow()
    started = time.monotonic()
    report = RollupReport()
    changed = mark_changes(ctx, now)
    scans = DayScans(ctx.tz, now)
    refresh = ctx.full_at is None or now - ctx.full_at >= REFRESH
    for period, start, end, closing in _due_now(ctx, now):
        compute(ctx, period, start, end, None if refresh or closing else changed | TIMELY, now, report, scans)
    if refresh:
        ctx.full_at = now
    while time.monotonic() - started < budget_s:
        batch = _dirty_batch(ctx.engine, limit=20)
        if not batch:
            break
        for (period, start, end), (sources, marked) in batch.items():
            compute(ctx, period, start, end, sources, now, report, scans)
            _clean(ctx.engine, period, start, marked)
            if time.monotonic() - started >= budget_s:
                break
    with ctx.engine.begin() as connection:
        connection.execute(delete(KpiRollup).where(KpiRollup.period == "hour", KpiRollup.start < now - HOUR_KEEP))
        connection.execute(delete(KpiDayScan).where(KpiDayScan.start < now - SCAN_KEEP))
        report.dirty_left = connection.execute(select(func.count()).select_from(KpiDirtyBucket)).scalar_one()
    return report


def rollup_range(ctx: RollupContext, start: datetime, end: datetime, now: datetime | None = None,
                 periods: Iterable[str] = PERIODS) -> RollupReport:
    """Computes every period of ``periods`` overlapping ``[start, end)`` (a back-fill, the benchmark)."""
    now = now or utcnow()
    report, scans = RollupReport(), DayScans(ctx.tz, now)
    for period in periods:
        for first, last in buckets(period, start, end, ctx.tz):
            if first < now:
                compute(ctx, period, first, last, None, now, report, scans)
    return report


def _due_now(ctx: RollupContext, now: datetime) -> list[tuple[str, datetime, datetime, bool]]:
    """The current period of every kind, and the one just ended (``closing``) if it was not computed
    after its end."""
    due = []
    with Session(ctx.engine) as session:
        for period in PERIODS:
            start, end = period_bounds(period, now, ctx.tz)
            due.append((period, start, end, False))
            before = shift(period, start, ctx.tz, -1)
            last = session.execute(select(func.min(KpiRollup.computed_at)).where(
                KpiRollup.period == period, KpiRollup.start == before)).scalar_one_or_none()
            if last is not None and last < start:
                due.append((period, before, start, True))
    return due


# ---------------------------------------------------------------- computing one period

def compute(ctx: RollupContext, period: str, start: datetime, end: datetime, sources: set[str] | None,
            now: datetime, report: RollupReport | None = None, scans: DayScans | None = None) -> RollupReport:
    """Every KPI (of ``sources``; None: all) for the city and each district over one period, stored: one
    call of its measure, or, for a week, month or quarter, its stored day values combined when they
    are ready (see ``_from_days``). The measures' additive scans go day by day through ``scans`` (the
    run's; services/kpis/scans.py), which keeps the complete days they read."""
    report = report or RollupReport()
    scans = scans or DayScans(ctx.tz, now)
    kpis = [kpi for kpi in ctx.catalogue if sources is None or sources & set(kpi.sources)]
    if not kpis:
        return report
    results: dict[tuple[str, str], Measured] = {}
    shared: dict = {}  # the rows several measures of this period read, read once (MeasureContext.shared)
    with Session(ctx.engine) as session:
        combined = _from_days(session, ctx, period, start, end, kpis, now)
        results.update(combined)
        for kpi in kpis:
            if (kpi.key, CITY) in combined:
                continue
            measured = _measure_all(session, ctx, kpi, start, end, ctx.districts if kpi.districts else [], shared,
                                    scans)
            if measured is None:
                report.failed[kpi.key] = f"{period} {start.isoformat()}"
                continue
            results.update({(kpi.key, district): value for district, value in measured.items()})
        session.rollback()  # the measures only read
        report.changed += _store(session, period, start, end, results, now)
        scans.write(session)
        session.commit()
    report.periods += 1
    report.values += len(results)
    return report


def _from_days(session: Session, ctx: RollupContext, period: str, start: datetime, end: datetime, kpis: list[Kpi],
               now: datetime) -> dict[tuple[str, str], Measured]:
    """The values of a week, month or quarter that follow exactly from stored day values (the KPIs whose
    measure registered a combination, registry.SUM / MEAN), without reading a raw row. Only when the
    days are ready: every day of the period up to ``now`` stored for the KPI, none of them dirty for one
    of its sources; a KPI whose days are not ready is measured from its rows."""
    if period in ("hour", "day"):
        return {}
    how = {kpi.key: combination for kpi in kpis if (combination := combination_of(kpi.measure, kpi.params))}
    if not how:
        return {}
    days = {day for day, _ in buckets("day", start, min(end, now), ctx.tz)}
    dirty = set(session.execute(select(KpiDirtyBucket.source).where(
        KpiDirtyBucket.period == "day", KpiDirtyBucket.start >= start, KpiDirtyBucket.start < end)).scalars())
    rows: dict[tuple[str, str], list[KpiRollup]] = defaultdict(list)
    stored = select(KpiRollup).where(KpiRollup.period == "day", KpiRollup.start >= start, KpiRollup.start < end,
                                     KpiRollup.kpi.in_(how))
    for row in session.execute(stored).scalars():
        rows[(row.kpi, row.district)].append(row)
    combined = {}
    for kpi in kpis:
        if kpi.key not in how or dirty & set(kpi.sources) or \
                {row.start for row in rows[(kpi.key, CITY)]} != days:
            continue
        for district in [CITY, *(ctx.districts if kpi.districts else [])]:
            combined[(kpi.key, district)] = combine_days(how[kpi.key], rows[(kpi.key, district)])
    return combined


def combine_days(how: str, days: list[KpiRollup]) -> Measured:
    """A longer period's value from its days' stored values: SUM adds values and counts; MEAN weights
    each day's value (and share meeting the objective) by its count. No day with a value: no data."""
    if how == SUM:
        valued = [day.value for day in days if day.value is not None]
        return Measured(sum(valued) if valued else None, sum(day.count for day in days))
    weighed = [day for day in days if day.value is not None and day.count > 0]
    if not weighed:
        return Measured(None, 0)
    total = sum(day.count for day in weighed)
    shared = [day for day in weighed if day.share_meeting is not None]
    share = sum(day.share_meeting * day.count for day in shared) / sum(day.count for day in shared) if shared else None
    return Measured(sum(day.value * day.count for day in weighed) / total, total, share)


def _measure_all(session: Session, ctx: RollupContext, kpi: Kpi, start: datetime, end: datetime,
                 districts: list[str], shared: dict, scans: DayScans | None = None) -> dict[str, Measured] | None:
    """The KPI for the city and each district, in one call of its measure; None (logged) when the
    measure fails or is missing."""
    function = MEASURES.get(kpi.measure)
    if function is None:
        log.error("KPI %s: no measure registered as %r; skipped", kpi.key, kpi.measure)
        return None
    context = MeasureContext(session, ctx.city, kpi.params, tuple(districts), shared, scans)
    try:
        answer = function(context, Period(start, end))
    except Exception:
        log.exception("KPI %s: its measure %r failed for %s..%s; skipped", kpi.key, kpi.measure, start, end)
        session.rollback()  # PostgreSQL refuses every further statement of a failed transaction
        return None
    return {CITY: answer.get(CITY_WIDE, NO_DATA), **{district: answer.get(district, NO_DATA) for district in districts}}


def _store(session: Session, period: str, start: datetime, end: datetime,
           results: dict[tuple[str, str], Measured], now: datetime) -> int:
    """Upserts the period's values; a changed value is unpublished again (the MQTT outbox). In bulk
    statements, not row objects: a period holds ~200 values and the ORM's bookkeeping of them cost
    more than the measures of an hour."""
    table = KpiRollup.__table__
    stored = {(kpi, district): (ident, value, count, share) for ident, kpi, district, value, count, share in
              session.execute(select(table.c.id, table.c.kpi, table.c.district, table.c.value, table.c.count,
                                     table.c.share_meeting).where(table.c.period == period, table.c.start == start))}
    fresh, changed, unchanged = [], [], []
    for (kpi, district), measured in results.items():
        value = None if measured.value is None else float(measured.value)
        now_known = (value, int(measured.count), measured.share_meeting)
        known = stored.get((kpi, district))
        if known is None:
            fresh.append({"kpi": kpi, "district": district, "period": period, "start": start, "end": end,
                          "value": value, "count": now_known[1], "share_meeting": now_known[2], "computed_at": now,
                          "published": False})
        elif known[1:] == now_known:
            unchanged.append(known[0])
        else:
            changed.append({"row": known[0], "new_value": value, "new_count": now_known[1],
                            "new_share": now_known[2]})
    if fresh:
        session.execute(insert(table), fresh)
    if changed:
        session.execute(update(table).where(table.c.id == bindparam("row")).values(
            value=bindparam("new_value"), count=bindparam("new_count"), share_meeting=bindparam("new_share"),
            computed_at=now, published=False), changed)
    if unchanged:
        session.execute(update(table).where(table.c.id.in_(unchanged)).values(computed_at=now))
    if period != "hour":  # the detail view shows a day or longer
        _store_behind(session, period, start, results)
    return len(fresh) + len(changed)


def _store_behind(session: Session, period: str, start: datetime, results: dict[tuple[str, str], Measured]) -> None:
    """Keeps what stands behind each measured value (``kpi_behind``), rewritten only when it changed; a value
    without samples or records (or added up from its days) keeps none."""
    table, behind = KpiRollup.__table__, KpiBehind.__table__
    ids = {(kpi, district): ident for ident, kpi, district in session.execute(
        select(table.c.id, table.c.kpi, table.c.district).where(table.c.period == period, table.c.start == start))}
    wanted = {ids[key]: behind_of(measured) for key, measured in results.items() if key in ids}
    known = dict(session.execute(select(behind.c.rollup_id, behind.c.digest)
                                 .where(behind.c.rollup_id.in_(list(wanted)))).all()) if wanted else {}
    fresh = []
    for ident, found in wanted.items():
        if found is not None and known.get(ident) != found["digest"]:
            fresh.append({"rollup_id": ident, **found})
    outdated = [row["rollup_id"] for row in fresh if row["rollup_id"] in known] + \
        [ident for ident, found in wanted.items() if found is None and ident in known]
    if outdated:
        session.execute(delete(behind).where(behind.c.rollup_id.in_(outdated)))
    if fresh:
        session.execute(insert(behind), fresh)


def behind_of(measured: Measured) -> dict | None:
    """A measured value's samples and records (``[kind, id]`` pairs) with their digest; None when it has neither."""
    detail = measured.detail or {}
    samples = [float(sample) for sample in detail.get("samples") or ()]
    records = [[found["kind"], found["id"]] for found in detail.get("records") or ()]
    if not samples and not records:
        return None
    digest = hashlib.blake2b(fastjson.dumps([samples, records]).encode(), digest_size=16).hexdigest()
    return {"digest": digest, "samples": samples, "records": records}


# ---------------------------------------------------------------- what changed

def mark_changes(ctx: RollupContext, now: datetime) -> set[str]:
    """Reads every source's changes since its watermark, marks the past periods they fall in as dirty
    and moves the watermarks, in one transaction. Returns the sources that changed."""
    changed = set()
    with Session(ctx.engine) as session:
        watermarks = {row.source: row for row in session.execute(select(KpiWatermark)).scalars()}
        hours, last_id = _observation_hours(session, watermarks.get("observations"), now)
        _mark(session, ctx.tz, "observations", hours, now)
        _move(session, watermarks, "observations", now, last_id=last_id)
        changed |= {"observations"} if hours else set()
        for source, (model, columns, facts, owner) in RECORD_TIMES.items():
            mark = watermarks.get(source)
            last_id = mark.last_id if mark is not None and mark.last_id is not None else 0
            newest = session.execute(select(func.max(facts.id))).scalar_one_or_none() or 0
            query = select(*(getattr(model, name) for name in columns))
            if mark is not None and mark.last_at is not None:
                touched = select(getattr(facts, owner)).where(facts.id > last_id, facts.id <= newest)
                query = query.where(or_(model.updated_at > mark.last_at - SETTLE, model.id.in_(touched)))
            instants = {moment for row in session.execute(query) for moment in row if moment is not None}
            instants |= set(session.execute(select(facts.at).where(facts.id > last_id, facts.id <= newest)).scalars())
            _mark(session, ctx.tz, source, {_hour_of(moment) for moment in instants}, now)
            _move(session, watermarks, source, now, last_at=now, last_id=newest)
            changed |= {source} if instants else set()
        session.commit()
    return changed


def _observation_hours(session: Session, mark: KpiWatermark | None, now: datetime) -> tuple[set[datetime], int | None]:
    """The UTC hours of the observations stored since the watermark, and the new watermark: the newest
    id stored more than SETTLE ago (younger rows are read again next time)."""
    after = mark.last_id if mark is not None and mark.last_id is not None else 0
    settled = session.execute(select(func.max(Observation.id)).where(
        Observation.id > after, Observation.received_at < now - SETTLE)).scalar_one_or_none()
    hour = _hour_expression(session, Observation.observed_at)
    rows = session.execute(select(hour).where(Observation.id > after).group_by(hour)).scalars()
    return {_parse_hour(value) for value in rows}, settled if settled is not None else after


def _hour_expression(session: Session, column):
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", column)
    return func.substr(column, 1, 13)  # SQLite keeps naive UTC as text: "YYYY-MM-DD HH"


def _parse_hour(value) -> datetime:
    if isinstance(value, str):
        return datetime.strptime(value[:13], "%Y-%m-%d %H").replace(tzinfo=timezone.utc)
    return value.replace(tzinfo=timezone.utc)


def _hour_of(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _mark(session: Session, tz: str, source: str, hours: set[datetime], now: datetime) -> int:
    """Marks the past periods overlapping each UTC hour as dirty for ``source`` (the current ones are
    computed every run anyway; hours older than HOUR_HORIZON are not kept as hours)."""
    if not hours:
        return 0
    dirty: dict[tuple[str, datetime], datetime] = {}
    current = {period: period_bounds(period, now, tz)[0] for period in PERIODS}
    for period in PERIODS:
        seen_until = None
        for hour in sorted(hours):
            if period == "hour" and hour < now - HOUR_HORIZON:
                continue
            if seen_until is not None and hour + HOUR <= seen_until:
                continue  # inside a period already marked
            for start, end in buckets(period, hour, hour + HOUR, tz):
                if start < current[period]:
                    dirty[(period, start)] = end
                seen_until = end
    rows = [{"period": period, "start": start, "source": source, "end": end, "marked_at": now}
            for (period, start), end in dirty.items()]
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    for index in range(0, len(rows), 500):
        statement = insert(KpiDirtyBucket).values(rows[index:index + 500])
        session.execute(statement.on_conflict_do_update(
            index_elements=["period", "start", "source"], set_={"marked_at": statement.excluded.marked_at}))
    return len(rows)


def _move(session: Session, watermarks: dict, source: str, now: datetime, **position) -> None:
    mark = watermarks.get(source)
    if mark is None:
        mark = watermarks[source] = KpiWatermark(source=source, updated_at=now)
        session.add(mark)
    for name, value in position.items():
        setattr(mark, name, value)
    mark.updated_at = now


def _dirty_batch(engine: Engine, limit: int) -> dict[tuple[str, datetime, datetime], tuple[set[str], datetime]]:
    """The newest dirty periods: each with the sources that changed in it and its latest mark."""
    with Session(engine) as session:
        newest = session.execute(select(KpiDirtyBucket.period, KpiDirtyBucket.start)
                                 .group_by(KpiDirtyBucket.period, KpiDirtyBucket.start)
                                 .order_by(KpiDirtyBucket.start.desc(), KpiDirtyBucket.period).limit(limit)).all()
        batch: dict = defaultdict(lambda: (set(), datetime.min.replace(tzinfo=timezone.utc)))
        for period, start in newest:
            for row in session.execute(select(KpiDirtyBucket).where(
                    KpiDirtyBucket.period == period, KpiDirtyBucket.start == start)).scalars():
                sources, marked = batch[(row.period, row.start, row.end)]
                sources.add(row.source)
                batch[(row.period, row.start, row.end)] = (sources, max(marked, row.marked_at))
    return dict(batch)


def _clean(engine: Engine, period: str, start: datetime, marked: datetime) -> None:
    """Forgets a computed dirty period, unless it was marked again while it was being computed."""
    with engine.begin() as connection:
        connection.execute(delete(KpiDirtyBucket).where(
            KpiDirtyBucket.period == period, KpiDirtyBucket.start == start, KpiDirtyBucket.marked_at <= marked))
