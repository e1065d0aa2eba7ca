"""The operations map: the whole city on one map, live, for desks and (with ?mode=wall) wall screens."""
from __future__ import annotations

from datetime import timedelta

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from components.history import device_history
from components.live_map import (
    MAP_CLIENT,
    MAP_PANEL,
    MAP_PANEL_BODY,
    MAP_LEGENDS,
    MAP_PANEL_CLOSE,
    MAP_PANEL_TICK,
    MAP_PAYLOAD,
    MAP_SELECTED,
    MAP_STANDARD,
    MAP_TICK,
    MAP_VIEW_NAME,
    fit_views,
    fitted,
    hideout,
    layer_id,
    legend_items,
    legend_panel,
    live_map,
    side_panel,
)
from services.access.displays import screen_options
from services.aqi import LANGUAGE_STANDARDS, SHORT_NAMES, STANDARDS, categories, category_name
from services.devices import device_observations, get_device
from services.i18n import N_, _, current_locale
from services.layers import LAYERS, layer_names, load_plugins
from services.models import utcnow
from services.rules import RulesFile
from services.runtime import current

dash.register_page(__name__, path="/", name=N_("Map"), order=0, title=lambda **_path: _("CityOps — operations map"))

HISTORY_HOURS = 6
STANDARD_CHOICE, STANDARD_CHOSEN = "map-standard-choice", "map-standard-chosen"


def map_layers() -> list[tuple[str, str]]:
    load_plugins()
    return [(name, LAYERS[name].title) for name in layer_names()]


def site_standard() -> str:
    """The screen's AQI standard before its link's ``?aqi=``: CITYOPS_AQI_STANDARD, else the national one of
    the screen's language (China's HJ 633 in Chinese), else the rules file's (the one its alarms use)."""
    settings = current().settings
    return settings.aqi_standard or LANGUAGE_STANDARDS.get(current_locale()) \
        or RulesFile(settings.rules_file).current().aqi_standard


def map_view(*, dark: bool, standard: str, views: list[dict] | None = None, rotate_s: int = 0) -> html.Div:
    """The live map with legends and the device panel; the wall screen embeds it too. The map shows
    ``views`` (default: the whole city) fitted to its box, rotating through them every ``rotate_s``."""
    runtime = current()
    city = runtime.city
    basemap_layers = {name: city.basemap(name) for name in ("districts", "water", "parks", "buildings", "roads")}
    layers = map_layers()
    return html.Div(className="map-view" + (" dark" if dark else ""), children=[
        html.H1(_("Operations map"), className="visually-hidden"),  # for screen readers: the map is the page
        dcc.Interval(id=MAP_TICK, interval=1000),
        dcc.Store(id=MAP_PAYLOAD),
        dcc.Store(id=MAP_CLIENT, data={"epoch": None, "version": None}),
        dcc.Store(id=MAP_SELECTED),
        html.Div(className="map-canvas", **fitted(views or fit_views(city.bbox), rotate_s), children=[
            live_map(city_bounds=city.bbox, basemap_layers=basemap_layers, layers=layers, standard=standard,
                     dark=dark, tile_url=runtime.settings.tile_url, attribution=city.attribution),
            html.Div(id=MAP_VIEW_NAME, className="map-view-name", hidden=not rotate_s),
        ]),
        html.Div(className="map-sidebar", children=[
            # toggle buttons (aria-pressed): Dash 4's dropdown and radio items fail axe (an aria-hidden focus
            # proxy; options that nest their inputs)
            html.Div(className="map-standard", hidden=dark, role="group",
                     **{"aria-labelledby": "map-standard-title"}, children=[
                         html.Span(_("Air quality index"), id="map-standard-title", className="map-standard-title"),
                         *[html.Button(_(title), id={"type": STANDARD_CHOICE, "value": key}, type="button",
                                       className="map-standard-choice",
                                       **{"aria-pressed": "true" if key == standard else "false"})
                           for key, title in STANDARDS.items()],
                     ]),
            dcc.Store(id=MAP_STANDARD, data=standard),
            # a desk keeps the standard chosen last (in this browser); a wall shows the one of its link
            dcc.Store(id=STANDARD_CHOSEN, storage_type="memory" if dark else "local"),
            legend_panel(layers),
        ]),
        side_panel(),
    ])


def layout(mode: str | None = None, **query):
    if mode == "wall":
        from pages.wall import wall_view

        return wall_view(**query)
    standard = screen_options(query, site_standard()).standard
    return html.Div(className="page page-map", children=[map_view(dark=False, standard=standard)])


# ---------------------------------------------------------------- live updates

@callback(Output(MAP_PAYLOAD, "data"), Input(MAP_TICK, "n_intervals"), State(MAP_CLIENT, "data"))
def pull(_n, client):
    """The part of the shared snapshot this browser does not have yet (computed once per tick
    for all the browsers at the same version: see services/live_payloads.py)."""
    client = client or {}
    return current().live_payloads().payload(client.get("epoch"), client.get("version"))


clientside_callback(
    ClientsideFunction(namespace="cityops_map", function_name="applyPayload"),
    Output({"type": "map-layer", "name": ALL}, "data"),
    Output(MAP_CLIENT, "data"),
    Input(MAP_PAYLOAD, "data"),
    State(MAP_CLIENT, "data"),
)


# ---------------------------------------------------------------- air quality standard

@callback(Output(MAP_STANDARD, "data"), Output(STANDARD_CHOSEN, "data"),
          Input({"type": STANDARD_CHOICE, "value": ALL}, "n_clicks"), Input(STANDARD_CHOSEN, "data"),
          prevent_initial_call=True)
def pick_standard(clicks, chosen):
    """A click chooses (and the desk's browser remembers it); on opening, the choice remembered wins."""
    if isinstance(ctx.triggered_id, dict) and any(clicks or ()):
        choice = ctx.triggered_id.get("value")
        return (choice, choice) if choice in STANDARDS else (no_update, no_update)
    return (chosen, no_update) if chosen in STANDARDS else (no_update, no_update)


@callback(Output({"type": STANDARD_CHOICE, "value": ALL}, "aria-pressed"), Input(MAP_STANDARD, "data"),
          State({"type": STANDARD_CHOICE, "value": ALL}, "id"))
def show_standard(standard, buttons):
    return ["true" if button["value"] == standard else "false" for button in buttons]


@callback(Output(layer_id("air"), "hideout"), Output("map-legend-items-air", "children"),
          Input(MAP_STANDARD, "data"))
def choose_standard(standard):
    """The map's badges and the legend show the screen's one standard, named as its wall tile names it."""
    standard = standard if standard in STANDARDS else site_standard()
    legend = [html.Div(f"{_(SHORT_NAMES[standard])} · {_(STANDARDS[standard])}", className="map-legend-standard"),
              *legend_items([(colour, category_name(standard, label)) for _level, _key, label, colour
                             in categories(standard)])]
    return hideout("air", standard), legend


@callback(*(Output(f"map-legend-items-{name}", "children") for name in ("traffic", "flood")),
          Input(MAP_LEGENDS, "id"))
def static_legends(_id):
    """Once per page load: these legends only change with the code (not a request per tick)."""
    snapshot = current().snapshots().current()
    return tuple(legend_items(snapshot.layers[name].legend if name in snapshot.layers else [])
                 for name in ("traffic", "flood"))


# ---------------------------------------------------------------- device panel

@callback(Output(MAP_SELECTED, "data"), Input({"type": "map-layer", "name": ALL}, "clickData"),
          Input(MAP_PANEL_CLOSE, "n_clicks"), prevent_initial_call=True)
def select_feature(_clicks, _close):
    if ctx.triggered_id == MAP_PANEL_CLOSE:
        return None
    feature = ctx.triggered[0]["value"] if ctx.triggered else None
    if not feature or feature.get("properties", {}).get("cluster"):
        return no_update
    properties = feature.get("properties", {})
    return {"layer": ctx.triggered_id["name"], "id": properties.get("id"), "kind": properties.get("kind")}


@callback(Output(MAP_PANEL, "hidden"), Output(MAP_PANEL_BODY, "children"), Output(MAP_PANEL_TICK, "disabled"),
          Input(MAP_SELECTED, "data"), Input(MAP_PANEL_TICK, "n_intervals"))
def show_panel(selected, _n):
    """An open panel refreshes every 10 s on its own timer, which runs only while it is open: a
    wall of screens with closed panels sends no request for them."""
    if not selected:
        return True, None, True
    runtime = current()
    device = get_device(runtime.engine, selected["id"]) if selected.get("id") else None
    if device is None:
        return False, html.P(_("{id}: no device details (a {kind} feature).", id=selected.get("id"),
                               kind=selected.get("kind"))), False
    since = utcnow() - timedelta(hours=HISTORY_HOURS)
    history = device_observations(runtime.engine, device.id, since=since, limit=5000)
    return False, device_history(device, history, runtime.timezone, hours=HISTORY_HOURS), False
