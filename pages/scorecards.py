"""Scorecards (manager, admin; read-only on a display link): how well the city is run, per district
and period, against targets.

A period (day, week, month, quarter, in the site time zone) and a district (or the whole city)
give the KPI cards: value, target, standing, the change from the previous period with an arrow
coloured by the KPI's better direction, the same period a year before, a sparkline. Below, the
district x KPI matrix coloured by standing. A card or a cell opens the KPI's detail: its trend with
target and baseline, the distribution behind a percentile with its mark, and the records behind it.
What is shown leaves as CSV or XLSX, and the month as the printed monthly report (PDF).
"""
from __future__ import annotations

import json
from datetime import datetime

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from components.scorecards import CARD, CELL, detail_panel, district_matrix, kpi_card
from services.db import session_scope
from services.i18n import N_, _, current_locale
from services.kpis.catalogue import catalogue_of
from services.kpis.export import export_rows, to_csv, to_xlsx
from services.kpis.query import detail, series
from services.kpis.report import monthly_report_pdf
from services.kpis.scorecard import SHOWN_PERIODS, period_label, period_starts, scorecard
from services.kpis.targets import CITY, district_names
from services.models import utcnow
from services.runtime import current

dash.register_page(__name__, path="/scorecards", name=N_("Scorecards"), order=40,
                   title=lambda **_query: _("CityOps — scorecards"),
                   permission="scorecards.read")

PERIOD, START, DISTRICT, SELECTED = "scorecards-period", "scorecards-start", "scorecards-district", "scorecards-kpi"
CARDS, MATRIX, DETAIL, HEADING = "scorecards-cards", "scorecards-matrix", "scorecards-detail", "scorecards-heading"
CSV, XLSX, PDF, DOWNLOAD, MESSAGE = ("scorecards-csv", "scorecards-xlsx", "scorecards-pdf", "scorecards-download",
                                     "scorecards-message")
PICKER_PERIODS = 24  # how far back the period picker reaches


def _district_label(district: str) -> str:
    return _("Whole city") if district == CITY else district


def _period_words() -> dict[str, str]:
    return {"day": _("Day"), "week": _("Week"), "month": _("Month"), "quarter": _("Quarter")}


def layout(period: str = "month", district: str = CITY, kpi: str | None = None, **_query):
    runtime = current()
    period = period if period in SHOWN_PERIODS else "month"
    districts = [CITY, *district_names(runtime.city)]
    return html.Div(className="scorecards-page", children=[
        html.Div(className="scorecards-head", children=[
            html.H1(_("Scorecards")),
            dcc.RadioItems(id=PERIOD, value=period, inline=True, className="scorecards-periods",
                           options=[{"label": words, "value": value} for value, words in _period_words().items()]),
            dcc.Dropdown(id=START, clearable=False, className="scorecards-start"),
            dcc.Dropdown(id=DISTRICT, value=district if district in districts else CITY, clearable=False,
                         className="scorecards-district",
                         options=[{"label": _district_label(name), "value": name} for name in districts]),
            html.Div(className="scorecards-exports", children=[
                html.Button(_("CSV"), id=CSV, n_clicks=0, title=_("Download what is shown as CSV")),
                html.Button(_("XLSX"), id=XLSX, n_clicks=0, title=_("Download what is shown as an Excel workbook")),
                html.Button(_("Monthly report (PDF)"), id=PDF, n_clicks=0,
                            title=_("The month of the chosen period, printed")),
            ]),
        ]),
        html.Div(id=MESSAGE, className="scorecards-message", role="status"),
        html.H2(id=HEADING, className="scorecards-heading"),
        dcc.Loading(html.Div(id=CARDS, className="scorecards-cards"), type="dot"),
        html.Div(id=DETAIL, className="scorecards-detail-box"),
        html.Div(id=MATRIX),
        dcc.Store(id=SELECTED, data=kpi),
        dcc.Download(id=DOWNLOAD),
    ])


@callback(Output(START, "options"), Output(START, "value"), Input(PERIOD, "value"))
def pick_period(period):
    tz = current().timezone
    starts = period_starts(period, utcnow(), tz, PICKER_PERIODS)
    options = [{"label": period_label(period, start, tz), "value": start.isoformat()} for start in starts]
    return options, options[0]["value"]


def _chosen(period, start, district):
    runtime = current()
    catalogue = catalogue_of(runtime.settings)
    with session_scope(runtime.engine) as session:
        card = scorecard(session, catalogue, period=period, start=datetime.fromisoformat(start), district=district,
                         districts=district_names(runtime.city), tz=runtime.timezone)
    return runtime, catalogue, card


@callback(Output(CARDS, "children"), Output(MATRIX, "children"), Output(HEADING, "children"),
          Input(START, "value"), Input(DISTRICT, "value"), Input(SELECTED, "data"), State(PERIOD, "value"))
def show_scorecard(start, district, selected, period):
    if not start:
        return no_update, no_update, no_update
    runtime, catalogue, card = _chosen(period, start, district)
    locale = current_locale()
    heading = _("{district}, {period}", district=_district_label(district),
                period=period_label(period, card.start, runtime.timezone))
    if not card.cards:
        return html.P(_("No KPI is declared (config/kpis.yaml)."), className="scorecards-empty"), None, heading
    cards = [kpi_card(each, locale, each.kpi.key == selected) for each in card.cards]
    return cards, district_matrix(card, catalogue, locale, _district_label), heading


@callback(Output(SELECTED, "data"), Output(DISTRICT, "value"),
          Input({"type": CARD, "kpi": ALL}, "n_clicks"), Input({"type": CELL, "kpi": ALL, "district": ALL}, "n_clicks"),
          prevent_initial_call=True)
def select_kpi(_cards, _cells):
    """A card (its KPI) or a matrix cell (its KPI and district); not the new cards' and cells' arrival."""
    clicked = ctx.triggered_id
    clicks = {json.dumps(item["id"], sort_keys=True): item.get("value") for group in ctx.inputs_list for item in group}
    if not clicked or not clicks.get(json.dumps(dict(clicked), sort_keys=True)):
        return no_update, no_update
    return clicked["kpi"], clicked.get("district", no_update)


@callback(Output(DETAIL, "children"), Input(SELECTED, "data"), Input(START, "value"), Input(DISTRICT, "value"),
          State(PERIOD, "value"))
def show_detail(kpi_key, start, district, period):
    runtime = current()
    kpi = catalogue_of(runtime.settings).get(kpi_key) if kpi_key else None
    if kpi is None or not start:
        return html.P(_("Choose a KPI card or a cell of the matrix to see its trend and what stands behind it."),
                      className="scorecards-hint")
    chosen = datetime.fromisoformat(start)
    with session_scope(runtime.engine) as session:
        trend = series(session, kpi=kpi.key, district=district, period=period, last=24, tz=runtime.timezone,
                       until=chosen, catalogue=catalogue_of(runtime.settings))
        measured = detail(session, runtime.city, catalogue_of(runtime.settings), kpi=kpi.key, district=district,
                          period=period, start=chosen, tz=runtime.timezone)
    return detail_panel(kpi, trend, measured, current_locale(), runtime.timezone)


@callback(Output(DOWNLOAD, "data"), Output(MESSAGE, "children"),
          Input(CSV, "n_clicks"), Input(XLSX, "n_clicks"), Input(PDF, "n_clicks"),
          State(PERIOD, "value"), State(START, "value"), State(DISTRICT, "value"), prevent_initial_call=True)
def export(_csv, _xlsx, _pdf, period, start, district):
    if not start:
        return no_update, no_update
    runtime, catalogue, card = _chosen(period, start, district)
    name = f"scorecards-{district}-{period}-{period_label(period, card.start, runtime.timezone)}".replace(" ", "")
    if ctx.triggered_id == PDF:
        try:
            pdf, month = monthly_report_pdf(runtime, catalogue, card.start, current_locale())
        except RuntimeError as failure:
            return no_update, _("The report could not be printed: {reason}", reason=str(failure))
        return dcc.send_bytes(pdf, f"cityops-report-{month}.pdf"), ""
    rows = export_rows(card.shown_rows(), catalogue, current_locale())
    if ctx.triggered_id == XLSX:
        return dcc.send_bytes(to_xlsx(rows, name), f"{name}.xlsx"), ""
    return dcc.send_string(to_csv(rows), f"{name}.csv"), ""
