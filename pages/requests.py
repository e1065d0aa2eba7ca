"""Citizen requests: the queues per department and state sorted by deadline with their countdowns,
filters, bulk assign, a request's card with its timeline, duplicates and satisfaction, the steps its
viewer may take, and the hotline form on which an agent types what a caller says.

Department staff see their own department's queue only. Every button runs the same command as the
API (services/requests/commands.py), as the signed-in person.
"""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, callback, ctx, dash_table, dcc, html, no_update

from components.live_map import clicked_latlng
from components.requests import REQUESTS_MAP, REQUESTS_MAP_POINTS, order_card, queue_row, request_map, \
    request_markers, timeline
from services.i18n import N_, _, in_language
from services.models import utcnow
from services.requests.commands import (AcceptOrder, AddNote, AssignOrder, CloseOrder, MergeOrder, ReceiveRequest,
                                        ReopenOrder, RequestContext, ResolveOrder, StartWork, TransferOrder,
                                        assign_many)
from services.requests.orders import (ACTIVE_STATUSES, STATUS_LABELS, OrderFilter, duplicate_candidates, get_order,
                                      list_orders, order_timeline)
from services.runtime import current
from web.ui import acting, attempt, may

dash.register_page(__name__, path="/requests", name=N_("Requests"), order=15,
                   title=lambda **_path: _("CityOps — citizen requests"))

TICK, TABLE, DETAIL, SELECTED, CHANGED, MESSAGE = ("requests-tick", "requests-table", "requests-detail",
                                                   "requests-selected", "requests-changed", "requests-message")
ACTIONS, ACTIONS_SHOWN = "requests-actions", "requests-actions-shown"  # the steps, and the version they are for
F_DEPARTMENT, F_STATE, F_DISTRICT, F_SERVICE, F_OVERDUE = ("requests-filter-department", "requests-filter-state",
                                                           "requests-filter-district", "requests-filter-service",
                                                           "requests-filter-overdue")
BULK_DEPARTMENT, BULK_ASSIGN = "requests-bulk-department", "requests-bulk-assign"
FORM = {name: f"requests-form-{name}" for name in ("service", "lat", "lon", "address", "description", "submit")}
ACTION, TEXT, TARGET = "requests-action", "requests-action-text", "requests-action-department"
STATE_OPTIONS = [("active", N_("Open and resolved")),
                 *[(s, STATUS_LABELS[s]) for s in ACTIVE_STATUSES + ("closed",)], ("all", N_("All"))]


def _ctx() -> RequestContext:
    return RequestContext.of(current())


def _own_department() -> str | None:
    principal = acting()
    return principal.department if principal is not None and principal.role == "department" else None


def layout(order=None, **_query):
    """``/requests?order=<id>`` opens on that request's card."""
    catalogue, own, city = _ctx().catalogue, _own_department(), current().city
    departments = [{"label": _("Unclassified"), "value": "unclassified"}] + [
        {"label": in_language(d.name_en, d.name_zh), "value": d.id} for d in catalogue.departments]
    services = [{"label": f"{in_language(s.name_en, s.name_zh)} ({s.code})", "value": s.code}
                for s in catalogue.services]
    filters = html.Div([
        dcc.Dropdown(id=F_DEPARTMENT, options=departments, value=own, disabled=own is not None,
                     placeholder=_("every department")),
        dcc.Dropdown(id=F_STATE, options=[{"label": _(label), "value": value} for value, label in STATE_OPTIONS],
                     value="active", clearable=False),
        dcc.Dropdown(id=F_DISTRICT, options=[], placeholder=_("every district")),
        dcc.Dropdown(id=F_SERVICE, options=services, placeholder=_("every service")),
        dcc.Checklist(id=F_OVERDUE, options=[{"label": " " + _("overdue only"), "value": "overdue"}], value=[]),
    ], className="requests-filters")
    bulk = html.Div([dcc.Dropdown(id=BULK_DEPARTMENT, options=departments[1:],
                                  placeholder=_("the service's department")),
                     html.Button(_("Assign selected"), id=BULK_ASSIGN)], className="requests-bulk",
                    hidden=not may("request.assign"))
    table = dash_table.DataTable(
        id=TABLE, row_selectable="multi" if may("request.assign") else False, page_size=25, sort_action="none",
        columns=[{"name": n, "id": i} for n, i in (("#", "id"), (_("Service"), "service"),
                                                   (_("Department"), "department"), (_("Status"), "status"),
                                                   (_("District"), "district"), (_("Received"), "received"),
                                                   (_("Deadline"), "due"), (_("Transfers"), "transfers"))],
        style_cell={"textAlign": "left", "fontFamily": "inherit"}, style_header={"fontWeight": 600},
        style_cell_conditional=[{"if": {"column_id": "district"}, "whiteSpace": "normal", "minWidth": "8rem",
                                 "maxWidth": "12rem"}],
        style_data_conditional=[
            {"if": {"filter_query": '{due_state} = "overdue"'}, "backgroundColor": "#fbe3e1", "color": "#a4161a",
             "fontWeight": "bold"},
            {"if": {"filter_query": '{due_state} = "due_soon"'}, "backgroundColor": "#fff4d6"}])
    minlon, minlat, maxlon, maxlat = city.bbox
    centre = tuple(city.meta.get("center", ((minlon + maxlon) / 2, (minlat + maxlat) / 2)))
    basemap = {name: city.basemap(name) for name in ("districts", "water", "parks", "buildings", "roads")}
    return html.Div([
        dcc.Interval(id=TICK, interval=5000), dcc.Store(id=SELECTED, data=int(order) if str(order).isdigit() else None),
        dcc.Store(id=CHANGED, data=0), dcc.Store(id=ACTIONS_SHOWN),
        html.Div([html.H1(_("Citizen requests")), filters], className="requests-head"), bulk,
        html.Div(id=MESSAGE, className="requests-message", role="status"),
        html.Div([
            html.Div(table, className="requests-queue"),
            html.Div([
                html.Div(request_map(basemap, centre, [[minlat, minlon], [maxlat, maxlon]]),
                         className="requests-map-box"),
                _hotline_form(services, hidden=not may("request.submit"), open=not str(order).isdigit()),
                html.Div(id=ACTIONS, className="requests-actions-box"),
                html.Div(id=DETAIL, className="requests-detail"),
            ], className="requests-side"),
        ], className="requests-body"),
    ], className="requests-page" + (" with-order" if str(order).isdigit() else ""))


def _hotline_form(services, hidden: bool, open: bool) -> html.Details:
    """What a caller says. The location is a click on the map above (as on /dispatch) or typed
    (lat, lon); ``FORM["address"]`` is where the city's address search (being built) fills them in."""
    return html.Details([
        html.Summary(_("Take a call (hotline) — click the map where it is")),
        html.Div([
            dcc.Dropdown(id=FORM["service"], options=services, placeholder=_("service"),
                         className="requests-form-service"),
            dcc.Input(id=FORM["lat"], type="number", placeholder=_("lat"), debounce=True),
            dcc.Input(id=FORM["lon"], type="number", placeholder=_("lon"), debounce=True),
            dcc.Input(id=FORM["address"], type="text", placeholder=_("address (as the caller says it)"),
                      className="requests-form-address"),
            dcc.Textarea(id=FORM["description"], placeholder=_("what the caller says")),
            html.Button(_("Register request"), id=FORM["submit"], className="requests-form-submit"),
        ], className="requests-form-fields"),
    ], open=open, className="requests-hotline", hidden=hidden)


@callback(Output(TABLE, "data"), Output(F_DISTRICT, "options"), Input(TICK, "n_intervals"),
          Input(F_DEPARTMENT, "value"), Input(F_STATE, "value"), Input(F_DISTRICT, "value"),
          Input(F_SERVICE, "value"), Input(F_OVERDUE, "value"), Input(CHANGED, "data"))
def refresh_queue(_n, department, state, district, service, overdue, _changed):
    context, runtime = _ctx(), current()
    department = _own_department() or department
    statuses = ACTIVE_STATUSES if state == "active" else None if state == "all" else (state,)
    orders = list_orders(context.engine, context.catalogue, utcnow(), OrderFilter(
        statuses=statuses, department=department, district=district, service_code=service,
        overdue_only="overdue" in (overdue or [])))
    districts = sorted({o.district for o in orders if o.district} | ({district} if district else set()))
    return [queue_row(o, runtime.timezone) for o in orders], [{"label": d, "value": d} for d in districts]


@callback(Output(SELECTED, "data"), Input(TABLE, "active_cell"), State(TABLE, "derived_viewport_data"),
          prevent_initial_call=True)
def select_order(cell, rows):
    if not cell or not rows or cell["row"] >= len(rows):
        return no_update
    return rows[cell["row"]]["id"]


def _shown_order(order_id):
    """The order a person may see here (department staff: their department's), else None."""
    if order_id is None:
        return None
    context = _ctx()
    order = get_order(context.engine, context.catalogue, utcnow(), order_id)
    own = _own_department()
    return None if order is None or (own and order.department != own) else order


def _duplicates(order) -> list:
    if order.merged_into or order.status not in ACTIVE_STATUSES:
        return []
    context = _ctx()
    return duplicate_candidates(context.engine, context.catalogue, order)


@callback(Output(DETAIL, "children"), Input(SELECTED, "data"), Input(CHANGED, "data"), Input(TICK, "n_intervals"))
def show_order(order_id, _changed, _n):
    if order_id is None:
        return html.P(_("Select a request to see its card, timeline and duplicates."), className="empty")
    order, context, zone = _shown_order(order_id), _ctx(), current().timezone
    if order is None:
        return html.P(_("No such request in your queue."), className="empty")
    duplicates = _duplicates(order)
    return html.Div([
        order_card(order, zone),
        html.Div([html.H4(_("Possible duplicates")),
                  html.Ul([html.Li([f"#{d.id} ", html.Span(d.description or "", className="request-description"),
                                    " ", html.Button(_("Merge this request into it"),
                                                id={"type": ACTION, "action": "merge", "into": d.id})
                                    if may("request.assign") else None]) for d in duplicates])]
                 if duplicates else None),
        html.H4(_("Timeline")), timeline(order_timeline(context.engine, order.id), zone),
    ])


@callback(Output(ACTIONS, "children"), Output(ACTIONS_SHOWN, "data"), Input(SELECTED, "data"),
          Input(CHANGED, "data"), Input(TICK, "n_intervals"), State(ACTIONS_SHOWN, "data"))
def show_actions(order_id, _changed, _n, shown):
    """Redrawn only when the order changes: what a person types into the notes survives the tick."""
    order = _shown_order(order_id)
    key = [order.id, order.version] if order is not None else None
    if key == shown:
        return no_update, no_update
    return (_actions(order, _ctx()) if order is not None else None), key


@callback(Output(REQUESTS_MAP_POINTS, "children"), Output(REQUESTS_MAP, "viewport"), Input(SELECTED, "data"),
          Input(CHANGED, "data"), Input(FORM["lat"], "value"), Input(FORM["lon"], "value"))
def show_on_map(order_id, _changed, lat, lon):
    order = _shown_order(order_id)
    new_call = (lat, lon) if isinstance(lat, (int, float)) and isinstance(lon, (int, float)) else None
    markers = request_markers(order, _duplicates(order) if order is not None else [], new_call)
    moved = ctx.triggered_id in (SELECTED, None) and order is not None  # None: the page opened on it
    return markers, ({"center": [order.lat, order.lon], "zoom": 16, "transition": "flyTo"} if moved else no_update)


@callback(Output(FORM["lat"], "value"), Output(FORM["lon"], "value"), Input(REQUESTS_MAP, "clickData"),
          prevent_initial_call=True)
def pick_location(click):
    """A click on the map places the caller's request (as the new-incident form on /dispatch)."""
    if not may("request.submit"):
        return no_update, no_update
    point = clicked_latlng(click)
    return point if point is not None else (no_update, no_update)


STEPS = (("assign", N_("Assign"), "request.assign", ("received",)),
         ("accept", N_("Accept"), "request.work", ("assigned", "reopened")),
         ("start", N_("Start work"), "request.work", ("accepted",)),
         ("resolve", N_("Resolve"), "request.work", ("accepted", "in_progress")),
         ("close", N_("Close"), "request.assign", ("resolved",)),
         ("reopen", N_("Reopen"), "request.assign", ("resolved", "closed")),
         ("transfer", N_("Transfer"), "request.transfer", ("assigned", "accepted", "in_progress", "reopened")),
         ("note", N_("Add note"), "request.note", ACTIVE_STATUSES + ("closed",)))


def _actions(order, context) -> html.Div:
    buttons = [html.Button(_(label), id={"type": ACTION, "action": key, "into": 0}, className=f"request-{key}")
               for key, label, permission, statuses in STEPS if may(permission) and order.status in statuses]
    if not buttons:
        return html.Div(_("{request}: nothing for you to do here now.", request=order.shown_label),
                        className="empty")
    return html.Div([dcc.Input(id=TEXT, type="text", placeholder=_("notes for the citizen / reason / note")),
                     dcc.Dropdown(id=TARGET, options=[{"label": in_language(d.name_en, d.name_zh), "value": d.id}
                                                      for d in context.catalogue.departments],
                                  placeholder=_("department (assign / transfer)")),
                     *buttons], className="request-actions")


@callback(Output(MESSAGE, "children"), Output(CHANGED, "data"),
          Input({"type": ACTION, "action": ALL, "into": ALL}, "n_clicks"), State(SELECTED, "data"),
          State(TEXT, "value"), State(TARGET, "value"), State(CHANGED, "data"), prevent_initial_call=True)
def act_on_request(clicks, order_id, text, department, changed):
    if not ctx.triggered_id or not any(clicks) or order_id is None:
        return no_update, no_update
    action, into = ctx.triggered_id["action"], ctx.triggered_id["into"]
    context, who = _ctx(), acting()
    commands = {
        "assign": lambda: AssignOrder(context, who, order_id, department=department),
        "accept": lambda: AcceptOrder(context, who, order_id), "start": lambda: StartWork(context, who, order_id),
        "resolve": lambda: ResolveOrder(context, who, order_id, notes=text or ""),
        "close": lambda: CloseOrder(context, who, order_id, notes=text),
        "reopen": lambda: ReopenOrder(context, who, order_id, reason=text or ""),
        "transfer": lambda: TransferOrder(context, who, order_id, department=department or "", reason=text or ""),
        "note": lambda: AddNote(context, who, order_id, text=text or ""),
        "merge": lambda: MergeOrder(context, who, order_id, into_id=into),
    }
    outcome = attempt(commands[action]())
    if not outcome.ok:
        return outcome.message, no_update
    view = outcome.value
    return f"{view.shown_label}: {_(STATUS_LABELS[view.status]).lower()}", (changed or 0) + 1


@callback(Output(MESSAGE, "children", allow_duplicate=True), Output(CHANGED, "data", allow_duplicate=True),
          Input(BULK_ASSIGN, "n_clicks"), State(TABLE, "selected_rows"), State(TABLE, "data"),
          State(BULK_DEPARTMENT, "value"), State(CHANGED, "data"), prevent_initial_call=True)
def bulk_assign(_clicks, selected, rows, department, changed):
    ids = [rows[i]["id"] for i in selected or [] if i < len(rows or [])]
    if not ids:
        return _("Select requests first (the boxes on the left)."), no_update
    done, refused = assign_many(_ctx(), acting(), ids, department)
    reasons = "".join(f" #{order_id}: {r.message}." for order_id, r in refused)
    return _("Assigned {done} of {asked}.", done=len(done), asked=len(ids)) + reasons, (changed or 0) + 1


@callback(Output(MESSAGE, "children", allow_duplicate=True), Output(SELECTED, "data", allow_duplicate=True),
          Output(CHANGED, "data", allow_duplicate=True), Input(FORM["submit"], "n_clicks"),
          State(FORM["service"], "value"), State(FORM["lat"], "value"), State(FORM["lon"], "value"),
          State(FORM["address"], "value"), State(FORM["description"], "value"), State(CHANGED, "data"),
          prevent_initial_call=True)
def take_call(_clicks, service, lat, lon, address, description, changed):
    body = {"service_code": service, "lat": lat, "long": lon, "address_string": address, "description": description}
    outcome = attempt(ReceiveRequest(_ctx(), acting(), body, source="hotline"))
    if not outcome.ok:
        return outcome.message, no_update, no_update
    received = outcome.value
    if received.order is None:
        return _("{request}: an emergency, passed to the dispatchers (incident #{incident})",
                 request=received.request_id, incident=received.incident_id), no_update, (changed or 0) + 1
    duplicates = _("; possible duplicate of {requests}", requests=", ".join(f"#{d}" for d in received.duplicates)) \
        if received.duplicates else ""
    return _("Registered {request} (#{order})", request=received.request_id, order=received.order.id) + duplicates, \
        received.order.id, (changed or 0) + 1
