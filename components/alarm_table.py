"""The alarms page's table and detail panel. Pure builders: AlarmView values in, components out."""
from __future__ import annotations

from datetime import datetime

from dash import dcc, html

from components.alarm_strip import severity_pill
from components.drill import drill_badge
from services.alarms import shown_description
from services.i18n import N_, _, recorded
from services.vocabulary import SEVERITY_LABELS, alarm_value, duration, label_of, site_time, words

KIND_LABELS = {"raised": N_("Raised"), "repeated": N_("Repeated"), "reactivated": N_("Re-activated"),
               "escalated": N_("Escalated"), "acknowledged": N_("Acknowledged"), "cleared": N_("Cleared"),
               "assigned": N_("Assigned"), "commented": N_("Comment"), "incident": N_("Incident")}


def state_badges(alarm) -> list:
    return [
        html.Span(_("Active") if alarm.active else _("Cleared"),
                  className="alarm-badge " + ("is-active" if alarm.active else "is-cleared")),
        html.Span(_("Acknowledged") if alarm.acknowledged else _("Unacknowledged"),
                  className="alarm-badge " + ("is-ack" if alarm.acknowledged else "is-unack")),
    ]


def _button(label: str, action: str, alarm_id: int, kind: str = "") -> html.Button:
    return html.Button(label, id={"type": "alarms-action", "action": action, "index": alarm_id},
                       className=f"alarm-action {kind}".strip(), n_clicks=0)


def alarm_table(alarms, timezone: str, now: datetime, selected: int | None = None, may_act: bool = True,
                descriptions: dict[int, str] | None = None):
    """``may_act``: the viewer's role may acknowledge and clear (others see Details only); ``descriptions``:
    each alarm's in the reader's language (services.alarms.shown_descriptions), else as stored."""
    descriptions = descriptions or {}
    if not alarms:
        return html.P(_("No alarms match these filters."), className="empty")
    rows = []
    for alarm in alarms:
        actions = []
        if may_act and not alarm.acknowledged:
            actions.append(_button(_("Acknowledge"), "ack", alarm.id, "is-primary"))
        if may_act and alarm.active:
            actions.append(_button(_("Clear"), "clear", alarm.id))
        actions.append(_button(_("Details"), "select", alarm.id, "is-quiet"))
        classes = [f"severity-{alarm.severity}", "is-active" if alarm.active else "is-cleared",
                   "is-unack" if not alarm.acknowledged else "is-ack"]
        if alarm.id == selected:
            classes.append("is-selected")
        rows.append(html.Tr(className=" ".join(classes), children=[
            html.Td(severity_pill(alarm.severity, alarm.escalated)),
            html.Td(state_badges(alarm)),
            html.Td([html.Div([_(alarm.rule_name), drill_badge(getattr(alarm, "drill", None))], className="alarm-rule"),
                     html.Div([alarm.device_name or alarm.device_id, html.Span(f" · {alarm.device_id}",
                                                                               className="alarm-muted")],
                              className="alarm-device"),
                     html.Div([html.Span(_("Assigned: {person}", person=alarm.assignee), className="alarm-tag")
                               if alarm.assignee else None,
                               html.Span(_("Incident #{id}", id=alarm.incident_id), className="alarm-tag is-incident")
                               if alarm.incident_id else None]) if alarm.assignee or alarm.incident_id else None],
                    title=descriptions.get(alarm.id, alarm.description)),
            html.Td(alarm.district or "—", className="alarm-district"),
            html.Td(alarm_value(alarm.metric, alarm.value, alarm.threshold), className="alarm-number"),
            html.Td([html.Div(site_time(alarm.raised_at, timezone)),
                     html.Div(_("{duration} ago", duration=duration((now - alarm.last_raised_at).total_seconds())),
                              className="alarm-muted")],
                    title=site_time(alarm.raised_at, timezone), className="alarm-number"),
            html.Td(str(alarm.repeat_count + 1), className="alarm-number"),
            html.Td(html.Div(actions, className="alarm-actions")),
        ]))
    header = [_("Severity"), _("State"), _("Alarm and device"), _("District"), _("Value (limit)"), _("Raised"),
              _("Count"), ""]
    return html.Table(className="data-table alarm-table", children=[
        html.Thead(html.Tr([html.Th(h) for h in header])),
        html.Tbody(rows),
    ])


def alarm_detail(alarm, history, timezone: str, offers_incident: bool, ids: dict, may_act: bool = True) -> html.Div:
    facts = [
        (_("Rule"), f"{_(alarm.rule_name)} ({alarm.rule_id})"),
        (_("Device"), f"{alarm.device_name or ''} ({alarm.device_id})"), (_("District"), alarm.district or "—"),
        (_("Value"), alarm_value(alarm.metric, alarm.value, alarm.threshold)),
        (_("Category"), f"{words(alarm.category)} · {words(alarm.sub_category)}"),
        (_("Severity"), label_of(SEVERITY_LABELS, alarm.severity)
         + (_(" (raised as {severity}, escalated ×{level})", severity=label_of(SEVERITY_LABELS, alarm.base_severity)
              .lower(), level=alarm.escalation_level) if alarm.escalated else "")),
        (_("Condition since"), site_time(alarm.started_at, timezone)),
        (_("Raised"), site_time(alarm.raised_at, timezone)),
        (_("Acknowledged"), _("{person} at {time}", person=alarm.acknowledged_by,
                              time=site_time(alarm.acknowledged_at, timezone)) if alarm.acknowledged else "—"),
        (_("Cleared"), _("{person} at {time}", person=alarm.cleared_by, time=site_time(alarm.cleared_at, timezone))
         if alarm.cleared_at else "—"),
        (_("Incident"), f"#{alarm.incident_id}" if alarm.incident_id else "—"),
    ]
    incident_button = None
    if may_act and offers_incident and not alarm.incident_id:
        incident_button = html.Button(_("Open incident"), id=ids["incident"], className="alarm-action is-primary",
                                      n_clicks=0)
    return html.Div(className="alarm-detail", children=[
        html.Div(className="alarm-detail-head", children=[
            severity_pill(alarm.severity, alarm.escalated), html.H2(f"#{alarm.id} {_(alarm.rule_name)}"),
            *state_badges(alarm),
        ]),
        html.P(shown_description(alarm, history), className="alarm-detail-description"),
        html.Dl([item for label, value in facts for item in (html.Dt(label), html.Dd(value))],
                className="alarm-facts"),
        html.Div(className="alarm-detail-forms", children=None if not may_act else [
            html.Div([dcc.Input(id=ids["assignee"], value=alarm.assignee or "", placeholder=_("assignee"),
                                debounce=False, className="alarm-input"),
                      html.Button(_("Assign"), id=ids["assign"], className="alarm-action", n_clicks=0)],
                     className="alarm-form-row"),
            html.Div([dcc.Textarea(id=ids["comment"], placeholder=_("add a comment"), className="alarm-textarea"),
                      html.Button(_("Comment"), id=ids["comment_button"], className="alarm-action", n_clicks=0)],
                     className="alarm-form-row"),
            incident_button,
        ]),
        html.H3(_("History")),
        html.Ol(className="alarm-history", children=[
            html.Li([html.Span(site_time(event.at, timezone), className="alarm-history-time"),
                     html.Span(label_of(KIND_LABELS, event.kind), className=f"alarm-history-kind kind-{event.kind}"),
                     html.Span(event.actor, className="alarm-history-actor"),
                     html.Span(recorded(event.text, event.data), className="alarm-history-text")])
            for event in reversed(history)
        ]),
    ])
