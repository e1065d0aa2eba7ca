"""Rules (administrator): the alarm rules in force, and the rules file to edit — validated before
saving, the change audited; the ingest reloads the file within seconds."""
from __future__ import annotations

import dash
from dash import Input, Output, State, callback, dcc, html, no_update

from components.alarm_strip import severity_pill
from services.aqi import STANDARDS
from services.i18n import N_, _, ngettext
from services.runtime import current
from services.vocabulary import DEVICE_TYPE_LABELS, duration, incident_kind, label_of, words
from web.ui import acting, attempt, may

dash.register_page(__name__, path="/rules", name=N_("Rules"), order=95,
                   title=lambda **_path: _("CityOps — alarm rules"))

RULES_TABLE = "rules-table"
RULES_EDITOR = "rules-editor"
RULES_VALIDATE = "rules-validate"
RULES_SAVE = "rules-save"
RULES_MESSAGE = "rules-message"
RULES_SAVED = "rules-saved"


def _settings():
    return current().settings


def _read_text() -> str:
    path = _settings().rules_file
    return path.read_text(encoding="utf-8") if path.exists() else "rules: []\n"


def layout(**_query):
    return html.Div(className="page page-rules", children=[
        html.H1(_("Alarm rules")),
        html.P([_("The rules file:"), " ", html.Code(str(_settings().rules_file)), " ",
                _("Thresholds may name the device's own registry values (device.alert_level); durations count "
                  "observation time.")], className="rules-intro"),
        dcc.Store(id=RULES_SAVED, data=0),
        html.Div(id=RULES_TABLE),
        *(_editor() if may("rules.save") else [html.P(_("Only an administrator may change the rules."),
                                                        className="alarm-muted")]),
    ])


def _editor() -> list:
    return [
        html.H2(_("Edit")),
        dcc.Textarea(id=RULES_EDITOR, value=_read_text(), className="rules-editor", spellCheck=False),
        html.Div(className="rules-buttons", children=[
            html.Button(_("Validate"), id=RULES_VALIDATE, className="alarm-action", n_clicks=0),
            html.Button(_("Save"), id=RULES_SAVE, className="alarm-action is-primary", n_clicks=0),
        ]),
        html.Div(id=RULES_MESSAGE, className="rules-message"),
    ]


@callback(Output(RULES_TABLE, "children"), Input(RULES_SAVED, "data"))
def show_rules(_saved):
    from services.commands import Refused
    from services.rules import parse_rules

    settings = _settings()
    try:
        ruleset = parse_rules(_read_text(), settings.aqi_standard)
    except Refused as error:
        return html.Div([html.P(_("The rules file in force has problems:"), className="alarms-message-error"),
                         html.Ul([html.Li(p) for p in error.details])])
    rows = []
    for rule in ruleset.rules:
        incident = {"none": "—", "offer": _("offered"), "auto": _("opened automatically")}[rule.incident]
        if rule.incident != "none":
            incident += (f" ({_('P{priority}', priority=rule.incident_priority)} "
                         f"{incident_kind(rule.incident_category, rule.incident_sub_category)})")
        rows.append(html.Tr(className="" if rule.enabled else "is-disabled", children=[
            html.Td(severity_pill(rule.severity)),
            html.Td([html.Div(_(rule.name), className="alarm-rule"), html.Div(rule.id, className="alarm-muted")]),
            html.Td(", ".join(label_of(DEVICE_TYPE_LABELS, kind) for kind in rule.entity_types)),
            html.Td(rule.explain()),
            html.Td(rule.scope.describe()),
            html.Td("—" if not rule.escalate_after_s else duration(rule.escalate_after_s)),
            html.Td(incident),
            html.Td(f"{words(rule.category)} / {words(rule.sub_category)}"),
        ]))
    return html.Div([
        html.P(ngettext("{n} rule; AQI standard {standard}.", "{n} rules; AQI standard {standard}.",
                        len(ruleset.rules), standard=_(STANDARDS.get(ruleset.aqi_standard, ruleset.aqi_standard))),
               className="alarm-muted"),
        html.Table(className="data-table rules-table", children=[
            html.Thead(html.Tr([html.Th(h) for h in (_("Severity"), _("Rule"), _("Applies to"), _("Condition"),
                                                     _("Scope"), _("Escalates after"), _("Incident"),
                                                     _("Alert category"))])),
            html.Tbody(rows),
        ]),
    ])


@callback(Output(RULES_MESSAGE, "children"), Output(RULES_SAVED, "data"),
          Input(RULES_VALIDATE, "n_clicks"), Input(RULES_SAVE, "n_clicks"), State(RULES_EDITOR, "value"),
          State(RULES_SAVED, "data"), prevent_initial_call=True)
def validate_or_save(_validate, _save, text, saved):
    from services.rules import SaveRules

    settings = _settings()
    command = SaveRules(current().engine, acting(), settings.rules_file, text or "", settings.aqi_standard)
    checked = attempt(command.validate)
    if not checked.ok:
        problems = checked.refused.details or (checked.refused.message,)
        return html.Div([html.P(_("Not saved: {reason}", reason=checked.message.splitlines()[0]),
                                className="alarms-message-error"),
                         html.Ul([html.Li(p) for p in problems])]), no_update
    if dash.ctx.triggered_id != RULES_SAVE:
        return html.P(ngettext("Valid: {n} rule.", "Valid: {n} rules.", len(command.ruleset.rules)),
                      className="alarms-message-ok"), no_update
    command.run()
    return html.P(ngettext("Saved {n} rule; the ingest applies it within seconds.",
                           "Saved {n} rules; the ingest applies them within seconds.", len(command.ruleset.rules)),
                  className="alarms-message-ok"), (saved or 0) + 1
