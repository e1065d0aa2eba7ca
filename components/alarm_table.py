"""The alarms page's table and detail panel. Pure builders: AlarmView values in, components out."""
from __future__ import annotations

from datetime import datetime

from dash import dcc, html

from components.alarm_strip import severity_pill
from components.drill import drill_badge
from services.vocabulary import SEVERITY_LABELS, alarm_value, duration, site_time, words

KIND_LABELS = {"raised": "Raised", "repeated": "Repeated", "reactivated": "Re-activated", "escalated": "Escalated",
               "acknowledged": "Acknowledged", "cleared": "Cleared", "assigned": "Assigned",
               "commented": "Comment", "incident": "Incident"}


def state_badges(alarm) -> list:
    return [
        html.Span("Active" if alarm.active else "Cleared",
                  className="alarm-badge " + ("is-active" if alarm.active else "is-cleared")),
        html.Span("Acknowledged" if alarm.acknowledged else "Unacknowledged",
                  className="alarm-badge " + ("is-ack" if alarm.acknowledged else "is-unack")),
    ]


def _button(label: str, action: str, alarm_id: int, kind: str = "") -> html.Button:
    return html.Button(label, id={"type": "alarms-action", "action": action, "index": alarm_id},
                       className=f"alarm-action {kind}".strip(), n_clicks=0)


def alarm_table(alarms, timezone: str, now: datetime, selected: int | None = None, may_act: bool = True):
    """``may_act``: the viewer's role may acknowledge and clear (others see Details only)."""
    if not alarms:
        return html.P("No alarms match these filters.", className="empty")
    rows = []
    for alarm in alarms:
        actions = []
        if may_act and not alarm.acknowledged:
            actions.append(_button("Acknowledge", "ack", alarm.id, "is-primary"))
        if may_act and alarm.active:
            actions.append(_button("Clear", "clear", alarm.id))
        actions.append(_button("Details", "select", alarm.id, "is-quiet"))
        classes = [f"severity-{alarm.severity}", "is-active" if alarm.active else "is-cleared",
                   "is-unack" if not alarm.acknowledged else "is-ack"]
        if alarm.id == selected:
            classes.append("is-selected")
        rows.append(html.Tr(className=" ".join(classes), children=[
            html.Td(severity_pill(alarm.severity, alarm.escalated)),
            html.Td(state_badges(alarm)),
            html.Td([html.Div([alarm.rule_name, drill_badge(getattr(alarm, "drill", None))], className="alarm-rule"),
                     html.Div([alarm.device_name or alarm.device_id, html.Span(f" · {alarm.device_id}",
                                                                               className="alarm-muted")],
                              className="alarm-device"),
                     html.Div([html.Span(f"Assigned: {alarm.assignee}", className="alarm-tag") if alarm.assignee else None,
                               html.Span(f"Incident #{alarm.incident_id}", className="alarm-tag is-incident")
                               if alarm.incident_id else None]) if alarm.assignee or alarm.incident_id else None],
                    title=alarm.description),
            html.Td(alarm.district or "—", className="alarm-district"),
            html.Td(alarm_value(alarm.metric, alarm.value, alarm.threshold), className="alarm-number"),
            html.Td([html.Div(site_time(alarm.raised_at, timezone)),
                     html.Div(duration((now - alarm.last_raised_at).total_seconds()) + " ago",
                              className="alarm-muted")],
                    title=site_time(alarm.raised_at, timezone), className="alarm-number"),
            html.Td(str(alarm.repeat_count + 1), className="alarm-number"),
            html.Td(html.Div(actions, className="alarm-actions")),
        ]))
    header = ["Severity", "State", "Alarm and device", "District", "Value (limit)", "Raised", "Count", ""]
    return html.Table(className="data-table alarm-table", children=[
        html.Thead(html.Tr([html.Th(h) for h in header])),
        html.Tbody(rows),
    ])


def alarm_detail(alarm, history, timezone: str, offers_incident: bool, ids: dict, may_act: bool = True) -> html.Div:
    facts = [
        ("Rule", f"{alarm.rule_name} ({alarm.rule_id})"),
        ("Device", f"{alarm.device_name or ''} ({alarm.device_id})"), ("District", alarm.district or "—"),
        ("Value", alarm_value(alarm.metric, alarm.value, alarm.threshold)),
        ("Category", f"{words(alarm.category)} · {words(alarm.sub_category)}"),
        ("Severity", SEVERITY_LABELS.get(alarm.severity, alarm.severity)
         + (f" (raised as {SEVERITY_LABELS.get(alarm.base_severity, alarm.base_severity).lower()}, "
            f"escalated ×{alarm.escalation_level})" if alarm.escalated else "")),
        ("Condition since", site_time(alarm.started_at, timezone)),
        ("Raised", site_time(alarm.raised_at, timezone)),
        ("Acknowledged", f"{alarm.acknowledged_by} at {site_time(alarm.acknowledged_at, timezone)}"
         if alarm.acknowledged else "—"),
        ("Cleared", f"{alarm.cleared_by} at {site_time(alarm.cleared_at, timezone)}"
         if alarm.cleared_at else "—"),
        ("Incident", f"#{alarm.incident_id}" if alarm.incident_id else "—"),
    ]
    incident_button = None
    if may_act and offers_incident and not alarm.incident_id:
        incident_button = html.Button("Open incident", id=ids["incident"], className="alarm-action is-primary",
                                      n_clicks=0)
    return html.Div(className="alarm-detail", children=[
        html.Div(className="alarm-detail-head", children=[
            severity_pill(alarm.severity, alarm.escalated), html.H2(f"#{alarm.id} {alarm.rule_name}"),
            *state_badges(alarm),
        ]),
        html.P(alarm.description, className="alarm-detail-description"),
        html.Dl([item for label, value in facts for item in (html.Dt(label), html.Dd(value))],
                className="alarm-facts"),
        html.Div(className="alarm-detail-forms", children=None if not may_act else [
            html.Div([dcc.Input(id=ids["assignee"], value=alarm.assignee or "", placeholder="assignee",
                                debounce=False, className="alarm-input"),
                      html.Button("Assign", id=ids["assign"], className="alarm-action", n_clicks=0)],
                     className="alarm-form-row"),
            html.Div([dcc.Textarea(id=ids["comment"], placeholder="add a comment", className="alarm-textarea"),
                      html.Button("Comment", id=ids["comment_button"], className="alarm-action", n_clicks=0)],
                     className="alarm-form-row"),
            incident_button,
        ]),
        html.H3("History"),
        html.Ol(className="alarm-history", children=[
            html.Li([html.Span(site_time(event.at, timezone), className="alarm-history-time"),
                     html.Span(KIND_LABELS.get(event.kind, event.kind), className=f"alarm-history-kind kind-{event.kind}"),
                     html.Span(event.actor, className="alarm-history-actor"),
                     html.Span(event.text or "", className="alarm-history-text")])
            for event in reversed(history)
        ]),
    ])
