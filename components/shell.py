"""The app shell: navigation built from the page registry, site clock, attribution."""
from __future__ import annotations

from dash import dcc, html

from services.i18n import LANGUAGE_NAMES, _
from services.vocabulary import ROLE_LABELS, css_variables, label_of

SHELL_CLOCK = "shell-clock"
SHELL_ALARM_STRIP = "shell-alarm-strip"  # filled by the alarms page module's callback
SHELL_NAV = "shell-nav"
SHELL_MENU = "shell-menu"  # opens the navigation on a phone (assets/shell.js); hidden where the links fit


def language_switch(language: str) -> html.Form:
    """The other languages as buttons of a plain form (POST /language saves the person's choice and
    brings them back to the page they were on)."""
    return html.Form(method="POST", action="/language", className="shell-language", children=[
        *[html.Button(name_, type="submit", name="language", value=locale, lang=locale,
                      id=f"shell-language-{locale}", title=_("Show CityOps in {language}", language=name_))
          for locale, name_ in LANGUAGE_NAMES.items() if locale != language],
    ])


def user_badge(name: str, role: str, sign_out: bool = True, language: str | None = None) -> html.Div:
    """Who is signed in, their language switch and the sign-out button (plain forms: they work without
    JavaScript)."""
    return html.Div(className="shell-user", children=[
        html.Span(name, className="shell-user-name"),
        html.Span(label_of(ROLE_LABELS, role), className="shell-user-role"),
        language_switch(language) if language else None,
        html.Form(method="POST", action="/logout",
                  children=[html.Button(_("Sign out"), type="submit", id="shell-sign-out")])
        if sign_out else None,
    ])


def shell(*, city_name: str, timezone: str, attribution: str, nav: list[tuple[str, str]], content,
          user: html.Div | None = None) -> html.Div:
    return html.Div(className="shell", style=css_variables(), children=[
        html.Header(className="shell-header", children=[
            html.Div(className="shell-brand", children=[html.Span("CityOps", className="shell-logo"),
                                                         html.Span(city_name, className="shell-city")]),
            html.Button("☰ " + _("Menu"), id=SHELL_MENU, className="shell-menu-button", type="button",
                        **{"aria-controls": SHELL_NAV, "aria-expanded": "false"}),
            html.Nav(id=SHELL_NAV, className="shell-nav", **{"aria-label": _("Pages")}, children=[
                dcc.Link(name, href=path, className="shell-nav-link") for name, path in nav
            ]),
            html.Div(className="shell-clock", children=[
                html.Span(id=SHELL_CLOCK, **{"data-timezone": timezone}),
                html.Span(timezone, className="shell-timezone"),
            ]),
            user,
        ]),
        html.Section(id=SHELL_ALARM_STRIP, className="shell-alarm-strip", **{"aria-label": _("Alarms")}),
        html.Main(content, className="shell-main"),
        html.Footer(className="shell-footer", children=[
            html.Span(_("Map data {attribution}", attribution=attribution)),
        ]),
    ])
