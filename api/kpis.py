"""Scorecards (SPEC section 5): the stored KPI values with targets, baselines and standing, as JSON or
CSV; the targets and baselines, read by anyone, set by a manager or administrator (a command of
services/kpis/targets.py, audited)."""
from __future__ import annotations

from flask import Response, g, jsonify, request

from api import models
from api.core import ApiError, Parameter, endpoint, run, time_arg
from services.i18n import _, current_locale
from services.kpis.catalogue import catalogue_of
from services.kpis.export import export_rows, to_csv
from services.kpis.periods import PERIODS
from services.kpis.query import values
from services.kpis.targets import CITY, SetKpiTarget, district_names, list_targets, local_year
from services.models import utcnow
from services.runtime import current
from services.db import session_scope
from services.telemetry import Rejected, parse_time

_STRING = {"type": "string"}


@endpoint("/kpis", "KPI values of one period with target, baseline and standing (JSON, or CSV with format=csv)",
          parameters=(
              Parameter("period", "query", "hour, day (default), week, month or quarter, in the site time zone",
                        {"type": "string", "enum": list(PERIODS)}),
              Parameter("district", "query", "a district's name, or city (the whole city); default: all", _STRING),
              Parameter("kpi", "query", "a KPI key of the catalogue; default: all", _STRING),
              Parameter("start", "query", "ISO 8601: the period holding this instant; default: the current one",
                        {"type": "string", "format": "date-time"}),
              Parameter("lang", "query", "en or zh: the labels' language", {"type": "string", "enum": ["en", "zh"]}),
              Parameter("format", "query", "json (default) or csv", {"type": "string", "enum": ["json", "csv"]}),
          ), response=models.KpiValues)
def kpi_values():
    runtime = current()
    catalogue = catalogue_of(runtime.settings)
    period = _choice("period", PERIODS, "day")
    output = _choice("format", ("json", "csv"), "json")
    district = _known("district", request.args.get("district"), [CITY, *district_names(runtime.city)])
    kpi = _known("kpi", request.args.get("kpi"), [entry.key for entry in catalogue])
    locale = _choice("lang", ("en", "zh"), current_locale())
    with session_scope(runtime.engine) as session:
        found = values(session, period=period, start=time_arg("start"), district=district, kpi=kpi,
                       tz=runtime.timezone, catalogue=catalogue)
    rows = export_rows(found, catalogue, locale)
    if output == "csv":
        filename = f"kpis-{period}-{found[0].start.date().isoformat() if found else 'none'}.csv"
        return Response(to_csv(rows), mimetype="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    return jsonify(rows)


@endpoint("/kpis/targets", "Targets and baselines of one year (default: this year), stored or the catalogue's",
          parameters=(
              Parameter("year", "query", "the local calendar year", {"type": "integer"}),
              Parameter("district", "query", "a district's name, or city; default: city and every district "
                                             "with its own", _STRING),
              Parameter("kpi", "query", "a KPI key of the catalogue", _STRING),
          ), response=models.KpiTargets)
def kpi_targets():
    runtime = current()
    catalogue = catalogue_of(runtime.settings)
    district = _known("district", request.args.get("district"), [CITY, *district_names(runtime.city)])
    kpi = _known("kpi", request.args.get("kpi"), [entry.key for entry in catalogue])
    year = request.args.get("year") or str(local_year(utcnow(), runtime.timezone))
    if not year.isdigit():
        raise ApiError(400, "invalid_value", _("year must be a year like 2026"), "year")
    with session_scope(runtime.engine) as session:
        targets = list_targets(session, catalogue, int(year), district, kpi)
    return jsonify({"targets": [target.as_json() for target in targets], "count": len(targets)})


@endpoint("/kpis/targets", "Set a KPI's target and baseline for a district and year (manager, admin)",
          method="PUT", role="kpi.targets", body=models.KpiTargetChange, response=models.KpiTarget)
def set_kpi_target(body: models.KpiTargetChange):
    runtime = current()
    changes = {name: getattr(body, name) for name in ("target", "baseline") if name in body.model_fields_set}
    for name in ("baseline_from", "baseline_to"):
        if getattr(body, name) is not None:
            changes[name] = _time(getattr(body, name), name)
    command = SetKpiTarget(runtime.engine, runtime.city, catalogue_of(runtime.settings), g.principal, body.kpi,
                           body.district, body.year, changes, runtime.timezone)
    return jsonify(run(command).as_json())


def _choice(name: str, allowed: tuple[str, ...], default: str) -> str:
    value = request.args.get(name) or default
    if value not in allowed:
        raise ApiError(400, "invalid_value", _("{name} must be one of {choices}",
                                               name=name, choices=', '.join(allowed)), name)
    return value


def _known(name: str, value: str | None, known: list[str]) -> str | None:
    if value and value not in known:
        raise ApiError(400, "invalid_value", _("unknown {name} {value}", name=name, value=repr(value)), name)
    return value or None


def _time(raw: str, name: str):
    try:
        return parse_time(raw, name)
    except Rejected as error:
        raise ApiError(422, "invalid_value", error.shown, name) from None
