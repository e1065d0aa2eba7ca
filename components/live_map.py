"""Builders of the live map: the city's own basemap, one GeoJSON per live layer, legends, panel.

Pure: takes data, returns components. The live layers start empty; the page's callbacks fill
them from the snapshot (assets/map.js merges deltas into their ``data`` in the browser).
"""
from __future__ import annotations

import json

import dash_leaflet as dl
from dash import dcc, html

from services.aqi import CODES, SHORT_NAMES
from services.i18n import N_, _

MAP = "map-map"
MAP_TICK = "map-tick"
MAP_PAYLOAD = "map-payload"
MAP_CLIENT = "map-client"
MAP_STANDARD = "map-aqi-standard"
MAP_LEGENDS = "map-legends"
MAP_PANEL = "map-panel"
MAP_PANEL_TICK = "map-panel-refresh"  # refreshes an open device panel; disabled while it is closed (so not
# paced by assets/pacing.js, which only takes ids ending in "-tick")
PANEL_REFRESH_MS = 10_000
MAP_PANEL_BODY = "map-panel-body"
MAP_PANEL_CLOSE = "map-panel-close"
MAP_SELECTED = "map-selected"
MAP_VIEW_NAME = "map-view-name"
WHOLE_CITY = N_("Whole city")


def layer_id(name: str) -> dict:
    return {"type": "map-layer", "name": name}


def _fn(name: str) -> dict:
    """A JavaScript function of assets/map.js, by its path under window (dash-leaflet resolves it)."""
    return {"variable": f"cityops.map.{name}"}


BASEMAP_STYLES = {
    "districts": {"color": "#8a96a3", "weight": 1.5, "dashArray": "6 4", "fillColor": "#eef1f4", "fillOpacity": 0.35},
    "water": {"color": "#7fb2d9", "weight": 1, "fillColor": "#b5d3ec", "fillOpacity": 0.9},
    "parks": {"color": "#a8cf9a", "weight": 0.5, "fillColor": "#cfe6c4", "fillOpacity": 0.8},
    "buildings": {"color": "#c9c3ba", "weight": 0.4, "fillColor": "#ddd8d0", "fillOpacity": 0.9},
    "roads": {"color": "#ffffff", "weight": 3, "opacity": 0.95},
}
DARK_BASEMAP_STYLES = {
    "districts": {"color": "#5b6b7c", "weight": 1.5, "dashArray": "6 4", "fillColor": "#1b2530", "fillOpacity": 0.5},
    "water": {"color": "#1f4a6e", "weight": 1, "fillColor": "#163a57", "fillOpacity": 1},
    "parks": {"color": "#22402a", "weight": 0.5, "fillColor": "#1c3423", "fillOpacity": 1},
    "buildings": {"color": "#2c3640", "weight": 0.4, "fillColor": "#27313b", "fillOpacity": 1},
    "roads": {"color": "#46525e", "weight": 3, "opacity": 1},
}


def leaflet_bounds(bbox) -> list[list[float]]:
    """(minlon, minlat, maxlon, maxlat) as Leaflet's [[south, west], [north, east]]."""
    minlon, minlat, maxlon, maxlat = bbox
    return [[minlat, minlon], [maxlat, maxlon]]


def fit_views(city_bbox, districts: dict | None = None) -> list[dict]:
    """The views a map shows, fitted to its box by assets/mapview.js: the whole city first, then (on a
    rotating wall) each district of the ``districts`` FeatureCollection, outlined while it is shown."""
    from shapely.geometry import shape

    views = [{"name": _(WHOLE_CITY), "bounds": leaflet_bounds(city_bbox)}]
    for number, feature in enumerate((districts or {}).get("features", []), start=1):
        views.append({"name": feature["properties"].get("name") or _("District {number}", number=number),
                      "bounds": leaflet_bounds(shape(feature["geometry"]).bounds), "outline": feature["geometry"]})
    return views


def fitted(views: list[dict], rotate_s: int = 0) -> dict:
    """The attributes of the element holding a map that assets/mapview.js fits to ``views``: on load and
    whenever its box changes size, and every ``rotate_s`` seconds to the next view when rotating."""
    return {"data-views": json.dumps(views), "data-rotate": str(rotate_s)}


def basemap(layers: dict[str, dict], *, dark: bool = False, tile_url: str | None = None,
            attribution: str = "", id_prefix: str = "map-basemap") -> list:
    """The city's own vector basemap (works offline); an online tile layer only when configured."""
    styles = DARK_BASEMAP_STYLES if dark else BASEMAP_STYLES
    children = []
    if tile_url:
        children.append(dl.TileLayer(url=tile_url, attribution=attribution))
    vector = [dl.GeoJSON(data=layers[name], style=styles[name], interactive=False,
                         id=f"{id_prefix}-{name}", attribution=attribution if name == "districts" else None)
              for name in ("districts", "water", "parks", "buildings", "roads")
              if name in layers and layers[name]["features"]]
    # A pane of its own, between the tiles (200) and the live overlays (400): the layers load
    # asynchronously, and in the overlays' pane a basemap that loaded last drew its roads over the
    # traffic and took the pointer's hover from it.
    children.append(dl.Pane(vector, name="cityops-basemap", style={"zIndex": 300}, id=f"{id_prefix}-pane"))
    return children


def clicked_latlng(click) -> tuple[float, float] | None:
    """(lat, lon) of a dash-leaflet map's ``clickData``, rounded to 6 decimals (~0.1 m); None without one."""
    latlng = (click or {}).get("latlng")
    if isinstance(latlng, dict):
        lat, lon = latlng.get("lat"), latlng.get("lng")
    elif isinstance(latlng, (list, tuple)) and len(latlng) >= 2:
        lat, lon = latlng[0], latlng[1]
    else:
        return None
    if not isinstance(lat, (int, float)) or not isinstance(lon, (int, float)):
        return None
    return round(lat, 6), round(lon, 6)


def district_labels(districts: dict, *, dark: bool = False) -> list:
    from shapely.geometry import shape

    markers = []
    for feature in districts["features"]:
        point = shape(feature["geometry"]).representative_point()
        markers.append(dl.DivMarker(
            position=[point.y, point.x], interactive=False,
            iconOptions={"className": "district-label" + (" dark" if dark else ""), "html": feature["properties"]["name"],
                         "iconSize": [160, 20], "iconAnchor": [80, 10]},
        ))
    return markers


LIVE_LAYER_OPTIONS = {
    "traffic": {"cluster": False},
    "air": {"cluster": True, "superClusterOptions": {"radius": 60, "maxZoom": 15}},
    "flood": {"cluster": False},
    "incidents": {"cluster": False},
    "units": {"cluster": False},
}


def hideout(layer: str, standard: str) -> dict:
    """What assets/map.js reads to draw a live layer: its name, and the screen's AQI standard (code, name)."""
    return {"standard": CODES[standard], "name": _(SHORT_NAMES[standard]), "layer": layer}


def live_layer(name: str, *, standard: str) -> dl.GeoJSON:
    """``standard``: the screen's AQI standard (its key); the air badges show its index."""
    options = LIVE_LAYER_OPTIONS.get(name, {"cluster": False})
    return dl.GeoJSON(
        id=layer_id(name),
        data={"type": "FeatureCollection", "features": []},
        style=_fn("style"), pointToLayer=_fn("pointToLayer"), onEachFeature=_fn("onEachFeature"),
        clusterToLayer=_fn("clusterToLayer") if options["cluster"] else None,
        # a click on a cluster expands it; a click on a feature opens its panel and keeps the view
        zoomToBoundsOnClick=options["cluster"],
        hideout=hideout(name, standard),
        **options,
    )


def live_map(*, city_bounds, basemap_layers: dict, layers: list[tuple[str, str]], standard: str,
             dark: bool = False, tile_url: str | None = None, attribution: str = "") -> dl.MapContainer:
    minlon, minlat, maxlon, maxlat = city_bounds
    overlays = [dl.Overlay(live_layer(name, standard=standard), name=title, checked=True) for name, title in layers]
    return dl.MapContainer(
        # canvas, not SVG: redrawing 2,000 road segments as DOM nodes each second blocked the page 200 ms
        id=MAP, bounds=[[minlat, minlon], [maxlat, maxlon]], zoomSnap=0.25, preferCanvas=True,
        center=[(minlat + maxlat) / 2, (minlon + maxlon) / 2], zoom=15,
        style={"height": "100%", "width": "100%", "background": "#10161d" if dark else "#f2efe9"},
        attributionControl=True,
        children=[
            *basemap(basemap_layers, dark=dark, tile_url=tile_url, attribution=attribution),
            *district_labels(basemap_layers.get("districts", {"features": []}), dark=dark),
            # sorted into the legends' order by assets/map.js (the layers load asynchronously)
            dl.LayersControl(overlays, position="topright", collapsed=False, sortLayers=True,
                             id="map-layers-control"),
            dl.ScaleControl(position="bottomleft", imperial=False),
        ],
    )


def legend_panel(layers: list[tuple[str, str]]) -> html.Div:
    """Legend and freshness per layer; the freshness line is updated each second by assets/map.js."""
    return html.Div(id=MAP_LEGENDS, className="map-legends", children=[
        html.Div(className="map-legend", id=f"map-legend-{name}", children=[
            html.Div(className="map-legend-head", children=[
                html.Span(_(title), className="map-legend-title"),
                html.Span(_("waiting for data"), className="map-freshness", id=f"map-fresh-{name}",
                          **{"data-layer": name}),
            ]),
            html.Div(className="map-legend-items", id=f"map-legend-items-{name}"),
        ])
        for name, title in layers
    ])


def legend_label(message: str, values: dict | None = None) -> str:
    """A legend's English message in the screen's language (services/layers.py LayerData.legend)."""
    if not values:
        return _(message)
    return _(message, **{key: _(value) if isinstance(value, str) else value for key, value in values.items()})


def legend_items(entries: list[tuple]) -> list:
    return [html.Span(className="legend-item", children=[html.I(style={"background": colour}),
                                                          legend_label(*label)])
            for colour, *label in entries]


def side_panel() -> html.Aside:
    return html.Aside(id=MAP_PANEL, className="map-panel", hidden=True, children=[
        dcc.Interval(id=MAP_PANEL_TICK, interval=PANEL_REFRESH_MS, disabled=True),
        html.Button("×", id=MAP_PANEL_CLOSE, className="map-panel-close", title=_("Close (Esc)"),
                    **{"aria-label": _("Close (Esc)")}),
        dcc.Loading(html.Div(id=MAP_PANEL_BODY), type="dot", delay_show=300),
    ])
