"""Targets, baselines and the standing of a value (Shenzhen's "dual track": where a KPI started,
where it should get to).

Per KPI, district ("city": the whole city) and year there may be a row of ``kpi_targets``: the
target (absent: the catalogue's default) and the baseline, a value with the period it was measured
over. ``SetKpiTarget`` is the manager's or administrator's edit, audited; given a baseline period
without a value it measures the value over that period itself.

Standing, direction-aware: ``progress`` is how far the value has gone from the baseline towards the
target, ``(value - baseline) / (target - baseline)`` (the same formula serves "lower is better" and
"higher is better": both differences change sign together)::

    progress >= 1      very_good   the target is met
    0.5 <= p < 1       good        more than half way from the baseline to the target
    0 <= p < 0.5       fair        no worse than the baseline, less than half way
    -0.5 <= p < 0      bad         worse than the baseline, by less than half the distance to the target
    p < -0.5           very_bad    worse than the baseline by half that distance or more

Without a baseline (or a baseline no worse than the target, which leaves no distance to cover) the
value is graded against the target alone, by its shortfall relative to the target:
met -> very_good, within 10 % -> good, 25 % -> fair, 50 % -> bad, beyond -> very_bad (a target of 0:
met -> very_good, else bad). Without a value or a target there is no standing (None).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlmodel import Session

from services.access.principal import Principal
from services.audit import record
from services.commands import Command, Refused
from services.db import session_scope
from services.i18n import _
from services.incidents import iso
from services.kpis.catalogue import Catalogue, Kpi
from services.kpis.registry import MEASURES, MeasureContext, Scope, district_names, measure_scope
from services.models import KpiTarget, utcnow

STANDINGS = ("very_good", "good", "fair", "bad", "very_bad")
CITY = "city"
_PROGRESS_BANDS = ((1.0, "very_good"), (0.5, "good"), (0.0, "fair"), (-0.5, "bad"))
_SHORTFALL_BANDS = ((0.0, "very_good"), (0.10, "good"), (0.25, "fair"), (0.50, "bad"))


def standing(value: float | None, target: float | None, baseline: float | None, direction: str) -> str | None:
    """very_good | good | fair | bad | very_bad (see the module's text), None without value or target."""
    if value is None or target is None:
        return None
    better = 1.0 if direction == "higher" else -1.0
    if baseline is not None and better * (target - baseline) > 0:
        progress = (value - baseline) / (target - baseline)
        return next((name for floor, name in _PROGRESS_BANDS if progress >= floor), "very_bad")
    if better * (value - target) >= 0:
        return "very_good"
    if target == 0:
        return "bad"
    shortfall = better * (target - value) / abs(target)
    return next((name for ceiling, name in _SHORTFALL_BANDS if shortfall <= ceiling), "very_bad")


@dataclass(frozen=True)
class TargetView:
    """A KPI's target and baseline for a district and year, as pages and the API receive them."""

    kpi: str
    district: str
    year: int
    target: float | None
    baseline: float | None
    baseline_from: datetime | None = None
    baseline_to: datetime | None = None
    default_target: float | None = None  # the catalogue's
    updated_at: datetime | None = None
    updated_by: str | None = None

    def as_json(self) -> dict:
        return {"kpi": self.kpi, "district": self.district, "year": self.year, "target": self.target,
                "baseline": self.baseline, "baseline_from": iso(self.baseline_from),
                "baseline_to": iso(self.baseline_to), "default_target": self.default_target,
                "updated_at": iso(self.updated_at), "updated_by": self.updated_by}


def targets_for(session: Session, catalogue: Catalogue, years: set[int], kpi: str | None = None,
                district: str | None = None) -> dict[tuple[str, str, int], TargetView]:
    """The stored rows for these years, by (kpi, district, year)."""
    query = select(KpiTarget).where(KpiTarget.year.in_(sorted(years)))
    if kpi is not None:
        query = query.where(KpiTarget.kpi == kpi)
    if district is not None:
        query = query.where(KpiTarget.district == district)
    return {(row.kpi, row.district, row.year): _view(row, catalogue.get(row.kpi))
            for row in session.execute(query).scalars()}


def target_of(stored: dict, kpi: Kpi, district: str, year: int) -> TargetView:
    """The row for this KPI, district and year, else the catalogue's target and no baseline."""
    found = stored.get((kpi.key, district, year))
    if found is None:
        return TargetView(kpi.key, district, year, kpi.target, None, default_target=kpi.target)
    return found if found.target is not None else replace(found, target=kpi.target)


def list_targets(session: Session, catalogue: Catalogue, year: int, district: str | None = None,
                 kpi: str | None = None) -> list[TargetView]:
    """Every catalogue KPI's target for ``year`` (and district: default "city"), stored or default."""
    stored = targets_for(session, catalogue, {year}, kpi, district)
    districts = sorted({key[1] for key in stored} | {CITY}) if district is None else [district]
    return [target_of(stored, entry, name, year)
            for entry in catalogue if kpi is None or entry.key == kpi for name in districts]


def _view(row: KpiTarget, kpi: Kpi | None) -> TargetView:
    return TargetView(row.kpi, row.district, row.year, row.target, row.baseline, row.baseline_from,
                      row.baseline_to, kpi.target if kpi else None, row.updated_at, row.updated_by)


@dataclass
class SetKpiTarget(Command):
    """Sets a KPI's target and baseline for a district and year (manager or administrator).

    ``changes`` may hold ``target`` (null: the catalogue's default), ``baseline`` and the baseline
    period ``baseline_from`` / ``baseline_to`` (aware datetimes); a period without a baseline value
    is measured (the KPI's measure over that period and district).
    """

    permission = "kpi.targets"

    engine: Any
    city: Any
    catalogue: Catalogue
    principal: Principal
    kpi: str
    district: str
    year: int
    changes: dict
    tz: str = "UTC"

    def check(self) -> None:
        entry = self.catalogue.get(self.kpi)
        if entry is None:
            raise Refused.invalid(_("no KPI {kpi} in the catalogue", kpi=repr(self.kpi)), "kpi")
        if self.district != CITY and self.district not in district_names(self.city):
            raise Refused.invalid(_("no district {district} (a district of the city, or 'city')",
                                    district=repr(self.district)), "district")
        if not 2000 <= self.year <= 2100:
            raise Refused.invalid(_("year must be between 2000 and 2100"), "year")
        unknown = sorted(set(self.changes) - {"target", "baseline", "baseline_from", "baseline_to"})
        if unknown:
            raise Refused.invalid(_("unknown field {unknown}", unknown=repr(unknown[0])), unknown[0])
        for name in ("target", "baseline"):
            value = self.changes.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise Refused.invalid(_("{name} must be a number or null", name=name), name)
        start, end = self.changes.get("baseline_from"), self.changes.get("baseline_to")
        if (start is None) != (end is None):
            raise Refused.invalid(_("a baseline period needs both baseline_from and baseline_to"), "baseline_to")
        if start is not None and not start < end:
            raise Refused.invalid(_("baseline_from must be before baseline_to"), "baseline_from")
        if start is not None and self.changes.get("baseline") is None and entry.measure not in MEASURES:
            raise Refused.invalid(_("the measure {measure} is not registered: give the baseline value",
                                    measure=repr(entry.measure)),
                                  "baseline")

    def run(self) -> TargetView:
        entry = self.catalogue.get(self.kpi)
        values = dict(self.changes)
        with session_scope(self.engine) as session:
            if values.get("baseline_from") is not None and values.get("baseline") is None:
                values["baseline"] = self._measured_baseline(session, entry, values)
            row = session.execute(select(KpiTarget).where(
                KpiTarget.kpi == self.kpi, KpiTarget.district == self.district, KpiTarget.year == self.year)
            ).scalar_one_or_none()
            before = None if row is None else _view(row, entry).as_json()
            if row is None:
                row = KpiTarget(kpi=self.kpi, district=self.district, year=self.year, updated_at=utcnow(),
                                updated_by=self.principal.name)
                session.add(row)
            for name, value in values.items():
                setattr(row, name, None if value is None else value if name.startswith("baseline_") else float(value))
            row.updated_at, row.updated_by = utcnow(), self.principal.name
            session.flush()
            view = _view(row, entry)
            record(session, self.principal.name, "kpi.target", f"kpi:{self.kpi}/{self.district}/{self.year}",
                   before, view.as_json())
        return view

    def _measured_baseline(self, session: Session, entry: Kpi, values: dict) -> float | None:
        scope = Scope(values["baseline_from"], values["baseline_to"], None if self.district == CITY else self.district)
        return measure_scope(MEASURES[entry.measure], MeasureContext(session, self.city, entry.params), scope).value


def local_year(moment: datetime, tz: str) -> int:
    return moment.astimezone(ZoneInfo(tz)).year
