"""Dispatch console: incident queue, unit board, map with routes, recommendations, one-key dispatch.

Thin: every action is a command of services/dispatch.py (the REST API calls the same ones).
Timers tick in the browser and keyboard shortcuts live in assets/dispatch.js:
J/K move in the queue, D dispatches the top recommendation, C cancels the incident, N opens the
new-incident form, Esc closes it. Shortcuts act only while no text field has focus and no form is open.

The detail panel shows the incident the dispatcher selected (the first of the queue only until one is
pinned) and stays on it whatever its status becomes; every action names the incident shown (the intent
carries it from the screen), so D never acts on an incident the dispatcher has not seen.
"""
from __future__ import annotations

import dash
from dash import ALL, ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, dcc, html, no_update

from components.dispatch_map import (
    DISPATCH_MAP,
    DISPATCH_MAP_INCIDENTS,
    DISPATCH_MAP_ROUTE,
    DISPATCH_MAP_UNITS,
    dispatch_map,
    incident_markers,
    legend,
    route_line,
    unit_markers,
)
from components.dispatch_panels import (
    CANCEL_BUTTON,
    CANDIDATE_ROW,
    FORM,
    FORM_ADDRESS,
    FORM_CATEGORY,
    FORM_CLOSE,
    FORM_DESCRIPTION,
    FORM_FOUND,
    FORM_LAT,
    FORM_LON,
    FORM_PICKED,
    FORM_PLACES,
    FORM_PRIORITY,
    FORM_SUB,
    FORM_SUBMIT,
    FORM_WHERE,
    NEW_BUTTON,
    PLACE_OPTION,
    QUEUE_ROW,
    RESOLVE_BUTTON,
    RESOLVE_CLOSE,
    RESOLVE_DISPOSITION,
    RESOLVE_FORM,
    RESOLVE_OUTCOME,
    RESOLVE_SUBMIT,
    RETURN,
    SEND,
    TOP_BUTTON,
    detail_actions,
    incident_detail,
    new_incident_form,
    place_options,
    queue_table,
    resolvable,
    resolve_form,
    unit_board,
)
from components.live_map import clicked_latlng, fit_views, fitted
from services.i18n import N_, _
from services.dispatch import (
    CreateIncident,
    DispatchContext,
    DispatchUnit,
    ResolveIncident,
    ReturnUnit,
    UpdateIncident,
    assigned_route,
    recommend,
)
from services.incidents import (CATEGORIES, DISPOSITIONS, OPEN_STATUSES, get_incident, incident_timeline, list_incidents,
                                shown_escalations)
from services.models import utcnow
from services.places import fold, nearest_address, search_places
from services.runtime import current
from services.units import list_units
from services.vocabulary import duration, words
from web.ui import acting, attempt, may

dash.register_page(__name__, path="/dispatch", name=N_("Dispatch"), order=10,
                   title=lambda **_path: _("CityOps — dispatch"))

PAGE = "dispatch-page"
TICK = "dispatch-tick"
SELECTED = "dispatch-selected"
CHOSEN = "dispatch-chosen"
VERSION = "dispatch-version"
INTENT = "dispatch-intent"
QUEUE = "dispatch-queue"
UNITS = "dispatch-units"
DETAIL = "dispatch-detail"
COUNTS = "dispatch-counts"
MESSAGE = "dispatch-message"
REFRESH_MS = 2000


def _may_act() -> bool:
    return may("incident.dispatch")


def _ctx() -> DispatchContext:
    return DispatchContext.of(current())


def layout(incident: str | None = None, **_query):
    """``/dispatch?incident=<id>`` (the scorecards' records link here) opens on that incident."""
    runtime = current()
    city = runtime.city
    minlon, minlat, maxlon, maxlat = city.bbox
    basemap = {name: city.basemap(name) for name in ("districts", "water", "parks", "buildings", "roads")}
    return html.Div(id=PAGE, className="dispatch-page", children=[
        dcc.Interval(id=TICK, interval=REFRESH_MS),
        dcc.Store(id=SELECTED, data=int(incident) if str(incident).isdigit() else None), dcc.Store(id=CHOSEN), dcc.Store(id=VERSION, data=0), dcc.Store(id=INTENT),
        html.Div(className="dispatch-toolbar", children=[
            html.H1(_("DISPATCH"), className="dispatch-title"),
            html.Div(id=COUNTS, className="dispatch-counts"),
            html.Div(id=MESSAGE, className="dispatch-message", role="status"),
            html.Span([_("J/K queue · D dispatch · C cancel · N new · Esc close")], className="dispatch-keys"),
        ]),
        html.Div(className="dispatch-grid", children=[
            html.Section(className="panel panel-queue", children=[
                html.H2(_("Incident queue")), html.Div(id=QUEUE, className="scroll")]),
            html.Section(className="panel panel-map", **fitted(fit_views(city.bbox)), children=[
                dispatch_map(basemap, tuple(city.meta.get("center", ((minlon + maxlon) / 2, (minlat + maxlat) / 2))),
                             [[minlat, minlon], [maxlat, maxlon]]),
                legend(), new_incident_form()]),
            html.Section(className="panel panel-detail", children=[
                detail_actions(_may_act()), resolve_form(), html.Div(id=DETAIL, className="scroll")]),
            html.Section(className="panel panel-units", children=[
                html.H2(_("Units")), html.Div(id=UNITS, className="scroll")]),
        ]),
    ])


@callback(
    Output(QUEUE, "children"), Output(UNITS, "children"), Output(DETAIL, "children"),
    Output(DISPATCH_MAP_INCIDENTS, "children"), Output(DISPATCH_MAP_UNITS, "children"),
    Output(DISPATCH_MAP_ROUTE, "children"), Output(COUNTS, "children"),
    Output(TOP_BUTTON, "disabled"), Output(CANCEL_BUTTON, "disabled"), Output(RESOLVE_BUTTON, "disabled"),
    Output(SELECTED, "data", allow_duplicate=True),
    Input(TICK, "n_intervals"), Input(SELECTED, "data"), Input(CHOSEN, "data"), Input(VERSION, "data"),
    prevent_initial_call="initial_duplicate",
)
def refresh(_n, selected, chosen, _version):
    runtime = current()
    now = utcnow()
    incidents = list_incidents(runtime.engine, OPEN_STATUSES)
    units = list_units(runtime.engine)
    incident = _shown(incidents, selected)
    candidates, timeline, route, highlight = [], [], None, None
    if incident is not None:
        timeline = incident_timeline(runtime.engine, incident.id)
        if incident.status == "new":
            candidates = recommend(_ctx(), incident, now)
            pick = next((c for c in candidates if c.unit.unit_id == chosen), candidates[0] if candidates else None)
            if pick is not None:
                route, highlight = [list(c) for c in pick.route.coordinates], pick.unit.unit_id
        else:
            route, highlight = assigned_route(runtime.engine, incident.id), incident.unit_id
    selected_id = incident.id if incident else None
    may_act = _may_act()
    return (
        queue_table(incidents, selected_id, now, shown_escalations(runtime.engine, incidents)),
        unit_board(units, now, may_act),
        incident_detail(incident, candidates, timeline, highlight, now, runtime.timezone, may_act),
        incident_markers([i for i in incidents if i.status != "resolved"], selected_id),
        unit_markers(units, highlight),
        route_line(route),
        _counts(incidents, units),
        not may_act or incident is None or incident.status != "new" or not candidates,
        not may_act or incident is None or incident.status in ("resolved", "closed", "cancelled"),
        not may_act or not resolvable(incident),
        incident.id if incident is not None and incident.id != selected else no_update,  # pins what is shown
    )


def _shown(incidents: list, selected: int | None):
    """The incident selected, even once it left the board (closed, cancelled): the panel never jumps to
    another by itself. Nothing selected yet (or no longer existing): the first of the queue."""
    if selected is not None:
        incident = next((i for i in incidents if i.id == selected), None) or get_incident(current().engine, selected)
        if incident is not None:
            return incident
    return incidents[0] if incidents else None


def _counts(incidents, units) -> list:
    waiting = [i for i in incidents if i.status == "new"]
    chips = [html.Span([html.B(str(sum(1 for i in waiting if i.priority == p))), " ", _("P{priority}", priority=p)],
                       className=f"chip prio-{p}") for p in (1, 2, 3, 4)]
    escalated = sum(1 for i in incidents if i.escalated)
    active = sum(1 for i in incidents if i.status in ("dispatched", "en_route", "on_scene"))
    free = sum(1 for u in units if u.dispatchable)
    return [html.Span(_("Waiting"), className="chip-label"), *chips,
            html.Span([html.B(str(escalated)), " ", _("escalated")], className="chip esc" if escalated else "chip"),
            html.Span([html.B(str(active)), " ", _("active")], className="chip"),
            html.Span([html.B(f"{free}/{len(units)}"), " ", _("units free")], className="chip")]


@callback(Output(SELECTED, "data"), Output(CHOSEN, "data", allow_duplicate=True),
          Input({"type": QUEUE_ROW, "index": ALL}, "n_clicks"),
          Input({"type": "dispatch-map-incident", "index": ALL}, "n_clicks"), prevent_initial_call=True)
def select_incident(_rows, _markers):
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return no_update, no_update
    return ctx.triggered_id["index"], None


@callback(Output(CHOSEN, "data"), Input({"type": CANDIDATE_ROW, "index": ALL}, "n_clicks"),
          prevent_initial_call=True)
def choose_candidate(_clicks):
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return no_update
    return ctx.triggered_id["index"]


# A button click becomes an "intent" in the browser first: the buttons are re-rendered every tick,
# and a re-triggered server callback would discard the answer of the one still running.
clientside_callback(
    ClientsideFunction(namespace="dispatch", function_name="intent"),
    Output(INTENT, "data"),
    Input({"type": SEND, "index": ALL}, "n_clicks"), Input(TOP_BUTTON, "n_clicks"),
    Input(CANCEL_BUTTON, "n_clicks"), Input({"type": RETURN, "index": ALL}, "n_clicks"),
    Input(RESOLVE_SUBMIT, "n_clicks"), prevent_initial_call=True,
)


@callback(Output(MESSAGE, "children"), Output(MESSAGE, "className"), Output(VERSION, "data"),
          Output(RESOLVE_FORM, "className", allow_duplicate=True), Output(RESOLVE_OUTCOME, "value"),
          Input(INTENT, "data"), State(RESOLVE_OUTCOME, "value"), State(RESOLVE_DISPOSITION, "value"),
          State(VERSION, "data"), prevent_initial_call=True)
def act(intent, outcome_text, disposition, version):
    """Runs the intent's command on the incident the screen showed when it was clicked (``intent.incident``)."""
    if not intent or not intent.get("action"):
        return (no_update,) * 5
    action, target, incident_id = intent["action"], intent.get("target"), intent.get("incident")
    if action == RETURN:
        outcome = attempt(ReturnUnit(_ctx(), acting(), target))
    elif not isinstance(incident_id, int):
        return _("Select an incident first."), "dispatch-message error", (version or 0) + 1, no_update, no_update
    elif action == CANCEL_BUTTON:
        outcome = attempt(UpdateIncident(_ctx(), acting(), incident_id, {"status": "cancelled"}))
    elif action == RESOLVE_SUBMIT:
        outcome = attempt(ResolveIncident(_ctx(), acting(), incident_id,
                                          {"outcome": outcome_text, "disposition": disposition}))
    else:
        outcome = attempt(DispatchUnit(_ctx(), acting(), incident_id, target if action == SEND else None))
    if not outcome.ok:
        return outcome.message, "dispatch-message error", (version or 0) + 1, no_update, no_update
    resolved = action == RESOLVE_SUBMIT
    return (_confirmation(action, target, incident_id, outcome.value, disposition), "dispatch-message ok",
            (version or 0) + 1, "dispatch-form resolve-form hidden" if resolved else no_update,
            "" if resolved else no_update)


def _confirmation(action: str, target, incident_id: int | None, result, disposition: str | None = None) -> str:
    if action == RETURN:
        return _("{unit} sent back to base ({command}).", unit=target, command=result["command"])
    if action == CANCEL_BUTTON:
        return _("Incident #{id} cancelled.", id=incident_id)
    if action == RESOLVE_SUBMIT:
        return _("Incident #{id} resolved ({disposition}) and closed.", id=incident_id,
                 disposition=_(DISPOSITIONS[disposition]).lower())
    if not result.published:
        return _("{unit} dispatched to #{id}, ETA {eta} — the broker did not confirm the command.",
                 unit=result.unit_id, id=incident_id, eta=duration(result.eta_seconds))
    return _("{unit} dispatched to #{id}, ETA {eta}.", unit=result.unit_id, id=incident_id,
             eta=duration(result.eta_seconds))


# The forms open and close in the browser (no server round trip), their first field focused.
clientside_callback(ClientsideFunction(namespace="dispatch", function_name="newForm"), Output(FORM, "className"),
                    Input(NEW_BUTTON, "n_clicks"), Input(FORM_CLOSE, "n_clicks"), prevent_initial_call=True)
clientside_callback(ClientsideFunction(namespace="dispatch", function_name="resolveForm"),
                    Output(RESOLVE_FORM, "className"), Input(RESOLVE_BUTTON, "n_clicks"),
                    Input(RESOLVE_CLOSE, "n_clicks"), prevent_initial_call=True)


# The location: typing asks GET /api/v1/places in the browser (assets/dispatch.js); a suggestion picked
# sets the point; editing the text afterwards clears it (the point no longer matches the words).
clientside_callback(ClientsideFunction(namespace="dispatch", function_name="searchPlaces"),
                    Output(FORM_FOUND, "data"), Output(FORM_LAT, "value", allow_duplicate=True),
                    Output(FORM_LON, "value", allow_duplicate=True),
                    Input(FORM_ADDRESS, "value"), State(FORM_PICKED, "data"), prevent_initial_call=True)
clientside_callback(ClientsideFunction(namespace="dispatch", function_name="pickPlace"),
                    Output(FORM_ADDRESS, "value", allow_duplicate=True),
                    Output(FORM_LAT, "value", allow_duplicate=True), Output(FORM_LON, "value", allow_duplicate=True),
                    Output(FORM_PICKED, "data", allow_duplicate=True),
                    Output(FORM_FOUND, "data", allow_duplicate=True),
                    Input({"type": PLACE_OPTION, "index": ALL}, "n_clicks"), State(FORM_FOUND, "data"),
                    prevent_initial_call=True)


@callback(Output(FORM_PLACES, "children"), Input(FORM_FOUND, "data"), prevent_initial_call=True)
def show_places(found):
    return place_options(found or [])


@callback(Output(FORM_WHERE, "children"), Output(FORM_WHERE, "className"), Input(FORM_LAT, "value"),
          Input(FORM_LON, "value"), State(FORM_PICKED, "data"), prevent_initial_call=True)
def describe_location(lat, lon, picked):
    """The point the incident will get, in words, so the dispatcher sees what a click or a pick set."""
    if not _is_number(lat) or not _is_number(lon):
        return _("Type an address and pick it from the list, or click the map."), "hint"
    picked = picked or {}
    point = f"{lat:.5f}, {lon:.5f}"
    if picked.get("from") == "list":
        return _("Location: {place} ({point})", place=picked.get("name"), point=point), "hint is-set"
    near = nearest_address(current().city, lon, lat)
    if near:
        return _("Location: map point {point}, near {place}", point=point, place=near.name), "hint is-set"
    return _("Location: map point {point}", point=point), "hint is-set"


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@callback(Output(FORM_LAT, "value"), Output(FORM_LON, "value"), Output(FORM, "className", allow_duplicate=True),
          Output(FORM_ADDRESS, "value", allow_duplicate=True), Output(FORM_PICKED, "data", allow_duplicate=True),
          Input(DISPATCH_MAP, "clickData"), State(FORM_ADDRESS, "value"), prevent_initial_call=True)
def pick_location(click, address):
    """A map click sets the point (and, into an empty location field, the nearest address)."""
    if not _may_act():  # a map click opens the new-incident form only for who may create one
        return (no_update,) * 5
    point = clicked_latlng(click)
    if point is None:
        return (no_update,) * 5
    lat, lon = point
    near = nearest_address(current().city, lon, lat) if not (address or "").strip() else None
    text = near.name if near else no_update
    return lat, lon, "dispatch-form", text, {"name": near.name if near else address, "from": "map"}


@callback(Output(FORM_SUB, "options"), Output(FORM_SUB, "value"), Input(FORM_CATEGORY, "value"))
def sub_categories(category):
    return [{"label": words(s), "value": s} for s in CATEGORIES.get(category, ())], None


@callback(Output(MESSAGE, "children", allow_duplicate=True), Output(MESSAGE, "className", allow_duplicate=True),
          Output(VERSION, "data", allow_duplicate=True), Output(SELECTED, "data", allow_duplicate=True),
          Output(FORM, "className", allow_duplicate=True), Output(FORM_ADDRESS, "value", allow_duplicate=True),
          Output(FORM_LAT, "value", allow_duplicate=True), Output(FORM_LON, "value", allow_duplicate=True),
          Output(FORM_PICKED, "data", allow_duplicate=True), Output(FORM_DESCRIPTION, "value"),
          Input(FORM_SUBMIT, "n_clicks"),
          State(FORM_CATEGORY, "value"), State(FORM_SUB, "value"), State(FORM_PRIORITY, "value"),
          State(FORM_DESCRIPTION, "value"), State(FORM_ADDRESS, "value"), State(FORM_LAT, "value"),
          State(FORM_LON, "value"), State(VERSION, "data"), prevent_initial_call=True)
def create(n_clicks, category, sub, priority, description, address, lat, lon, version):
    """Creates the incident at the point chosen; a created incident empties the form, so the next one
    never starts at the last one's location."""
    if not n_clicks:
        return (no_update,) * 10
    if not _is_number(lat) or not _is_number(lon):
        place = _named_exactly(address)
        if place is None:
            return (_no_location(address), "dispatch-message error") + (no_update,) * 8
        lat, lon = place.lat, place.lon
    body = {"category": category, "subCategory": sub, "priority": priority, "description": description,
            "address": address, "lat": lat, "lon": lon, "source": "operator"}
    outcome = attempt(CreateIncident(_ctx(), acting(), body, default_source="operator"))
    if not outcome.ok:
        return (outcome.message, "dispatch-message error") + (no_update,) * 8
    incident = outcome.value
    return (_("Incident #{id} created.", id=incident.id), "dispatch-message ok", (version or 0) + 1, incident.id,
            "dispatch-form hidden", "", None, None, None, "")


def _named_exactly(address: str | None):
    """The one place whose whole name the dispatcher typed (without picking it from the list), if any."""
    if not (address or "").strip():
        return None
    exact = [p for p in search_places(current().city, address) if fold(p.name) == fold(address)]
    return exact[0] if len(exact) == 1 else None


def _no_location(address: str | None) -> str:
    if (address or "").strip():
        return _("Choose a location: “{address}” is not a place this city knows exactly — pick one of the "
                 "suggestions or click the map.", address=address.strip())
    return _("Choose a location: type an address or click the map.")
