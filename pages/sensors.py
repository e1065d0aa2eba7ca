"""Sensors: every device with its status, and the rejected-messages log for the administrator.

Both lists are DataTables: a city has hundreds of devices, and one Dash component per cell
(html.Td) made the browser build ~1,000 components each refresh, seconds on a busy machine.
A DataTable renders its rows itself, from plain records.
"""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dash_table, dcc, html

from services.i18n import N_, _
from services.vocabulary import (DEVICE_STATUS_LABELS, DEVICE_TYPE_LABELS, duration, label_of, site_time,
                                 values_summary, words)
from services.devices import list_devices
from services.rejections import list_rejections
from services.runtime import current
from services.telemetry import REASON_NAMES, REASONS
from web.ui import may

dash.register_page(__name__, path="/sensors", name=N_("Sensors"), order=50)

SENSORS_TICK = "sensors-tick"
SENSORS_TYPE = "sensors-type-filter"
SENSORS_TABLE = "sensors-table"
SENSORS_REASON = "sensors-reason-filter"
SENSORS_REJECTED = "sensors-rejected"

STATUS_COLOURS = {"ok": "var(--good)", "stale": "var(--warn)", "silent": "var(--bad)", "out_of_area": "var(--bad)"}
# the tables' column ids; their headings are translated (``_table``)
DEVICE_COLUMNS = (N_("Device"), N_("Name"), N_("Type"), N_("District"), N_("Last value"), N_("Last observed"),
                  N_("Age"), N_("Status"))
REJECTION_COLUMNS = (N_("Received"), N_("Topic"), N_("Reason"), N_("Detail"), N_("Payload"))
PAGE_SIZE = 100
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'  # the page's (cityops.css), not the grid's monospace


def _table(table_id: str, columns, **extra) -> dash_table.DataTable:
    return dash_table.DataTable(
        id=table_id, columns=[{"name": _(name), "id": name} for name in columns], data=[],
        page_size=PAGE_SIZE, page_action="native", sort_action="native",
        cell_selectable=False, css=[{"selector": ".dash-spreadsheet-menu", "rule": "display: none"}],
        style_as_list_view=True, style_table={"overflowX": "auto"},
        style_header={"fontWeight": 600, "backgroundColor": "#eaeef2", "textAlign": "left"},
        style_cell={"textAlign": "left", "fontFamily": FONT, "padding": ".35rem .6rem", "whiteSpace": "normal", "height": "auto",
                    "fontSize": ".88rem", "maxWidth": "32rem"},
        **extra,
    )


def layout(**_query):
    return html.Div(className="page", children=[
        dcc.Interval(id=SENSORS_TICK, interval=5000),
        html.H1(_("Sensors")),
        html.Div(className="filters", children=[
            html.Label([_("Type"), " ", dcc.Dropdown(id=SENSORS_TYPE, placeholder=_("all types"), clearable=True,
                                              style={"minWidth": "16rem"})]),
        ]),
        _table(SENSORS_TABLE, DEVICE_COLUMNS, style_data_conditional=[
            {"if": {"filter_query": f'{{Status}} = "{label_of(DEVICE_STATUS_LABELS, status)}"', "column_id": "Status"},
             "color": colour, "fontWeight": 600 if status != "ok" else 400}
            for status, colour in STATUS_COLOURS.items()
        ]),
        *(_rejections() if may("rejections.read") else
          # the refresh callback names these; hidden, and it answers no rows to other roles
          [html.Div(hidden=True, children=[dcc.Dropdown(id=SENSORS_REASON), _table(SENSORS_REJECTED, ())])]),
    ])


def _rejections() -> list:
    """Rejected payloads may hold anything a device sent: the administrator's only."""
    return [
        html.H2(_("Rejected messages")),
        html.Div(className="filters", children=[
            html.Label([_("Reason"), " ", dcc.Dropdown(id=SENSORS_REASON, placeholder=_("all reasons"), clearable=True,
                                                       options=[{"label": f"{label_of(REASON_NAMES, k)} — {_(v)}", "value": k}
                                                         for k, v in REASONS.items()],
                                                style={"minWidth": "24rem"})]),
        ]),
        _table(SENSORS_REJECTED, REJECTION_COLUMNS, style_data_conditional=[
            {"if": {"column_id": "Payload"}, "fontFamily": "monospace", "fontSize": ".78rem"},
        ]),
    ]


@callback(Output(SENSORS_TABLE, "data"), Output(SENSORS_TYPE, "options"),
          Input(SENSORS_TICK, "n_intervals"), Input(SENSORS_TYPE, "value"))
def refresh_devices(_n, device_type):
    runtime = current()
    devices = list_devices(runtime.engine)
    options = [{"label": label_of(DEVICE_TYPE_LABELS, kind), "value": kind}
               for kind in sorted({device.type for device in devices})]
    rows = [
        dict(zip(DEVICE_COLUMNS, (
            device.id, device.name or "", label_of(DEVICE_TYPE_LABELS, device.type), device.district or "—",
            values_summary(device.last_values), site_time(device.last_observed_at, runtime.timezone),
            duration(device.age_s), label_of(DEVICE_STATUS_LABELS, device.status))))
        for device in devices if not device_type or device.type == device_type
    ]
    return rows, options


@callback(Output(SENSORS_REJECTED, "data"), Input(SENSORS_TICK, "n_intervals"), Input(SENSORS_REASON, "value"))
def refresh_rejections(_n, reason):
    if not may("rejections.read"):
        return []  # the table is not in this role's page; the answer holds nothing either
    runtime = current()
    return [
        dict(zip(REJECTION_COLUMNS, (site_time(item.received_at, runtime.timezone), item.topic,
                                     label_of(REASON_NAMES, item.reason), item.summary, item.preview[:160])))
        for item in list_rejections(runtime.engine, reason=reason, limit=100)
    ]
