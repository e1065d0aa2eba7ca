"""Alarms: the filtered list with history and actions, and the alarm strip shown on every page.

The strip fills the shell's ``shell-alarm-strip`` slot (a 2 s poll); assets/alarms.js plays a
sound and flashes the screen for a new critical alarm on wall screens (muted per screen).
Actions call the same commands as the REST API (services/alarms.py).
"""
from __future__ import annotations

import time
from datetime import timedelta

import dash
from dash import ALL, Input, Output, State, callback, ctx, dcc, html, no_update

from components.alarm_strip import alarm_strip
from components.alarm_table import alarm_detail, alarm_table
from components.shell import SHELL_ALARM_STRIP
from components.tables import figure_card
from services.alarms import (
    SEVERITIES,
    AcknowledgeAlarm,
    AlarmFilter,
    AssignAlarm,
    ClearAlarm,
    CommentAlarm,
    alarm_districts,
    alarm_history,
    get_alarm,
    list_alarms,
    shown_descriptions,
    OpenIncidentFromAlarm,
    strip_summary,
)
from services.i18n import N_, _, current_locale
from services.models import utcnow
from services.runtime import current
from services.vocabulary import SEVERITY_LABELS, label_of
from web.gate import is_public_screen
from web.ui import acting, attempt, may

dash.register_page(__name__, path="/alarms", name=N_("Alarms"), order=20, title=lambda **_path: _("CityOps — alarms"))

ALARMS_TICK = "alarms-tick"
ALARMS_FIGURES = "alarms-figures"
ALARMS_STATE = "alarms-filter-state"
ALARMS_SEVERITY = "alarms-filter-severity"
ALARMS_RULE = "alarms-filter-rule"
ALARMS_DEVICE = "alarms-filter-device"
ALARMS_DISTRICT = "alarms-filter-district"
ALARMS_PERIOD = "alarms-filter-period"
ALARMS_TABLE = "alarms-table"
ALARMS_DETAIL = "alarms-detail"
ALARMS_SELECTED = "alarms-selected"
ALARMS_CHANGED = "alarms-changed"
ALARMS_MESSAGE = "alarms-message"
DETAIL_IDS = {"assignee": "alarms-assignee", "assign": "alarms-assign", "comment": "alarms-comment",
              "comment_button": "alarms-comment-button", "incident": "alarms-open-incident"}
STRIP_TICK = "alarm-strip-tick"
STRIP_BODY = "alarm-strip-body"

STATE_OPTIONS = [("open", N_("Open (active or unacknowledged)")), ("active", N_("Active")),
                 ("unacknowledged", N_("Unacknowledged")), ("acknowledged", N_("Acknowledged")),
                 ("cleared", N_("Cleared")), ("escalated", N_("Escalated")), ("all", N_("All (history)"))]
PERIOD_OPTIONS = [("1h", N_("last hour")), ("6h", N_("last 6 hours")), ("24h", N_("last 24 hours")),
                  ("7d", N_("last 7 days")), ("all", N_("any time"))]
PERIODS = {"1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24), "7d": timedelta(days=7)}


def _rules():
    from services.rules import RulesFile

    settings = current().settings
    return RulesFile(settings.rules_file, settings.aqi_standard).current()


# ---------------------------------------------------------------- the strip on every page

@callback(Output(SHELL_ALARM_STRIP, "children"), Input(SHELL_ALARM_STRIP, "id"))
def mount_strip(_id):
    """Once per page load: the strip's own 2 s timer and its first content."""
    if is_public_screen():
        return []  # a public kiosk shows public warnings (pages/kiosk.py), never the operators' alarms
    return [dcc.Interval(id=STRIP_TICK, interval=2000), html.Div(_strip(), id=STRIP_BODY)]


STRIP_REUSE_S = 1.0  # every screen's strip polls every 2 s; one query per second serves them all (per language)
_strip_of_second: dict[str, tuple] = {}  # language -> (engine, monotonic time built, the strip)


@callback(Output(STRIP_BODY, "children"), Input(STRIP_TICK, "n_intervals"), prevent_initial_call=True)
def refresh_strip(_n):
    engine, language = current().engine, current_locale()
    built_for, built_at, strip = _strip_of_second.get(language, (None, 0.0, None))
    if built_for is not engine or time.monotonic() - built_at >= STRIP_REUSE_S:
        strip = _strip()
        _strip_of_second[language] = (engine, time.monotonic(), strip)  # one step: readers see the old or the new
    return strip


def _strip():
    try:
        engine = current().engine
        summary = strip_summary(engine, limit=3)
        return alarm_strip(summary, utcnow(), shown_descriptions(engine, summary.newest))
    except Exception:  # the database is away: say so, never break the page
        return html.Div(_("Alarms unavailable — retrying"), className="alarm-strip tone-stale")


# ---------------------------------------------------------------- the page

def layout(alarm: str | None = None, **_query):
    selected = int(alarm) if alarm and alarm.isdigit() else None
    rules = _rules()
    return html.Div(className="page page-alarms", children=[
        dcc.Interval(id=ALARMS_TICK, interval=3000),
        dcc.Store(id=ALARMS_SELECTED, data=selected),
        dcc.Store(id=ALARMS_CHANGED, data=0),
        html.Div(className="alarms-title", children=[
            html.H1(_("Alarms")),
            dcc.Link(_("Rules →"), href="/rules", className="alarms-rules-link"),
        ]),
        html.Div(id=ALARMS_FIGURES, className="figure-strip"),
        html.Div(className="filters alarms-filters", children=[
            _filter(_("State"), dcc.Dropdown(id=ALARMS_STATE, value="open" if selected is None else "all",
                                             clearable=False, options=_options(STATE_OPTIONS),
                                          style={"minWidth": "15rem"})),
            _filter(_("Severity"), dcc.Dropdown(id=ALARMS_SEVERITY, multi=True, placeholder=_("any"),
                                                options=[{"label": label_of(SEVERITY_LABELS, s), "value": s}
                                                         for s in reversed(SEVERITIES)],
                                             style={"minWidth": "12rem"})),
            _filter(_("Rule"), dcc.Dropdown(id=ALARMS_RULE, placeholder=_("any rule"),
                                         options=[{"label": _(r.name), "value": r.id} for r in rules.rules],
                                         style={"minWidth": "14rem"})),
            _filter(_("Device"), dcc.Input(id=ALARMS_DEVICE, placeholder=_("id or name"), debounce=True,
                                        className="alarm-input")),
            _filter(_("District"), dcc.Dropdown(id=ALARMS_DISTRICT, placeholder=_("any district"),
                                             style={"minWidth": "14rem"})),
            _filter(_("Time"), dcc.Dropdown(id=ALARMS_PERIOD, value="all", clearable=False,
                                            options=_options(PERIOD_OPTIONS),
                                         style={"minWidth": "9rem"})),
        ]),
        html.Div(id=ALARMS_MESSAGE, className="alarms-message"),
        html.Div(className="alarms-body", children=[
            html.Div(id=ALARMS_TABLE, className="alarms-list"),
            html.Aside(id=ALARMS_DETAIL, className="alarms-detail-panel"),
        ]),
    ])


def _options(choices: list[tuple[str, str]]) -> list[dict]:
    return [{"label": _(label), "value": value} for value, label in choices]


def _filter(label: str, control) -> html.Label:
    return html.Label([html.Span(label, className="filter-label"), control])


@callback(Output(ALARMS_TABLE, "children"), Output(ALARMS_FIGURES, "children"), Output(ALARMS_DISTRICT, "options"),
          Input(ALARMS_TICK, "n_intervals"), Input(ALARMS_STATE, "value"), Input(ALARMS_SEVERITY, "value"),
          Input(ALARMS_RULE, "value"), Input(ALARMS_DEVICE, "value"), Input(ALARMS_DISTRICT, "value"),
          Input(ALARMS_PERIOD, "value"), Input(ALARMS_CHANGED, "data"), Input(ALARMS_SELECTED, "data"))
def refresh_alarms(_n, state, severities, rule_id, device, district, period, _changed, selected):
    runtime = current()
    now = utcnow()
    filters = AlarmFilter(state=state or "open", severities=tuple(severities or ()), rule_id=rule_id or None,
                          device=(device or "").strip() or None, district=district or None,
                          since=now - PERIODS[period] if period in PERIODS else None, limit=300)
    alarms = list_alarms(runtime.engine, filters)
    summary = strip_summary(runtime.engine)
    escalated = len(list_alarms(runtime.engine, AlarmFilter(state="escalated", limit=1000)))
    figures = [
        figure_card(_("Active"), summary.active, tone="bad" if summary.active else "good"),
        figure_card(_("Unacknowledged"), summary.unacknowledged, tone="bad" if summary.unacknowledged else "good",
                    note=_("need an operator")),
        figure_card(_("Critical, unacknowledged"), summary.critical_unacknowledged,
                    tone="bad" if summary.critical_unacknowledged else "good"),
        figure_card(_("Escalated"), escalated, tone="warn" if escalated else "good",
                    note=_("not acknowledged in time")),
    ]
    districts = [{"label": d, "value": d} for d in alarm_districts(runtime.engine)]
    table = alarm_table(alarms, runtime.timezone, now, selected, may("alarm.acknowledge"),
                        shown_descriptions(runtime.engine, alarms))
    return table, figures, districts


@callback(Output(ALARMS_MESSAGE, "children"), Output(ALARMS_CHANGED, "data"), Output(ALARMS_SELECTED, "data"),
          Input({"type": "alarms-action", "action": ALL, "index": ALL}, "n_clicks"),
          State(ALARMS_CHANGED, "data"), prevent_initial_call=True)
def row_action(clicks, changed):
    trigger = ctx.triggered_id
    if not trigger or not any(item["value"] for item in ctx.triggered):
        return no_update, no_update, no_update  # buttons re-rendered, not clicked
    alarm_id, action = trigger["index"], trigger["action"]
    if action == "select":
        return "", no_update, alarm_id
    engine = current().engine
    command = AcknowledgeAlarm(engine, acting(), alarm_id) if action == "ack" else ClearAlarm(engine, acting(), alarm_id)
    done = _("Alarm #{id} acknowledged.", id=alarm_id) if action == "ack" else _("Alarm #{id} cleared.", id=alarm_id)
    return _run(command, done, changed) + (alarm_id,)


def _run(command, done: str, changed) -> tuple:
    outcome = attempt(command)
    if not outcome.ok:
        return html.Span(outcome.message, className="alarms-message-error"), (changed or 0) + 1
    return html.Span(done, className="alarms-message-ok"), (changed or 0) + 1


@callback(Output(ALARMS_DETAIL, "children"), Input(ALARMS_SELECTED, "data"), Input(ALARMS_CHANGED, "data"))
def show_detail(selected, _changed):
    """Refreshed on selection and after actions only: its inputs may be being typed into."""
    if not selected:
        return html.Div(className="alarm-detail-empty", children=[
            html.P(_("Select an alarm (Details) to see its history, assign it, comment or open an incident."))])
    runtime = current()
    alarm = get_alarm(runtime.engine, selected)
    if alarm is None:
        return html.P(_("No alarm #{id}.", id=selected), className="empty")
    rule = _rules().by_id.get(alarm.rule_id)
    offers = bool(rule and rule.incident_request())
    return alarm_detail(alarm, alarm_history(runtime.engine, alarm.id), runtime.timezone, offers, DETAIL_IDS,
                        may("alarm.assign"))


@callback(Output(ALARMS_MESSAGE, "children", allow_duplicate=True), Output(ALARMS_CHANGED, "data", allow_duplicate=True),
          Input(DETAIL_IDS["assign"], "n_clicks"), State(DETAIL_IDS["assignee"], "value"),
          State(ALARMS_SELECTED, "data"), State(ALARMS_CHANGED, "data"), prevent_initial_call=True)
def assign(clicks, assignee, selected, changed):
    if not clicks or not selected:
        return no_update, no_update
    who = (assignee or "").strip()
    done = _("Alarm #{id} assigned to {person}.", id=selected, person=who) if who \
        else _("Alarm #{id} assigned to nobody.", id=selected)
    return _run(AssignAlarm(current().engine, acting(), selected, who), done, changed)


@callback(Output(ALARMS_MESSAGE, "children", allow_duplicate=True), Output(ALARMS_CHANGED, "data", allow_duplicate=True),
          Input(DETAIL_IDS["comment_button"], "n_clicks"), State(DETAIL_IDS["comment"], "value"),
          State(ALARMS_SELECTED, "data"), State(ALARMS_CHANGED, "data"), prevent_initial_call=True)
def comment(clicks, text, selected, changed):
    if not clicks or not selected:
        return no_update, no_update
    return _run(CommentAlarm(current().engine, acting(), selected, text), _("Comment added to alarm #{id}.", id=selected),
                changed)


@callback(Output(ALARMS_MESSAGE, "children", allow_duplicate=True), Output(ALARMS_CHANGED, "data", allow_duplicate=True),
          Input(DETAIL_IDS["incident"], "n_clicks"), State(ALARMS_SELECTED, "data"), State(ALARMS_CHANGED, "data"),
          prevent_initial_call=True)
def open_incident(clicks, selected, changed):
    if not clicks or not selected:
        return no_update, no_update
    outcome = attempt(OpenIncidentFromAlarm(current(), acting(), selected))
    if not outcome.ok:
        return html.Span(outcome.message, className="alarms-message-error"), no_update
    return html.Span(_("Incident #{incident} opened for alarm #{alarm}.", incident=outcome.value, alarm=selected),
                     className="alarms-message-ok"), \
        (changed or 0) + 1
