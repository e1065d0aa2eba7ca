"""Pure builders of the scorecards page (pages/scorecards.py): KPI cards with their sparklines, the
district x KPI matrix, and a KPI's detail (trend with target and baseline, the distribution behind a
percentile, the records behind the number). No I/O: value objects in, Dash components out. Plotly
figures use no web fonts and no tiles (the page works offline)."""
from __future__ import annotations

from urllib.parse import quote
from zoneinfo import ZoneInfo

import plotly.graph_objects as go
from dash import dcc, html

from services.i18n import _
from services.kpis.report import sparkline_svg
from services.kpis.scorecard import number, standing_label

CARD, CELL = "scorecards-card", "scorecards-cell"  # pattern-matching id types
STANDING_COLOURS = {"very_good": "#1a7f37", "good": "#6cbf4a", "fair": "#e3b505", "bad": "#e8743b",
                    "very_bad": "#c62828", None: "#9aa5b1"}
BETTER, WORSE = "#1a7f37", "#c62828"
FONT = dict(family="system-ui, -apple-system, 'Segoe UI', 'Noto Sans CJK SC', sans-serif", size=12)
STATIC = {"staticPlot": True, "displayModeBar": False}


def kpi_card(card, locale: str, selected: bool = False) -> html.Div:
    kpi, now = card.kpi, card.now
    return html.Div(id={"type": CARD, "kpi": kpi.key}, n_clicks=0,
                    className=f"scorecard-card standing-{now.standing or 'none'}" + (" selected" if selected else ""),
                    title=kpi.method_in(locale), children=[
        html.Div(kpi.label_in(locale), className="scorecard-card-label"),
        html.Div([html.Span(number(now.value, kpi.unit), className="scorecard-card-value"),
                  _change(card)], className="scorecard-card-line"),
        html.Div([html.Span(standing_label(now.standing), className="scorecard-standing"),
                  html.Span(_("target {target}", target=number(now.target, kpi.unit)) if now.target is not None
                            else _("no target"), className="scorecard-card-target")],
                 className="scorecard-card-line"),
        html.Div(_("a year before: {value}", value=number(card.year_before.value if card.year_before else None,
                                                          kpi.unit)), className="scorecard-card-year"),
        sparkline(card),
    ])


def _change(card) -> html.Span:
    if card.change is None:
        return html.Span("–", className="scorecard-change", title=_("no previous value to compare"))
    arrow = "▲" if card.change > 0 else "▼" if card.change < 0 else "="
    colour = {True: BETTER, False: WORSE}.get(card.change_is_better, "#5b6670")
    return html.Span(f"{arrow} {number(abs(card.change), card.kpi.unit)}", className="scorecard-change",
                     style={"color": colour}, title=_("change from the previous period"))


def sparkline(card) -> html.Img:
    """The last periods as a small SVG line (an image: thirty plotly figures would slow the page)."""
    svg = sparkline_svg([value.value for value in card.trend], width=220, height=40)
    if not svg:
        return html.Div(_("no trend yet"), className="scorecard-sparkline empty")
    return html.Img(src="data:image/svg+xml;utf8," + quote(svg), className="scorecard-sparkline",
                    alt=_("trend of the last {count} periods", count=len(card.trend)))


def district_matrix(scorecard, catalogue, locale: str, district_label) -> html.Div:
    """Rows: the city, then each district; columns: the KPIs; each cell coloured by its standing."""
    kpis = [card.kpi for card in scorecard.cards] or list(catalogue)
    head = html.Tr([html.Th(_("District"))] + [html.Th(kpi.label_in(locale), title=kpi.label_in(locale))
                                                for kpi in kpis])
    rows = []
    for district in scorecard.districts:
        cells = [html.Th(district_label(district), scope="row")]
        for kpi in kpis:
            value = scorecard.matrix.get((district, kpi.key))
            if district != "city" and not kpi.districts:
                cells.append(html.Td("", className="scorecard-cell standing-none"))
                continue
            standing = value.standing if value else None
            cells.append(html.Td(html.Button(
                number(value.value if value else None, kpi.unit), n_clicks=0,
                id={"type": CELL, "kpi": kpi.key, "district": district},
                title=f"{district_label(district)} · {kpi.label_in(locale)}: {standing_label(standing)}"),
                className=f"scorecard-cell standing-{standing or 'none'}"))
        rows.append(html.Tr(cells, className="selected" if district == scorecard.district else None))
    return html.Div(html.Table([html.Thead(head), html.Tbody(rows)], className="scorecard-matrix"),
                    className="scorecard-matrix-box")


def trend_figure(kpi, series, locale: str, tz: str) -> go.Figure:
    """The KPI over the last periods, with the target and baseline lines."""
    zone = ZoneInfo(tz)
    x = [value.start.astimezone(zone) for value in series]
    figure = go.Figure(go.Scatter(x=x, y=[value.value for value in series], mode="lines+markers",
                                  name=kpi.label_in(locale), line={"color": "#33506b"}))
    last = series[-1] if series else None
    if last is not None and last.target is not None:
        figure.add_hline(y=last.target, line={"color": BETTER, "dash": "dash"},
                         annotation_text=_("target"), annotation_position="top left")
    if last is not None and last.baseline is not None:
        figure.add_hline(y=last.baseline, line={"color": "#7a5195", "dash": "dot"},
                         annotation_text=_("baseline"), annotation_position="bottom left")
    figure.update_layout(title=_("Trend"), height=280, margin=dict(l=50, r=20, t=40, b=40), font=FONT,
                         yaxis_title=kpi.unit, showlegend=False, paper_bgcolor="#fff", plot_bgcolor="#f7f9fb")
    return figure


def distribution_figure(kpi, samples: list[float], value: float | None, locale: str) -> go.Figure:
    """The samples behind a percentile as a histogram, with the KPI's own value marked (the 90 % mark)."""
    figure = go.Figure(go.Histogram(x=samples, nbinsx=30, marker={"color": "#6c8ebf"}, name=_("samples")))
    if value is not None:
        figure.add_vline(x=value, line={"color": WORSE, "width": 2},
                         annotation_text=_("{label}: {value}", label=_statistic(kpi), value=number(value, kpi.unit)),
                         annotation_position="top right")
    objective = kpi.params.get("objective_s")
    if objective is not None:
        figure.add_vline(x=objective, line={"color": BETTER, "dash": "dash"},
                         annotation_text=_("objective {value}", value=number(objective, kpi.unit)),
                         annotation_position="top left")
    figure.update_layout(title=_("Distribution ({count} samples)", count=len(samples)), height=280, font=FONT,
                         margin=dict(l=50, r=20, t=40, b=40), xaxis_title=kpi.unit, yaxis_title=_("count"),
                         bargap=0.05, paper_bgcolor="#fff", plot_bgcolor="#f7f9fb")
    return figure


def _statistic(kpi) -> str:
    statistic = str(kpi.params.get("statistic", ""))
    return {"p90": _("90 %"), "p50": _("median"), "median": _("median"), "mean": _("mean")}.get(statistic, statistic)


RECORD_LINKS = {"incident": ("/dispatch?incident={id}", "Incident #{id}"),
                "request": ("/requests?order={id}", "Request #{id}"),
                "alarm": ("/alarms?alarm={id}", "Alarm #{id}")}


def records_list(records: list[dict], limit: int = 50) -> html.Div:
    """The records behind the number, each a link to the screen that shows it."""
    if not records:
        return html.Div(_("No records behind this value."), className="scorecard-records empty")
    items = []
    for found in records[:limit]:
        href, text = RECORD_LINKS.get(found.get("kind"), (None, "{kind} {id}"))
        words = _(text, id=found.get("id"), kind=found.get("kind"))
        items.append(html.Li(dcc.Link(words, href=href.format(id=found.get("id"))) if href else words))
    more = [html.Li(_("and {count} more", count=len(records) - limit))] if len(records) > limit else []
    return html.Div([html.H4(_("Records ({count})", count=len(records))), html.Ul(items + more)],
                    className="scorecard-records")


def detail_panel(kpi, series, measured, locale: str, tz: str) -> html.Div:
    samples = list(measured.detail.get("samples") or []) if measured is not None else []
    records = list(measured.detail.get("records") or []) if measured is not None else []
    value = measured.value if measured is not None else None
    figures = [dcc.Graph(id="scorecards-trend", figure=trend_figure(kpi, series, locale, tz), config=STATIC)]
    if samples:
        figures.append(dcc.Graph(id="scorecards-distribution", figure=distribution_figure(kpi, samples, value, locale),
                                 config=STATIC))
    share = measured.share_meeting if measured is not None else None
    facts = [html.P(kpi.method_in(locale), className="scorecard-method"),
             html.P(_("Standard: {standard}", standard=kpi.standard), className="scorecard-standard")]
    if share is not None:
        facts.append(html.P(_("{share} % meet the objective", share=f"{share * 100:.1f}"),
                            className="scorecard-share"))
    return html.Div([html.H3(kpi.label_in(locale)), *facts, html.Div(figures, className="scorecard-figures"),
                     records_list(records)], className="scorecard-detail")
