"""Day scans: what a measure's scan of raw rows gave for each complete day, kept so that a week, month or
quarter adds the days up instead of reading its rows again.

Some KPIs do not follow from their day values (a mean of the stations' means, a length-weighted share of
the roads' shares, received reports counted up to the expected number per sensor), but the scans behind
them do: per sensor, the readings, their sums, the congested ones add up over days. A measure asks for
such a scan with ``common.additive(ctx, scan, source, period, read)``; ``read(part)`` returns ``{key: [numbers]}``
for a part of the period, numbers that add up element by element over parts. Without a store (the detail
view measuring live, the tests' own calls) that is one read of the whole period.

In the roll-up (``DayScans``, one per run) the period is read day by day, in the site's calendar days:

- a complete day (ended before the run) is taken as stored (``kpi_day_scans``), when it was stored after
  the day ended and the day is not marked dirty for the scan's source; else it is read and kept (written
  with the period's values, after the measures);
- the running day is read once a run, whichever period asks for it (a measure that ends its period at the
  clock, as sensor availability does, reads its part of the running day each time); the days still to come
  are read together (nothing should be there, but a reading dated ahead would count);
- an hour, or a period that is part of one day, is read as it is.

The parts are read with the same query as the whole period would be, so the values are the same, up to
the order floating-point sums are added in. A stored day follows its source's rows (late or changed rows
mark it dirty); a change of the registry (a device registered, or moved to another type, afterwards) does
not touch the days already stored.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, insert, select
from sqlmodel import Session

from services.kpis.periods import buckets
from services.kpis.registry import Period
from services.models import KpiDayScan, KpiDirtyBucket

Vectors = dict[str, list[float]]  # per key (a sensor): numbers that add up over the parts of a period


def add_up(parts: list[Vectors]) -> Vectors:
    """The parts' vectors added element by element, per key."""
    total: Vectors = {}
    for part in parts:
        for key, numbers in part.items():
            known = total.get(key)
            total[key] = list(numbers) if known is None else [a + b for a, b in zip(known, numbers)]
    return total


class DayScans:
    """The roll-up run's day scans: those stored, those read in this run, those to write (``write``)."""

    def __init__(self, tz: str, now: datetime):
        self.tz, self.now = tz, now
        self.read_now: dict[tuple[str, datetime, datetime], Vectors] = {}  # this run's reads, by (scan, part)
        self.to_write: dict[tuple[str, datetime], tuple[datetime, Vectors]] = {}

    def additive(self, session: Session, scan: str, source: str, period: Period,
                 read: Callable[[Period], Vectors]) -> Vectors:
        days = list(buckets("day", period.start, period.end, self.tz))
        whole = [(start, end) for start, end in days if period.start <= start and end <= period.end]
        if not whole:  # an hour, or a part of one day
            return read(period)
        complete = [(start, end) for start, end in whole if end <= self.now]
        stored = self._stored(session, scan, source, complete)
        parts, ahead = [], None
        for start, end in days:
            if start in stored:
                parts.append(stored[start])
            elif start >= self.now and (start, end) in whole:
                ahead = Period(ahead.start if ahead else start, end)
            else:
                part = Period(max(start, period.start), min(end, period.end))
                parts.append(self._read(scan, part, read))
                if (start, end) in complete:
                    self.to_write[(scan, start)] = (end, parts[-1])
        if ahead is not None:
            parts.append(self._read(scan, ahead, read))
        return add_up(parts)

    def _read(self, scan: str, part: Period, read: Callable[[Period], Vectors]) -> Vectors:
        key = (scan, part.start, part.end)
        if key not in self.read_now:
            self.read_now[key] = read(part)
        return self.read_now[key]

    def _stored(self, session: Session, scan: str, source: str,
                complete: list[tuple[datetime, datetime]]) -> dict[datetime, Vectors]:
        """The complete days' stored scans still true: stored after the day ended, the day not dirty."""
        if not complete:
            return {}
        first, last = complete[0][0], complete[-1][0]
        dirty = set(session.execute(select(KpiDirtyBucket.start).where(
            KpiDirtyBucket.period == "day", KpiDirtyBucket.source == source, KpiDirtyBucket.start >= first,
            KpiDirtyBucket.start <= last)).scalars())
        ends = dict(complete)
        found = {}
        for start, rows, computed_at in session.execute(select(KpiDayScan.start, KpiDayScan.rows,
                                                               KpiDayScan.computed_at).where(
                KpiDayScan.scan == scan, KpiDayScan.start >= first, KpiDayScan.start <= last)):
            if start in ends and start not in dirty and computed_at >= ends[start]:
                found[start] = rows
        return found

    def write(self, session: Session) -> None:
        """Stores the complete days read since the last call (in the caller's transaction)."""
        if not self.to_write:
            return
        table = KpiDayScan.__table__
        for scan in {scan for scan, _ in self.to_write}:
            starts = [start for (name, start) in self.to_write if name == scan]
            session.execute(delete(table).where(table.c.scan == scan, table.c.start.in_(starts)))
        session.execute(insert(table), [{"scan": scan, "start": start, "end": end, "rows": rows,
                                         "computed_at": self.now}
                                        for (scan, start), (end, rows) in self.to_write.items()])
        self.to_write.clear()
