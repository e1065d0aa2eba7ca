"""Citizen requests: the queues per department and state sorted by deadline with their countdowns,
filters, bulk assign, a request's card with its timeline, duplicates and satisfaction, the steps its
viewer may take, and the hotline form on which an agent types what a caller says.

Department staff see their own department's queue only. Every button runs the same command as the
API (services/requests/commands.py), as the signed-in person.
"""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, callback, ctx, dash_table, dcc, html, no_update

from components.requests import order_card, queue_row, timeline
from services.models import utcnow
from services.requests.commands import (AcceptOrder, AddNote, AssignOrder, CloseOrder, MergeOrder, ReceiveRequest,
                                        ReopenOrder, RequestContext, ResolveOrder, StartWork, TransferOrder,
                                        assign_many)
from services.requests.orders import (ACTIVE_STATUSES, STATUS_LABELS, OrderFilter, duplicate_candidates, get_order,
                                      list_orders, order_timeline)
from services.runtime import current
from web.ui import acting, attempt, may

dash.register_page(__name__, path="/requests", name="Requests", order=15, title="CityOps — citizen requests")

TICK, TABLE, DETAIL, SELECTED, CHANGED, MESSAGE = ("requests-tick", "requests-table", "requests-detail",
                                                   "requests-selected", "requests-changed", "requests-message")
F_DEPARTMENT, F_STATE, F_DISTRICT, F_SERVICE, F_OVERDUE = ("requests-filter-department", "requests-filter-state",
                                                           "requests-filter-district", "requests-filter-service",
                                                           "requests-filter-overdue")
BULK_DEPARTMENT, BULK_ASSIGN = "requests-bulk-department", "requests-bulk-assign"
FORM = {name: f"requests-form-{name}" for name in ("service", "lat", "lon", "address", "description", "submit")}
ACTION, TEXT, TARGET = "requests-action", "requests-action-text", "requests-action-department"
STATE_OPTIONS = [("active", "Open and resolved"), *[(s, STATUS_LABELS[s]) for s in ACTIVE_STATUSES + ("closed",)],
                 ("all", "All")]


def _ctx() -> RequestContext:
    return RequestContext.of(current())


def _own_department() -> str | None:
    principal = acting()
    return principal.department if principal is not None and principal.role == "department" else None


def layout(**_query):
    catalogue, own = _ctx().catalogue, _own_department()
    departments = [{"label": "Unclassified", "value": "unclassified"}] + [
        {"label": f"{d.name_en} {d.name_zh}", "value": d.id} for d in catalogue.departments]
    services = [{"label": f"{s.name_en} ({s.code})", "value": s.code} for s in catalogue.services]
    filters = html.Div([
        dcc.Dropdown(id=F_DEPARTMENT, options=departments, value=own, disabled=own is not None,
                     placeholder="every department"),
        dcc.Dropdown(id=F_STATE, options=[{"label": label, "value": value} for value, label in STATE_OPTIONS],
                     value="active", clearable=False),
        dcc.Dropdown(id=F_DISTRICT, options=[], placeholder="every district"),
        dcc.Dropdown(id=F_SERVICE, options=services, placeholder="every service"),
        dcc.Checklist(id=F_OVERDUE, options=[{"label": " overdue only", "value": "overdue"}], value=[]),
    ], className="requests-filters")
    bulk = html.Div([dcc.Dropdown(id=BULK_DEPARTMENT, options=departments[1:], placeholder="the service's department"),
                     html.Button("Assign selected", id=BULK_ASSIGN)], className="requests-bulk",
                    hidden=not may("request.assign"))
    table = dash_table.DataTable(
        id=TABLE, row_selectable="multi" if may("request.assign") else False, page_size=25, sort_action="none",
        columns=[{"name": n, "id": i} for n, i in (("#", "id"), ("Service", "service"), ("Department", "department"),
                                                   ("Status", "status"), ("District", "district"),
                                                   ("Received", "received"), ("Deadline", "due"),
                                                   ("Transfers", "transfers"))],
        style_data_conditional=[
            {"if": {"filter_query": '{due_state} = "overdue"'}, "backgroundColor": "#fbe3e1", "color": "#a4161a",
             "fontWeight": "bold"},
            {"if": {"filter_query": '{due_state} = "due_soon"'}, "backgroundColor": "#fff4d6"}])
    return html.Div([
        dcc.Interval(id=TICK, interval=5000), dcc.Store(id=SELECTED), dcc.Store(id=CHANGED, data=0),
        html.H2("Citizen requests"), filters, bulk, html.Div(id=MESSAGE, className="requests-message"),
        html.Div([html.Div(table, className="requests-queue"), html.Div(id=DETAIL, className="requests-detail")],
                 className="requests-body"),
        _hotline_form(services) if may("request.submit") else None,
    ], className="requests-page")


def _hotline_form(services) -> html.Div:
    """What a caller says. The location is typed (lat, lon) or clicked on the map; ``FORM["address"]``
    is where the city's address search (being built) fills in the coordinates."""
    return html.Details([
        html.Summary("Take a call (hotline)"),
        dcc.Dropdown(id=FORM["service"], options=services, placeholder="service"),
        dcc.Input(id=FORM["lat"], type="number", placeholder="lat", debounce=True),
        dcc.Input(id=FORM["lon"], type="number", placeholder="lon", debounce=True),
        dcc.Input(id=FORM["address"], type="text", placeholder="address (as the caller says it)"),
        dcc.Textarea(id=FORM["description"], placeholder="what the caller says"),
        html.Button("Register request", id=FORM["submit"]),
    ], open=True, className="requests-hotline")


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


@callback(Output(DETAIL, "children"), Input(SELECTED, "data"), Input(CHANGED, "data"), Input(TICK, "n_intervals"))
def show_order(order_id, _changed, _n):
    if order_id is None:
        return html.P("Select a request to see its card, timeline and duplicates.")
    context, zone = _ctx(), current().timezone
    order = get_order(context.engine, context.catalogue, utcnow(), order_id)
    if order is None or (_own_department() and order.department != _own_department()):
        return html.P("No such request in your queue.")
    duplicates = [] if order.merged_into or order.status not in ACTIVE_STATUSES else \
        duplicate_candidates(context.engine, context.catalogue, order)
    return html.Div([
        order_card(order, zone),
        _actions(order, context),
        html.Div([html.H4("Possible duplicates"),
                  html.Ul([html.Li([f"#{d.id} {d.description or ''} ",
                                    html.Button("Merge this request into it",
                                                id={"type": ACTION, "action": "merge", "into": d.id})
                                    if may("request.assign") else None]) for d in duplicates])]
                 if duplicates else None),
        html.H4("Timeline"), timeline(order_timeline(context.engine, order.id), zone),
    ])


STEPS = (("assign", "Assign", "request.assign", ("received",)), ("accept", "Accept", "request.work",
                                                                 ("assigned", "reopened")),
         ("start", "Start work", "request.work", ("accepted",)),
         ("resolve", "Resolve", "request.work", ("accepted", "in_progress")),
         ("close", "Close", "request.assign", ("resolved",)), ("reopen", "Reopen", "request.assign",
                                                               ("resolved", "closed")),
         ("transfer", "Transfer", "request.transfer", ("assigned", "accepted", "in_progress", "reopened")),
         ("note", "Add note", "request.note", ACTIVE_STATUSES + ("closed",)))


def _actions(order, context) -> html.Div:
    buttons = [html.Button(label, id={"type": ACTION, "action": key, "into": 0}, className=f"request-{key}")
               for key, label, permission, statuses in STEPS if may(permission) and order.status in statuses]
    if not buttons:
        return html.Div()
    return html.Div([dcc.Input(id=TEXT, type="text", placeholder="notes for the citizen / reason / note"),
                     dcc.Dropdown(id=TARGET, options=[{"label": d.name_en, "value": d.id}
                                                      for d in context.catalogue.departments],
                                  placeholder="department (assign / transfer)"),
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
    return f"{view.label}: {STATUS_LABELS[view.status].lower()}", (changed or 0) + 1


@callback(Output(MESSAGE, "children", allow_duplicate=True), Output(CHANGED, "data", allow_duplicate=True),
          Input(BULK_ASSIGN, "n_clicks"), State(TABLE, "selected_rows"), State(TABLE, "data"),
          State(BULK_DEPARTMENT, "value"), State(CHANGED, "data"), prevent_initial_call=True)
def bulk_assign(_clicks, selected, rows, department, changed):
    ids = [rows[i]["id"] for i in selected or [] if i < len(rows or [])]
    if not ids:
        return "Select requests first (the boxes on the left).", no_update
    done, refused = assign_many(_ctx(), acting(), ids, department)
    reasons = "".join(f" #{order_id}: {r.message}." for order_id, r in refused)
    return f"Assigned {len(done)} of {len(ids)}.{reasons}", (changed or 0) + 1


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
        return f"{received.request_id}: an emergency, passed to the dispatchers (incident #{received.incident_id})", \
            no_update, (changed or 0) + 1
    duplicates = f"; possible duplicate of #{', #'.join(map(str, received.duplicates))}" if received.duplicates else ""
    return f"Registered {received.request_id} (#{received.order.id}){duplicates}", received.order.id, \
        (changed or 0) + 1
