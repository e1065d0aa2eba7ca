"""Pure builders of the citizen-request screens (pages/requests.py): queue rows, countdowns, the
request's card and timeline. No I/O."""
from __future__ import annotations

import dash_leaflet as dl
from dash import html

from components.live_map import basemap
from services.i18n import N_, _, recorded
from services.requests.layer import STATE_COLOURS
from services.requests.orders import CLOCK_PHASES, SATISFACTION, STATUS_LABELS
from services.vocabulary import duration, label_of, site_time

REQUESTS_MAP = "requests-map"
REQUESTS_MAP_POINTS = "requests-map-points"
NEW_CALL_COLOUR = "#1d5fa8"

DUE_LABELS = {"on_time": N_("on time"), "due_soon": N_("due soon"), "overdue": N_("OVERDUE")}
# the kinds of a request's timeline facts (services/requests/commands.py, overdue.py)
FACT_KINDS = {"received": N_("received"), "assigned": N_("assigned"), "transferred": N_("transferred"),
              "accepted": N_("accepted"), "started": N_("started"), "resolved": N_("resolved"),
              "closed": N_("closed"), "reopened": N_("reopened"), "note": N_("note"), "merged": N_("merged"),
              "rated": N_("rated"), "overdue": N_("overdue")}


def countdown(seconds_left: float | None) -> str:
    """``3 h 05 min left`` or ``overdue 1 d 02 h`` (the one duration format); empty when no clock runs."""
    if seconds_left is None:
        return ""
    text = duration(abs(seconds_left))
    return _("{duration} left", duration=text) if seconds_left >= 0 else _("overdue {duration}", duration=text)


def queue_row(order, timezone: str) -> dict:
    unassigned = _("— not assigned —") if order.classified else _("— unclassified —")
    return {"id": order.id, "request": order.request_id, "service": order.shown_service,
            "department": order.shown_department or unassigned, "status": _(STATUS_LABELS[order.status]),
            "district": order.district or "", "received": site_time(order.received_at, timezone, short=True),
            "due": countdown(order.clock.seconds_left), "due_state": order.clock.state or "",
            "transfers": order.transfer_count}


def _clock(order) -> str:
    if not order.clock.phase:
        return _("stopped")
    state = f" ({_(DUE_LABELS[order.clock.state])})" if order.clock.state in DUE_LABELS else ""
    return f"{label_of(CLOCK_PHASES, order.clock.phase)} {countdown(order.clock.seconds_left)}{state}"


def order_card(order, timezone: str) -> html.Div:
    rating = (_(SATISFACTION[order.satisfaction]) + (f" — “{order.satisfaction_comment}”"
                                                      if order.satisfaction_comment else "")
              if order.satisfaction else _("not rated yet"))
    rows = [(_("Request"), order.request_id),
            (_("Service"), " / ".join(dict.fromkeys(n for n in (order.shown_service, order.service_label,
                                                                  order.service_label_zh) if n))),
            (_("Department"), order.shown_department or _("unassigned")), (_("Status"), _(STATUS_LABELS[order.status])),
            (_("Clock"), _clock(order)),
            (_("Where"), f"{order.address or ''} {order.district or ''} ({order.lat:.5f}, {order.lon:.5f})"),
            (_("What"), order.description or ""), (_("Citizen told"), order.status_notes or ""),
            (_("Transfers"), str(order.transfer_count)), (_("Satisfaction"), rating),
            (_("Received"), site_time(order.received_at, timezone))]
    if order.merged_into:
        rows.append((_("Merged into"), f"#{order.merged_into}"))
    return html.Div([html.H3(order.shown_label, className="request-title"),
                     html.Dl([part for label, value in rows for part in (html.Dt(label), html.Dd(value))],
                             className="request-facts", id="requests-facts"),
                     html.Div(html.A(_("photo"), href=order.media_url, target="_blank", rel="noopener")
                              if order.media_url else None)], className="request-card",
                    **{"data-status": order.status, "data-satisfaction": order.satisfaction or ""})


def timeline(facts, timezone: str) -> html.Ol:
    """The facts as recorded, each in the reader's language (as said when it happened; a person's words as written)."""
    return html.Ol([html.Li([html.Span(site_time(f.at, timezone), className="when"), " ",
                             html.Strong(label_of(FACT_KINDS, f.kind)), " — ",
                             html.Span(recorded(f.message, f.detail), className="tl-message"), " ",
                             html.Span(f"({f.actor})", className="who")])
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
                                       fillOpacity=0,
                                       children=dl.Tooltip(_("possible duplicate {request}", request=other.shown_label))))
    if order is not None:
        colour = STATE_COLOURS.get(order.clock.state or "on_time", "#5b6875")
        markers.append(dl.CircleMarker(center=[order.lat, order.lon], radius=10, color="#14202c", weight=2,
                                       fillColor=colour, fillOpacity=0.9,
                                       children=dl.Tooltip(f"{order.shown_label} — {_(STATUS_LABELS[order.status])}")))
    if new_call is not None:
        lat, lon = new_call
        markers.append(dl.CircleMarker(center=[lat, lon], radius=8, color=NEW_CALL_COLOUR, weight=3, fillColor="#fff",
                                       fillOpacity=0.9, dashArray="4 3", children=dl.Tooltip(_("the new call"))))
    return markers
