"""Pure builders of tables: rows in, Dash components out."""
from __future__ import annotations

from typing import Sequence

from dash import html

from services.i18n import _


def data_table(columns: Sequence[str], rows: Sequence[Sequence], *, class_name: str = "data-table",
               row_classes: Sequence[str] | None = None, empty: str | None = None) -> html.Table | html.P:
    if not rows:
        return html.P(empty or _("Nothing to show."), className="empty")
    return html.Table(className=class_name, children=[
        html.Thead(html.Tr([html.Th(column) for column in columns])),
        html.Tbody([
            html.Tr([html.Td(cell) for cell in row], className=(row_classes[i] if row_classes else None))
            for i, row in enumerate(rows)
        ]),
    ])


def figure_card(label: str, value, *, unit: str = "", tone: str = "neutral", note: str | None = None) -> html.Div:
    return html.Div(className=f"figure-card tone-{tone}", children=[
        html.Div(label, className="figure-label"),
        html.Div([html.Span(str(value), className="figure-value"), html.Span(unit, className="figure-unit")]),
        html.Div(note, className="figure-note") if note else None,
    ])
