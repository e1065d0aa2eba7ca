"""Displays (administrator): wall screens and kiosks opened with a display link. Create one (its
link is shown once), see when each last fetched data (a dead screen shows), revoke one."""
from __future__ import annotations

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update
from flask import request

from services.i18n import N_, _
from services.vocabulary import duration, site_time
from components.tables import data_table
from services.access.displays import DISPLAY_PAGES, CreateDisplay, RevokeDisplay, list_displays
from services.aqi import CODES, SHORT_NAMES
from services.models import utcnow
from services.runtime import current
from web.ui import acting, attempt

dash.register_page(__name__, path="/admin/displays", name=N_("Displays"), order=98, title=lambda **_path: _("CityOps — displays"),
                   permission="displays.manage")

DISPLAYS_TICK = "admin-displays-tick"
DISPLAYS_TABLE = "admin-displays-table"
DISPLAYS_CHANGED = "admin-displays-changed"
DISPLAYS_MESSAGE = "admin-displays-message"
NAME, PAGE, LANG, ROTATE, AQI, SOUND, CREATE = (
    "admin-displays-name", "admin-displays-page", "admin-displays-lang", "admin-displays-rotate", "admin-displays-aqi",
    "admin-displays-sound", "admin-displays-create")
REVOKE = "admin-displays-revoke"


def _field(label: str, control) -> html.Label:
    return html.Label([html.Span(label, className="filter-label"), control])


def layout(**_query):
    return html.Div(className="page page-admin", children=[
        dcc.Interval(id=DISPLAYS_TICK, interval=10_000),
        dcc.Store(id=DISPLAYS_CHANGED, data=0),
        html.H1("Displays"),
        html.P("A display link opens a wall screen or kiosk without signing in: read only, it never expires, "
               "and revoking it switches the screen off within a second.", className="alarm-muted"),
        html.Div(className="admin-form", children=[
            _field("Name", dcc.Input(id=NAME, placeholder="Wall 1, control room", className="alarm-input")),
            _field("Page", dcc.Dropdown(id=PAGE, options=[{"label": p, "value": p} for p in DISPLAY_PAGES],
                                        value=DISPLAY_PAGES[0], clearable=False, style={"minWidth": "8rem"})),
            _field("Language", dcc.Input(id=LANG, placeholder="en", className="alarm-input")),
            _field("Rotate every (s)", dcc.Input(id=ROTATE, type="number", min=0, max=3600, className="alarm-input")),
            _field("Air quality index", dcc.Dropdown(
                id=AQI, options=[{"label": "the city's", "value": ""}] + [
                    {"label": SHORT_NAMES[key], "value": code} for key, code in CODES.items()],
                value="", clearable=False, style={"minWidth": "9rem"})),
            dcc.Checklist(id=SOUND, options=[{"label": " Sound for critical alarms", "value": "on"}], value=[]),
            html.Button("Create display link", id=CREATE, className="alarm-action is-primary", n_clicks=0),
        ]),
        html.Div(id=DISPLAYS_MESSAGE, className="alarms-message", role="status"),
        html.Div(id=DISPLAYS_TABLE),
    ])


@callback(Output(DISPLAYS_TABLE, "children"), Input(DISPLAYS_TICK, "n_intervals"), Input(DISPLAYS_CHANGED, "data"))
def show_displays(_n, _changed):
    runtime, now = current(), utcnow()
    rows = []
    for display in list_displays(runtime.engine):
        seen = "never"
        if display.last_seen_at is not None:
            ago = duration((now - display.last_seen_at).total_seconds())
            seen = f"{site_time(display.last_seen_at, runtime.timezone)} ({ago} ago)"
        options = ", ".join(f"{key}={value}" for key, value in display.options.items()) or "—"
        action = "revoked" if display.revoked else html.Button(
            "Revoke", id={"type": REVOKE, "index": display.id}, className="alarm-action", n_clicks=0)
        rows.append([display.name, display.page, options, display.created_by, seen, action])
    return data_table(["Display", "Page", "Options", "Created by", "Last fetched data", ""], rows,
                      class_name="data-table admin-table", empty="No displays yet.")


@callback(Output(DISPLAYS_MESSAGE, "children"), Output(DISPLAYS_CHANGED, "data"),
          Input(CREATE, "n_clicks"), Input({"type": REVOKE, "index": ALL}, "n_clicks"),
          State(NAME, "value"), State(PAGE, "value"), State(LANG, "value"), State(ROTATE, "value"), State(AQI, "value"),
          State(SOUND, "value"), State(DISPLAYS_CHANGED, "data"), prevent_initial_call=True)
def change_displays(_create, _revokes, name, page, lang, rotate, aqi, sound, changed):
    if not ctx.triggered or not ctx.triggered[0].get("value"):
        return no_update, no_update  # buttons re-rendered, not clicked
    engine, who = current().engine, acting()
    if ctx.triggered_id == CREATE:
        rotate = int(rotate) if isinstance(rotate, (int, float)) and float(rotate).is_integer() else rotate
        options = {key: value for key, value in (("lang", (lang or "").strip()), ("rotate", rotate), ("aqi", aqi),
                                                 ("sound", "on" in (sound or []))) if value}
        outcome = attempt(CreateDisplay(engine, who, name or "", page, options))
        if not outcome.ok:
            return html.Span(outcome.message, className="alarms-message-error"), no_update
        display, token = outcome.value
        link = f"{request.host_url.rstrip('/')}/display/{token}"
        return html.Div([html.P(f"Display {display.name!r} created. Open this link once on its screen; it is shown "
                                f"only now:", className="alarms-message-ok"),
                         html.P(link, className="admin-link", id="admin-displays-link")]), (changed or 0) + 1
    outcome = attempt(RevokeDisplay(engine, who, ctx.triggered_id["index"]))
    if not outcome.ok:
        return html.Span(outcome.message, className="alarms-message-error"), no_update
    return html.Span(f"Display {outcome.value.name!r} switched off.", className="alarms-message-ok"), (changed or 0) + 1
