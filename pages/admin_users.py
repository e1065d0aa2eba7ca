"""Users (administrator): who may sign in, with which role; create, change role, disable, reset a
password. Each action is a command of services/access/users.py (audited)."""
from __future__ import annotations

import dash
from dash import Input, Output, State, callback, ctx, dcc, html, no_update

from services.i18n import N_, _
from services.vocabulary import site_time
from components.tables import data_table
from services.access.principal import PEOPLE_ROLES
from services.access.users import ChangeRole, CreateUser, ResetPassword, SetDisabled, list_users
from services.runtime import current
from web.ui import acting, attempt

dash.register_page(__name__, path="/admin/users", name=N_("Users"), order=97, title=lambda **_path: _("CityOps — users"),
                   permission="users.manage")

USERS_TABLE = "admin-users-table"
USERS_CHANGED = "admin-users-changed"
USERS_MESSAGE = "admin-users-message"
NEW_NAME, NEW_ROLE, NEW_PASSWORD, NEW_BUTTON = ("admin-users-new-name", "admin-users-new-role",
                                                "admin-users-new-password", "admin-users-create")
PICK, PICK_ROLE, PICK_PASSWORD = "admin-users-pick", "admin-users-pick-role", "admin-users-pick-password"
ROLE_BUTTON, DISABLE_BUTTON, ENABLE_BUTTON, PASSWORD_BUTTON = ("admin-users-change-role", "admin-users-disable",
                                                              "admin-users-enable", "admin-users-reset-password")
_ROLES = [{"label": role, "value": role} for role in PEOPLE_ROLES]


def _field(label: str, control) -> html.Label:
    return html.Label([html.Span(label, className="filter-label"), control])


def layout(**_query):
    return html.Div(className="page page-admin", children=[
        html.H1("Users"),
        dcc.Store(id=USERS_CHANGED, data=0),
        html.Div(id=USERS_MESSAGE, className="alarms-message", role="status"),
        html.H2("New user"),
        html.Div(className="admin-form", children=[
            _field("User name", dcc.Input(id=NEW_NAME, autoComplete="off", className="alarm-input")),
            _field("Role", dcc.Dropdown(id=NEW_ROLE, options=_ROLES, value="dispatcher", clearable=False,
                                        style={"minWidth": "10rem"})),
            _field("Password (10+ characters)", dcc.Input(id=NEW_PASSWORD, type="password", autoComplete="new-password",
                                                          className="alarm-input")),
            html.Button("Create", id=NEW_BUTTON, className="alarm-action is-primary", n_clicks=0),
        ]),
        html.H2("Change a user"),
        html.Div(className="admin-form", children=[
            _field("User", dcc.Dropdown(id=PICK, style={"minWidth": "12rem"})),
            _field("Role", dcc.Dropdown(id=PICK_ROLE, options=_ROLES, style={"minWidth": "10rem"})),
            html.Button("Change role", id=ROLE_BUTTON, className="alarm-action", n_clicks=0),
            html.Button("Disable", id=DISABLE_BUTTON, className="alarm-action", n_clicks=0),
            html.Button("Enable", id=ENABLE_BUTTON, className="alarm-action", n_clicks=0),
            _field("New password", dcc.Input(id=PICK_PASSWORD, type="password", autoComplete="new-password",
                                             className="alarm-input")),
            html.Button("Reset password", id=PASSWORD_BUTTON, className="alarm-action", n_clicks=0),
        ]),
        html.Div(id=USERS_TABLE),
    ])


@callback(Output(USERS_TABLE, "children"), Output(PICK, "options"), Input(USERS_CHANGED, "data"))
def show_users(_changed):
    runtime = current()
    users = list_users(runtime.engine)
    rows = [[user.name, user.role, "disabled" if user.disabled else "active",
             "city sign-in" if user.external else "password",
             site_time(user.created_at, runtime.timezone),
             site_time(user.last_sign_in_at, runtime.timezone)] for user in users]
    table = data_table(["User", "Role", "State", "Signs in with", "Created", "Last sign-in"], rows,
                       class_name="data-table admin-table",
                       empty="No users yet.")
    return table, [{"label": user.name, "value": user.name} for user in users]


@callback(Output(USERS_MESSAGE, "children"), Output(USERS_CHANGED, "data"), Output(NEW_PASSWORD, "value"),
          Output(PICK_PASSWORD, "value"),
          Input(NEW_BUTTON, "n_clicks"), Input(ROLE_BUTTON, "n_clicks"), Input(DISABLE_BUTTON, "n_clicks"),
          Input(ENABLE_BUTTON, "n_clicks"), Input(PASSWORD_BUTTON, "n_clicks"),
          State(NEW_NAME, "value"), State(NEW_ROLE, "value"), State(NEW_PASSWORD, "value"), State(PICK, "value"),
          State(PICK_ROLE, "value"), State(PICK_PASSWORD, "value"), State(USERS_CHANGED, "data"),
          prevent_initial_call=True)
def change_users(_create, _role, _disable, _enable, _password, new_name, new_role, new_password, picked, picked_role,
                 picked_password, changed):
    engine, who, button = current().engine, acting(), ctx.triggered_id
    if button == NEW_BUTTON:
        command, done = CreateUser(engine, who, (new_name or "").strip(), new_role, new_password or ""), \
            f"User {new_name} created."
    elif not picked:
        return html.Span("Choose a user first.", className="alarms-message-error"), no_update, no_update, no_update
    elif button == ROLE_BUTTON:
        command, done = ChangeRole(engine, who, picked, picked_role), f"{picked} is now {picked_role}."
    elif button in (DISABLE_BUTTON, ENABLE_BUTTON):
        disabled = button == DISABLE_BUTTON
        command, done = SetDisabled(engine, who, picked, disabled), f"{picked} {'disabled' if disabled else 'enabled'}."
    else:
        command, done = ResetPassword(engine, who, picked, picked_password or ""), f"New password set for {picked}."
    outcome = attempt(command)
    if not outcome.ok:
        return html.Span(outcome.message, className="alarms-message-error"), no_update, no_update, no_update
    return html.Span(done, className="alarms-message-ok"), (changed or 0) + 1, "", ""
