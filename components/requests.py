"""Pure builders of the citizen-request screens (pages/requests.py): queue rows, countdowns, the
request's card and timeline. No I/O."""
from __future__ import annotations

import dash_leaflet as dl
from dash import html

from services.vocabulary import duration, site_time
from components.live_map import basemap
from services.requests.layer import STATE_COLOURS
from services.requests.orders import SATISFACTION, STATUS_LABELS

REQUESTS_MAP = "requests-map"
REQUESTS_MAP_POINTS = "requests-map-points"
NEW_CALL_COLOUR = "#1d5fa8"

DUE_LABELS = {"on_time": "on time", "due_soon": "due soon", "overdue": "OVERDUE"}


def countdown(seconds_left: float | None) -> str:
    """``3 h 05 min left`` or ``overdue 1 d 02 h`` (the one duration format); empty when no clock runs."""
    if seconds_left is None:
        return ""
    text = duration(abs(seconds_left))
    return f"{text} left" if seconds_left >= 0 else f"overdue {text}"


def queue_row(order, timezone: str) -> dict:
    return {"id": order.id, "request": order.request_id, "service": order.service_label,
            "department": order.department_label or ("— not assigned —" if order.classified else "— unclassified —"), "status": STATUS_LABELS[order.status], "district": order.district or "",
            "received": site_time(order.received_at, timezone)[5:16],  # MM-DD HH:MM
            "due": countdown(order.clock.seconds_left), "due_state": order.clock.state or "",
            "transfers": order.transfer_count}


def order_card(order, timezone: str) -> html.Div:
    rating = (f"{SATISFACTION[order.satisfaction]}" + (f" — “{order.satisfaction_comment}”"
                                                       if order.satisfaction_comment else "")
              if order.satisfaction else "not rated yet")
    rows = [("Request", order.request_id), ("Service", f"{order.service_label} / {order.service_label_zh or ''}"),
            ("Department", order.department_label or "unassigned"), ("Status", STATUS_LABELS[order.status]),
            ("Clock", f"{order.clock.phase or 'stopped'} {countdown(order.clock.seconds_left)}"
                      f" ({DUE_LABELS.get(order.clock.state, '')})" if order.clock.phase else "stopped"),
            ("Where", f"{order.address or ''} {order.district or ''} ({order.lat:.5f}, {order.lon:.5f})"),
            ("What", order.description or ""), ("Citizen told", order.status_notes or ""),
            ("Transfers", str(order.transfer_count)), ("Satisfaction", rating),
            ("Received", site_time(order.received_at, timezone))]
    if order.merged_into:
        rows.append(("Merged into", f"#{order.merged_into}"))
    return html.Div([html.H3(order.label, className="request-title"),
                     html.Dl([part for label, value in rows for part in (html.Dt(label), html.Dd(value))],
                             className="request-facts", id="requests-facts"),
                     html.Div(html.A("photo", href=order.media_url, target="_blank", rel="noopener")
                              if order.media_url else None)], className="request-card",
                    **{"data-status": order.status, "data-satisfaction": order.satisfaction or ""})


def timeline(facts, timezone: str) -> html.Ol:
    return html.Ol([html.Li([html.Span(site_time(f.at, timezone), className="when"), " ",
                             html.Strong(f.kind), f" — {f.message} ", html.Span(f"({f.actor})", className="who")])
                    for f in facts], className="request-timeline")


def request_map(basemap_layers: dict[str, dict], center: tuple[float, float], bounds) -> dl.Map:
    """A small map of the request shown and of where a new call is (a click places it)."""
    children = basemap(basemap_layers, id_prefix="requests-basemap")
    children += [dl.LayerGroup(id=REQUESTS_MAP_POINTS), dl.ScaleControl(position="bottomleft", imperial=False)]
    return dl.Map(id=REQUESTS_MAP, center=[center[1], center[0]], zoom=14, bounds=bounds, children=children,
                  zoomSnap=0.25, attributionControl=False, className="requests-map",
                  style={"height": "100%", "width": "100%", "background": "#eef1f4"})


def request_markers(order, duplicates, new_call: tuple[float, float] | None) -> list:
    """The request (coloured by its clock), its possible duplicates (hollow), the new call's point."""
    markers = []
    for other in duplicates:
        markers.append(dl.CircleMarker(center=[other.lat, other.lon], radius=7, color="#5b6875", weight=2,
                                       fillOpacity=0, children=dl.Tooltip(f"possible duplicate {other.label}")))
    if order is not None:
        colour = STATE_COLOURS.get(order.clock.state or "on_time", "#5b6875")
        markers.append(dl.CircleMarker(center=[order.lat, order.lon], radius=10, color="#14202c", weight=2,
                                       fillColor=colour, fillOpacity=0.9,
                                       children=dl.Tooltip(f"{order.label} — {STATUS_LABELS[order.status]}")))
    if new_call is not None:
        lat, lon = new_call
        markers.append(dl.CircleMarker(center=[lat, lon], radius=8, color=NEW_CALL_COLOUR, weight=3, fillColor="#fff",
                                       fillOpacity=0.9, dashArray="4 3", children=dl.Tooltip("the new call")))
    return markers
