"""Status: is telemetry flowing, from which devices, and what was rejected."""
from __future__ import annotations

from collections import Counter

import dash
from dash import Input, Output, callback, dcc, html

from services.i18n import N_, _
from services.vocabulary import site_time
from components.tables import data_table, figure_card
from services.devices import list_devices
from services.health import ingest_health
from services.rejections import rejection_counts
from services.runtime import current
from services.telemetry import REASONS

dash.register_page(__name__, path="/status", name=N_("Status"), order=40)

STATUS_TICK = "status-tick"
STATUS_FIGURES = "status-figures"
STATUS_TYPES = "status-types"
STATUS_REJECTIONS = "status-rejections"


def layout(**_query):
    return html.Div(className="page", children=[
        html.H1("Telemetry status"),
        dcc.Interval(id=STATUS_TICK, interval=2000),
        html.Div(id=STATUS_FIGURES, className="figure-strip"),
        html.Div(className="two-columns", children=[
            html.Section([html.H2("Devices by type"), html.Div(id=STATUS_TYPES)]),
            html.Section([html.H2("Rejected messages by reason"), html.Div(id=STATUS_REJECTIONS)]),
        ]),
    ])


@callback(Output(STATUS_FIGURES, "children"), Output(STATUS_TYPES, "children"),
          Output(STATUS_REJECTIONS, "children"), Input(STATUS_TICK, "n_intervals"))
def refresh(_n):
    runtime = current()
    health = ingest_health(runtime.engine)
    devices = list_devices(runtime.engine)
    broker_tone = "good" if health["broker"] else "bad"
    figures = [
        figure_card("Broker", "connected" if health["broker"] else "not connected", tone=broker_tone,
                    note=f"{health['running']} ingest process(es)"),
        figure_card("Received", f"{health['received']:,}", note="messages since the ingest started"),
        figure_card("Stored", f"{health['stored']:,}", note=f"{health['duplicates']:,} duplicates stored once"),
        figure_card("Rejected", f"{health['rejected']:,}", tone="warn" if health["rejected"] else "neutral",
                    note="kept with their reasons"),
        figure_card("Write lag", "—" if health["lag_seconds"] is None else f"{health['lag_seconds']:.2f}", unit="s"),
    ]
    by_type: dict[str, Counter] = {}
    for device in devices:
        by_type.setdefault(device.type, Counter())[device.status] += 1
    newest = {t: max((d.last_observed_at for d in devices if d.type == t and d.last_observed_at), default=None)
              for t in by_type}
    type_rows = [
        [kind, sum(counts.values()), counts["ok"], counts["stale"], counts["silent"], counts["out_of_area"],
         site_time(newest[kind], runtime.timezone)]
        for kind, counts in sorted(by_type.items())
    ]
    types = data_table(["Type", "Devices", "OK", "Stale", "Silent", "Out of area", "Newest data"], type_rows)
    counts = rejection_counts(runtime.engine)
    rejection_rows = [[reason, counts.get(reason, 0), REASONS[reason]] for reason in REASONS if counts.get(reason)]
    rejections = data_table(["Reason", "Kept", "Meaning"], rejection_rows, empty="No rejected messages.")
    return figures, types, rejections
