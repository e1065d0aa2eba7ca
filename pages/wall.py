"""Wall mode: the live map for a 1920x1080 screen seen from across the room.

Dark, no editing controls, large type, a strip of headline figures; the alarm strip of the
shell shows the newest alarms. ``?rotate=30`` cycles the view between the whole city and
each district every 30 seconds.
"""
from __future__ import annotations

import dash
from dash import Input, Output, callback, clientside_callback, dcc, html

from components.live_map import MAP, MAP_TICK
from pages.map import map_view
from services.headlines import headlines
from services.runtime import current

dash.register_page(__name__, path="/wall", name="Wall", order=90, title="CityOps — wall")

WALL_FIGURES = "wall-figures"
WALL_ROTATE = "wall-rotate"
WALL_VIEWS = "wall-views"


def wall_view(rotate: str | None = None) -> html.Div:
    city = current().city
    views = [list(city.bbox)]
    from shapely.geometry import shape

    for feature in city.basemap("districts")["features"]:
        views.append(list(shape(feature["geometry"]).bounds))
    seconds = int(rotate) if rotate and rotate.isdigit() and int(rotate) >= 5 else 0
    return html.Div(className="wall", children=[
        html.Div(id=WALL_FIGURES, className="wall-figures"),
        dcc.Store(id=WALL_VIEWS, data=views),
        dcc.Interval(id=WALL_ROTATE, interval=max(seconds, 5) * 1000, disabled=not seconds),
        map_view(dark=True),
    ])


def layout(rotate: str | None = None, **_query):
    return wall_view(rotate)


_figures_of_tick: tuple = (None, None)  # (snapshot epoch and version, the tiles): built once per tick


@callback(Output(WALL_FIGURES, "children"), Input(MAP_TICK, "n_intervals"))
def refresh_figures(_n):
    global _figures_of_tick
    snapshot = current().snapshots().current()
    tick = (snapshot.epoch, snapshot.version)
    built_for, figures = _figures_of_tick
    if built_for != tick:
        figures = _wall_figures(snapshot)
        _figures_of_tick = (tick, figures)  # one assignment: a reader sees the old pair or the new
    return figures


def _wall_figures(snapshot) -> list:
    return [
        html.Div(className=f"wall-figure tone-{figure.tone}", children=[
            html.Div(figure.label, className="wall-figure-label"),
            html.Div(figure.value, className="wall-figure-value"),
            html.Div(figure.note, className="wall-figure-note"),
        ])
        for figure in headlines(snapshot)
    ]


clientside_callback(
    """function (n, views) {
        if (!n || !views || !views.length) { return window.dash_clientside.no_update; }
        var b = views[n % views.length];
        return [[b[1], b[0]], [b[3], b[2]]];
    }""",
    Output(MAP, "bounds"),
    Input(WALL_ROTATE, "n_intervals"),
    Input(WALL_VIEWS, "data"),
)
