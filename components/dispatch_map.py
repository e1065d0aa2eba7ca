"""Builders of the dispatch map: the city's own dark basemap, incidents, units and a candidate's route.

Pure: values in, dash-leaflet components out. No tile layer: the basemap is the city's GeoJSON.
"""
from __future__ import annotations

import dash_leaflet as dl
from dash import html

from components.live_map import basemap
from services.incidents import IncidentView
from services.units import UnitView
from services.i18n import _
from services.vocabulary import (
    INCIDENT_STATUS_LABELS,
    NO_DATA_COLOUR,
    PRIORITY_COLOURS,
    UNIT_STATUS_COLOURS,
    UNIT_STATUS_LABELS,
    incident_kind,
    label_of,
)

DISPATCH_MAP = "dispatch-map"
DISPATCH_MAP_INCIDENTS = "dispatch-map-incidents"
DISPATCH_MAP_UNITS = "dispatch-map-units"
DISPATCH_MAP_ROUTE = "dispatch-map-route"

UNIT_GLYPHS = {"ambulance": "A", "fire": "F", "police": "P", "flood": "W", "road": "R"}


def dispatch_map(basemap_layers: dict[str, dict], center: tuple[float, float], bounds) -> dl.Map:
    children = basemap(basemap_layers, dark=True, id_prefix="dispatch-basemap")
    children += [dl.LayerGroup(id=DISPATCH_MAP_ROUTE), dl.LayerGroup(id=DISPATCH_MAP_INCIDENTS),
                 dl.LayerGroup(id=DISPATCH_MAP_UNITS), dl.ScaleControl(position="bottomleft", imperial=False)]
    return dl.Map(id=DISPATCH_MAP, center=[center[1], center[0]], zoom=15, bounds=bounds, children=children,
                  boundsOptions={"padding": [4, 4]}, zoomSnap=0.25,
                  attributionControl=False, style={"height": "100%", "width": "100%", "background": "#10171e"})


def incident_markers(incidents: list[IncidentView], selected: int | None) -> list:
    markers = []
    for incident in incidents:
        chosen = incident.id == selected
        colour = PRIORITY_COLOURS[incident.priority]
        markers.append(dl.CircleMarker(
            center=[incident.lat, incident.lon], radius=11 if chosen else 7 + (4 - incident.priority),
            color="#ffffff" if chosen else ("#ff3b3b" if incident.escalated else "#0b0f14"),
            weight=3 if chosen or incident.escalated else 1.5, fillColor=colour, fillOpacity=0.95,
            id={"type": "dispatch-map-incident", "index": incident.id},
            children=dl.Tooltip(f"#{incident.id} {_('P{priority}', priority=incident.priority)} "
                                f"{incident_kind(incident.category, incident.sub_category)} — "
                                f"{label_of(INCIDENT_STATUS_LABELS, incident.status)}"),
        ))
    return markers


def unit_markers(units: list[UnitView], highlight: str | None) -> list:
    markers = []
    for unit in units:
        if unit.lon is None:
            continue
        colour = UNIT_STATUS_COLOURS.get(unit.status, NO_DATA_COLOUR)
        ring = " unit-pin-highlight" if unit.unit_id == highlight else ""
        markers.append(dl.DivMarker(
            position=[unit.lat, unit.lon],
            iconOptions={"className": f"unit-pin{ring}", "iconSize": [22, 22], "iconAnchor": [11, 11],
                         "html": f'<div class="unit-pin-body" style="background:{colour}">'
                                 f'{UNIT_GLYPHS.get(unit.kind, "U")}</div>'},
            children=dl.Tooltip(f"{unit.name} ({unit.unit_id}) — {label_of(UNIT_STATUS_LABELS, unit.status)}"),
        ))
    return markers


def route_line(coordinates: list[list[float]] | None, destination: tuple[float, float] | None = None) -> list:
    if not coordinates:
        return []
    positions = [[lat, lon] for lon, lat in coordinates]
    return [dl.Polyline(positions=positions, color="#0b0f14", weight=9, opacity=0.8),
            dl.Polyline(positions=positions, color="#39c6ff", weight=5, opacity=0.95, dashArray="10 6")]


def legend() -> html.Div:
    return html.Div(className="dispatch-legend", children=[
        *[html.Span([html.I(style={"background": PRIORITY_COLOURS[p]}), _("P{priority}", priority=p)])
          for p in (1, 2, 3, 4)],
        html.Span("|", className="sep"),
        *[html.Span([html.I(className="sq", style={"background": UNIT_STATUS_COLOURS[s]}), _(UNIT_STATUS_LABELS[s])])
          for s in ("available", "dispatched", "en_route", "on_scene", "returning")],
    ])
