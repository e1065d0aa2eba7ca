"""The public kiosk's screen, built from a ``KioskStatus`` in the current language (services/i18n.py).

Plain words for a passer-by, no controls. A panel without current readings says since when it has
none and shows no number; the whole screen's live part is hidden by assets/kiosk.js when the
server stops answering (``kiosk-live``), and the stale notice is shown instead.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dash import html

from services.aqi import level_words
from services.i18n import _, current_locale, html_lang
from services.kiosk import KioskStatus, Section, Warning
from services.rules import in_language
from services.vocabulary import number

PANELS = ("air", "traffic", "water")  # the order a rotating kiosk shows them in


def _at(moment: datetime | None, timezone: str) -> str:
    return "—" if moment is None else moment.astimezone(ZoneInfo(timezone)).strftime("%H:%M")


def warning_title(warning: Warning) -> str:
    severe = warning.severity == "critical"
    if warning.kind == "flood":
        return _("Severe flood warning") if severe else _("Flood warning")
    if warning.kind == "rainfall":
        return _("Severe heavy rain warning") if severe else _("Heavy rain warning")
    if warning.kind == "airPollution":
        return _("Severe air pollution warning") if severe else _("Air pollution warning")
    return _("Public warning")


def _warnings(status: KioskStatus, timezone: str) -> html.Section:
    if not status.warnings:
        return html.Section(className="kiosk-warnings kiosk-calm", children=[
            html.P(_("No public warnings now."), className="kiosk-calm-text")])
    language = current_locale()
    return html.Section(className="kiosk-warnings", **{"aria-label": _("Warnings")}, children=[
        html.Div(className=f"kiosk-warning severity-{warning.severity}", **{"data-warning": warning.kind}, children=[
            html.H2([html.Span("⚠", className="kiosk-warning-sign", **{"aria-hidden": "true"}),
                     warning_title(warning)], className="kiosk-warning-title"),
            html.P(_("Since {time}", time=_at(warning.since, timezone)) + (
                " · " + ", ".join(warning.districts) if warning.districts else ""), className="kiosk-warning-where"),
            html.P(in_language(warning.advice, language), className="kiosk-warning-advice"),
        ])
        for warning in status.warnings
    ])


def _no_readings(section: Section, timezone: str, what: str) -> html.P:
    """What a panel says instead of old numbers."""
    if section.newest is None:
        return html.P(_("No {what} readings yet.", what=what), className="kiosk-no-data")
    return html.P(_("No current {what} readings. The last one was at {time}.", what=what,
                    time=_at(section.newest, timezone)), className="kiosk-no-data")


def _panel(key: str, title: str, section: Section, timezone: str, what: str, body) -> html.Section:
    return html.Section(className="kiosk-panel", **{"data-panel": key, "data-current": str(section.current).lower()},
                        children=[
        html.H2(title, className="kiosk-panel-title"),
        *(body if section.current else [_no_readings(section, timezone, what)]),
        html.P(_("Readings from {time}", time=_at(section.newest, timezone)), className="kiosk-panel-fresh")
        if section.current else None,
    ])


def _air(status: KioskStatus, timezone: str) -> html.Section:
    rows = []
    for district in status.air:
        name, advice = level_words(status.standard, district.level)
        rows.append(html.Li(className="kiosk-air-row", **{"data-level": str(district.level)}, children=[
            html.Div(className="kiosk-air-head", children=[
                html.Span(str(district.level), className=f"kiosk-swatch level-{district.level}",
                          style={"backgroundColor": district.colour}, **{"aria-hidden": "true"}),
                html.Span(district.district, className="kiosk-district"),
                html.Span(name, className="kiosk-level-name"),
            ]),
            html.P(advice, className="kiosk-advice"),
        ]))
    return _panel("air", _("Air quality now"), status.air_section, timezone, _("air quality"),
                  [html.Ul(rows, className="kiosk-air")])


def _traffic(status: KioskStatus, timezone: str) -> html.Section:
    share = round(100 * status.congested / status.road_segments) if status.road_segments else 0
    roads = [html.Li([html.Span(road.name, className="kiosk-road-name"),
                      html.Span(_("jammed") if road.level >= 3 else _("slow traffic"), className="kiosk-road-state")],
                     className=f"kiosk-road level-{road.level}") for road in status.worst_roads]
    body = [html.P([html.Span(f"{share} %", className="kiosk-big"), " ",
                    _("of roads are congested")], className="kiosk-traffic-share")]
    if roads:
        body += [html.P(_("Slowest roads:"), className="kiosk-sub"), html.Ul(roads, className="kiosk-roads")]
    else:
        body.append(html.P(_("Traffic is moving normally."), className="kiosk-sub"))
    return _panel("traffic", _("Traffic now"), status.traffic_section, timezone, _("traffic"), body)


def _rain_words(mm_h: float | None, level: int | None) -> str:
    if mm_h is None:
        return _("no rain gauge reading")
    if mm_h <= 0:
        return _("no rain")
    amount = _("{amount} mm per hour", amount=number(mm_h))
    return {0: _("light rain"), 1: _("moderate rain"), 2: _("heavy rain")}.get(level, _("very heavy rain")) \
        + f" ({amount})"


def _water(status: KioskStatus, timezone: str) -> html.Section:
    stations = []
    for station in status.water:
        state = (_("normal"), _("above the alert level"), _("above the danger level"))[min(station.level, 2)]
        limit = _("alert level {metres} m", metres=number(station.alert, 2, trim=False)) \
            if station.alert is not None else ""
        stations.append(html.Li(className=f"kiosk-water-row level-{station.level}", children=[
            html.Span(station.name, className="kiosk-water-name"),
            html.Span([html.Strong(_("{metres} m", metres=number(station.metres, 2, trim=False))), f" · {state}",
                       f" ({limit})" if limit else ""], className="kiosk-water-value"),
        ]))
    body = [html.P([_("Rain now:"), html.Strong(_rain_words(status.rain_mm_h, status.rain_level))],
                   className="kiosk-rain")]
    if stations:
        body += [html.P(_("Water levels:"), className="kiosk-sub"), html.Ul(stations, className="kiosk-water")]
    return _panel("water", _("Rain and water now"), status.water_section, timezone, _("rain and water"), body)


def kiosk_screen(status: KioskStatus, *, city_name: str, timezone: str, languages: tuple[str, ...]) -> html.Div:
    """The whole screen in the current language; ``data-built-at`` tells assets/kiosk.js data arrived."""
    language = current_locale()
    updated = _at(status.built_at, timezone)
    return html.Div(className="kiosk-screen", lang=html_lang(language),
                    **{"data-built-at": str(int(status.built_at.timestamp() * 1000)), "data-lang": language,
                       "data-languages": " ".join(languages)}, children=[
        html.Header(className="kiosk-top", children=[
            html.H1([html.Span(city_name, className="kiosk-city"), " ",
                     html.Span(_("City information"), className="kiosk-title")]),
            html.P(id="kiosk-clock", className="kiosk-clock", **{"data-timezone": timezone}, children=updated),
        ]),
        html.Div(className="kiosk-live", children=[
            _warnings(status, timezone),
            html.Div(className="kiosk-panels", children=[
                _air(status, timezone), _traffic(status, timezone), _water(status, timezone)]),
            html.P(_("Updated at {time}. This screen updates by itself.", time=updated), className="kiosk-fresh"),
        ]),
        html.Div(className="kiosk-stale-notice", role="status", children=[
            html.P(_("This screen has no current information."), className="kiosk-stale-title"),
            html.P(_("The last update was at {time}. It will update again by itself.", time=updated)),
        ]),
    ])
