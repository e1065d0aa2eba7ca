"""The device panel: what a device is and what it measured recently (plotly)."""
from __future__ import annotations

import plotly.graph_objects as go
from dash import dcc, html

from services.i18n import _
from services.vocabulary import (
    DEVICE_STATUS_LABELS,
    DEVICE_TYPE_LABELS,
    duration,
    label_of,
    label,
    quantity,
    site_time,
    unit_of,
    words,
)
from components.tables import data_table

# What to chart per device type; the first present ones are shown, with their words and units.
SERIES = {
    "TrafficFlowObserved": ["averageVehicleSpeed", "intensity"],
    "AirQualityObserved": ["pm25", "pm10", "no2", "o3"],
    "FloodMonitoring": ["currentLevel"],
    "WaterObserved": ["height", "waterLevel", "flow"],
    "WeatherObserved": ["precipitation", "temperature"],
    "Vehicle": ["speed"],
}


def history_figure(device, history, timezone: str) -> go.Figure:
    figure = go.Figure()
    shown = 0
    for key in SERIES.get(device.type, []):
        points = [(row.observed_at, row.values[key]) for row in history if key in row.values]
        if not points or shown >= 3:
            continue
        shown += 1
        figure.add_trace(go.Scatter(
            x=[moment.astimezone(_zone(timezone)) for moment, _ in points], y=[value for _, value in points],
            name=_("{label} ({unit})", label=label(key), unit=unit_of(key)) if unit_of(key) else label(key), mode="lines", line={"width": 2},
            yaxis="y" if shown == 1 else "y2",
        ))
    for level_key, colour in (("alert_level", "#f08a1c"), ("danger_level", "#d7261e")):
        level = device.levels.get(level_key)  # the station's reported level first, the registry's else
        if level is not None and device.type in ("FloodMonitoring", "WaterObserved"):
            figure.add_hline(y=level, line={"color": colour, "dash": "dash", "width": 1},
                             annotation_text=words(level_key), annotation_position="top left")
    figure.update_layout(
        height=260, margin={"l": 40, "r": 40, "t": 10, "b": 30}, showlegend=True,
        legend={"orientation": "h", "y": -0.25}, paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="#fafbfc",
        yaxis2={"overlaying": "y", "side": "right", "showgrid": False},
    )
    return figure


def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def device_history(device, history, timezone: str, *, hours: int) -> html.Div:
    rows = [
        [_("Device"), device.id], [_("Type"), label_of(DEVICE_TYPE_LABELS, device.type)],
        [_("District"), device.district or "—"], [_("Status"), label_of(DEVICE_STATUS_LABELS, device.status)],
        [_("Last observed"), _("{time} ({duration} ago)", time=site_time(device.last_observed_at, timezone),
                               duration=duration(device.age_s))],
        [_("Reports every"), duration(device.interval_s)],
        [_("Location"), "—" if device.lon is None else f"{device.lat:.5f}, {device.lon:.5f}"],
    ]
    rows += [[label(key), quantity(key, value)] for key, value in sorted(device.last_values.items())]
    return html.Div(className="device-panel", children=[
        html.H2(device.name or device.id),
        html.Div(_("Last {hours} h · {count} observations", hours=hours, count=len(history)), className="panel-note"),
        dcc.Graph(figure=history_figure(device, history, timezone), config={"displayModeBar": False})
        if history else html.P(_("No observations in this period."), className="empty"),
        data_table(["", ""], rows, class_name="data-table compact"),
    ])
