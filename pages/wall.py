"""Wall mode: the live map for a screen seen from across the room, from a 1600x900 desk to a 4K wall.

Dark, no editing controls, type and tiles that grow with the screen, a strip of headline figures;
the alarm strip of the shell shows the newest alarms. The map fits the whole city to its box. The
link's options (a display's options arrive the same way, services/access/displays.py):
``?rotate=30`` shows each district in turn for 30 s, then the whole city again; ``?aqi=cn`` the
China AQI on the map, its legend and the tile (default: the city's standard); ``?sound=1`` a tone
for each new critical alarm (``sound=0``: a silent wall).
"""
from __future__ import annotations

import dash
from dash import Input, Output, State, callback, html

from components.live_map import MAP_STANDARD, MAP_TICK, fit_views
from pages.map import map_view, site_standard
from services.i18n import N_, _, current_locale
from services.access.displays import screen_options
from services.aqi import STANDARDS
from services.headlines import headlines
from services.runtime import current

dash.register_page(__name__, path="/wall", name=N_("Wall"), order=90, title=lambda **_path: _("CityOps — wall"))

WALL_FIGURES = "wall-figures"
SOUND = {True: "on", False: "off", None: ""}


def wall_view(**query) -> html.Div:
    city = current().city
    options = screen_options(query, site_standard())
    views = fit_views(city.bbox, city.basemap("districts") if options.rotate_s else None)
    return html.Div(className="wall", **{"data-sound": SOUND[options.sound]}, children=[
        html.Div(id=WALL_FIGURES, className="wall-figures"),
        map_view(dark=True, standard=options.standard, views=views, rotate_s=options.rotate_s),
    ])


def layout(**query):
    return wall_view(**query)


_figures_of_tick: dict[tuple, tuple] = {}  # per AQI standard and language: (snapshot epoch and version, the tiles)


@callback(Output(WALL_FIGURES, "children"), Input(MAP_TICK, "n_intervals"), State(MAP_STANDARD, "data"))
def refresh_figures(_n, standard):
    """Built once per tick and standard for all the walls (a dict item is replaced in one step)."""
    standard = standard if standard in STANDARDS else site_standard()
    snapshot = current().snapshots().current()
    tick = (snapshot.epoch, snapshot.version)
    key = (standard, current_locale())
    built_for, figures = _figures_of_tick.get(key, (None, None))
    if built_for != tick:
        figures = _wall_figures(snapshot, standard)
        _figures_of_tick[key] = (tick, figures)
    return figures


def _wall_figures(snapshot, standard: str) -> list:
    return [
        html.Div(className=f"wall-figure tone-{figure.tone}", **{"data-figure": figure.key}, children=[
            html.Div(figure.label, className="wall-figure-label"),
            html.Div(figure.value, className="wall-figure-value"),
            html.Div(figure.note, className="wall-figure-note"),
        ])
        for figure in headlines(snapshot, standard)
    ]
