"""The app shell: navigation built from the page registry, site clock, attribution."""
from __future__ import annotations

from dash import dcc, html

from services.vocabulary import css_variables

SHELL_CLOCK = "shell-clock"
SHELL_ALARM_STRIP = "shell-alarm-strip"  # filled by the alarms page module's callback
SHELL_NAV = "shell-nav"
SHELL_MENU = "shell-menu"  # opens the navigation on a phone (assets/shell.js); hidden where the links fit


def user_badge(name: str, role: str, sign_out: bool = True) -> html.Div:
    """Who is signed in, and the sign-out button (a plain form: it works without JavaScript)."""
    return html.Div(className="shell-user", children=[
        html.Span(name, className="shell-user-name"), html.Span(role, className="shell-user-role"),
        html.Form(method="POST", action="/logout",
                  children=[html.Button("Sign out", type="submit", id="shell-sign-out")])
        if sign_out else None,
    ])


def shell(*, city_name: str, timezone: str, attribution: str, nav: list[tuple[str, str]], content,
          user: html.Div | None = None) -> html.Div:
    return html.Div(className="shell", style=css_variables(), children=[
        html.Header(className="shell-header", children=[
            html.Div(className="shell-brand", children=[html.Span("CityOps", className="shell-logo"),
                                                         html.Span(city_name, className="shell-city")]),
            html.Button("☰ Menu", id=SHELL_MENU, className="shell-menu-button", type="button",
                        **{"aria-controls": SHELL_NAV, "aria-expanded": "false"}),
            html.Nav(id=SHELL_NAV, className="shell-nav", children=[
                dcc.Link(name, href=path, className="shell-nav-link") for name, path in nav
            ]),
            html.Div(className="shell-clock", children=[
                html.Span(id=SHELL_CLOCK, **{"data-timezone": timezone}),
                html.Span(timezone, className="shell-timezone"),
            ]),
            user,
        ]),
        html.Div(id=SHELL_ALARM_STRIP, className="shell-alarm-strip"),
        html.Main(content, className="shell-main"),
        html.Footer(className="shell-footer", children=[
            html.Span(f"Map data {attribution}"),
        ]),
    ])
