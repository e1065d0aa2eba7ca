"""The public kiosk: what a citizen needs to know now, readable from three metres, with no controls.

Opened through a display link (services/access/displays.py; web/gate.py never shows it a sign-in
page). The link's options: ``?lang=en|zh|alternate`` (alternate: Chinese then English, each for
``lang_every`` seconds, default 20), ``?rotate=15`` shows one panel at a time for 15 s (warnings
stay on screen), ``?aqi=cn|us`` the AQI standard (default: the city's). Data comes every 5 s;
assets/kiosk.js hides the numbers and says so when they stop coming, and rotates the panels.
"""
from __future__ import annotations

import logging

import dash
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html, no_update

from components.kiosk import kiosk_screen
from pages.map import site_standard
from services.access.displays import screen_options
from services.aqi import STANDARDS
from services.i18n import LOCALES, N_, _, current_locale, use_locale
from services.kiosk import KioskStatus, kiosk_status
from services.rules import RulesFile
from services.runtime import current

dash.register_page(__name__, path="/kiosk", name=N_("Kiosk"), order=95, nav=False,
                   title=lambda **_query: _("CityOps — city information"))

log = logging.getLogger("cityops.kiosk")

KIOSK = "kiosk"
KIOSK_CONTENT = "kiosk-content"
KIOSK_TICK = "kiosk-tick"  # a "-tick" interval: paused while its request is in flight (assets/pacing.js)
KIOSK_LANGUAGE = "kiosk-language"
KIOSK_LANGUAGE_CLOCK = "kiosk-language-clock"
KIOSK_OPTIONS = "kiosk-options"
REFRESH_MS = 5000
ALTERNATE = ("zh", "en")  # lang=alternate: Chinese first
DEFAULT_LANG_EVERY_S = 20
MIN_LANG_EVERY_S = 5


def kiosk_languages(lang: str | None) -> tuple[str, ...]:
    """The languages of a kiosk's link: one, or both in turn; else the request's language."""
    lang = (lang or "").strip().lower()
    if lang == "alternate":
        return ALTERNATE
    return (lang,) if lang in LOCALES else (current_locale(),)


def language_seconds(raw: str | None) -> int:
    raw = (raw or "").strip()
    return max(int(raw), MIN_LANG_EVERY_S) if raw.isdigit() and int(raw) else DEFAULT_LANG_EVERY_S


def layout(lang: str | None = None, lang_every: str | None = None, **query):
    languages = kiosk_languages(lang)
    with use_locale(languages[0]):  # a Chinese kiosk reads China's HJ 633 unless the city or its link says
        options = screen_options(query, site_standard())
    return html.Div(id=KIOSK, className="kiosk", **{"data-rotate": str(options.rotate_s)}, children=[
        dcc.Interval(id=KIOSK_TICK, interval=REFRESH_MS),
        dcc.Interval(id=KIOSK_LANGUAGE_CLOCK, interval=language_seconds(lang_every) * 1000,
                     disabled=len(languages) < 2),
        dcc.Store(id=KIOSK_LANGUAGE, data=languages[0]),
        dcc.Store(id=KIOSK_OPTIONS, data={"standard": options.standard, "languages": list(languages)}),
        html.Div(id=KIOSK_CONTENT, children=_screen(options.standard, languages[0], languages)),
    ])


_rules_files: dict[tuple, RulesFile] = {}  # one per rules file: re-read only when the file changes


def _rules():
    settings = current().settings
    key = (settings.rules_file, settings.aqi_standard)
    if key not in _rules_files:
        _rules_files[key] = RulesFile(*key)
    return _rules_files[key].current()


_status_of_tick: dict[str, tuple] = {}  # per AQI standard: (snapshot epoch and version, the status)


def _status(standard: str) -> KioskStatus:
    """Built once per snapshot tick and standard for every kiosk (a dict item is replaced in one step)."""
    runtime = current()
    snapshot = runtime.snapshots().current()
    tick = (id(runtime.engine), snapshot.epoch, snapshot.version)
    built_for, status = _status_of_tick.get(standard, (None, None))
    if built_for != tick:
        status = kiosk_status(snapshot, runtime.engine, _rules(), standard, runtime.city.name)
        _status_of_tick[standard] = (tick, status)
    return status


def _screen(standard: str, language: str, languages: tuple[str, ...]):
    runtime = current()
    with use_locale(language):
        return kiosk_screen(_status(standard), city_name=runtime.city.name, timezone=runtime.timezone,
                            languages=languages)


@callback(Output(KIOSK_CONTENT, "children"), Input(KIOSK_TICK, "n_intervals"), Input(KIOSK_LANGUAGE, "data"),
          State(KIOSK_OPTIONS, "data"), prevent_initial_call=True)
def refresh_kiosk(_n, language, options):
    options = options or {}
    standard = options.get("standard") if options.get("standard") in STANDARDS else site_standard()
    languages = tuple(code for code in options.get("languages") or () if code in LOCALES) or (current_locale(),)
    try:
        return _screen(standard, language if language in languages else languages[0], languages)
    except Exception:  # the database is away: the screen keeps its last data and goes stale by itself
        log.warning("the kiosk's data could not be read", exc_info=True)
        return no_update


clientside_callback(ClientsideFunction("kiosk", "nextLanguage"), Output(KIOSK_LANGUAGE, "data"),
                    Input(KIOSK_LANGUAGE_CLOCK, "n_intervals"), State(KIOSK_LANGUAGE, "data"),
                    State(KIOSK_OPTIONS, "data"), prevent_initial_call=True)
