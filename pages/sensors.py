"""Sensors: every device with its status, and the rejected-messages log for the administrator."""
from __future__ import annotations

import dash
from dash import Input, Output, callback, dcc, html

from components.format import age, site_time, value_summary
from components.tables import data_table
from services.devices import list_devices
from services.rejections import list_rejections
from services.runtime import current
from services.telemetry import REASONS
from web.ui import may

dash.register_page(__name__, path="/sensors", name="Sensors", order=50)

SENSORS_TICK = "sensors-tick"
SENSORS_TYPE = "sensors-type-filter"
SENSORS_TABLE = "sensors-table"
SENSORS_REASON = "sensors-reason-filter"
SENSORS_REJECTED = "sensors-rejected"

STATUS_LABELS = {"ok": "OK", "stale": "Stale", "silent": "Silent", "out_of_area": "Out of area"}


def layout(**_query):
    return html.Div(className="page", children=[
        dcc.Interval(id=SENSORS_TICK, interval=5000),
        html.H1("Sensors"),
        html.Div(className="filters", children=[
            html.Label(["Type ", dcc.Dropdown(id=SENSORS_TYPE, placeholder="all types", clearable=True,
                                              style={"minWidth": "16rem"})]),
        ]),
        html.Div(id=SENSORS_TABLE),
        *(_rejections() if may("rejections.read") else
          # the refresh callback names these; hidden, and it answers no rows to other roles
          [html.Div(hidden=True, children=[dcc.Dropdown(id=SENSORS_REASON), html.Div(id=SENSORS_REJECTED)])]),
    ])


def _rejections() -> list:
    """Rejected payloads may hold anything a device sent: the administrator's only."""
    return [
        html.H2("Rejected messages"),
        html.Div(className="filters", children=[
            html.Label(["Reason ", dcc.Dropdown(id=SENSORS_REASON, placeholder="all reasons", clearable=True,
                                                options=[{"label": f"{k} — {v}", "value": k} for k, v in REASONS.items()],
                                                style={"minWidth": "24rem"})]),
        ]),
        html.Div(id=SENSORS_REJECTED),
    ]


@callback(Output(SENSORS_TABLE, "children"), Output(SENSORS_TYPE, "options"),
          Input(SENSORS_TICK, "n_intervals"), Input(SENSORS_TYPE, "value"))
def refresh_devices(_n, device_type):
    runtime = current()
    devices = list_devices(runtime.engine)
    options = sorted({device.type for device in devices})
    shown = [device for device in devices if not device_type or device.type == device_type]
    rows = [
        [device.id, device.name or "", device.type, device.district or "—", value_summary(device.last_values),
         site_time(device.last_observed_at, runtime.timezone, with_date=True), age(device.age_s),
         STATUS_LABELS[device.status]]
        for device in shown
    ]
    table = data_table(["Device", "Name", "Type", "District", "Last value", "Last observed", "Age", "Status"], rows,
                       row_classes=[f"status-{device.status}" for device in shown], empty="No devices yet.")
    return table, options


@callback(Output(SENSORS_REJECTED, "children"), Input(SENSORS_TICK, "n_intervals"), Input(SENSORS_REASON, "value"))
def refresh_rejections(_n, reason):
    if not may("rejections.read"):
        return html.P("Only an administrator may see rejected messages.", className="empty")
    runtime = current()
    rows = [
        [site_time(item.received_at, runtime.timezone, with_date=True), item.topic, item.reason, item.detail,
         html.Code(item.preview[:160])]
        for item in list_rejections(runtime.engine, reason=reason, limit=100)
    ]
    return data_table(["Received", "Topic", "Reason", "Detail", "Payload"], rows, empty="No rejected messages.")
