"""The alarm strip under the header of every page: counts and the newest active alarms. Pure builder."""
from __future__ import annotations

from datetime import datetime

from dash import dcc, html

from components.drill import drill_badge
from services.i18n import _, ngettext
from services.vocabulary import SEVERITY_LABELS, alarm_value, duration, label_of


def severity_pill(severity: str, escalated: bool = False) -> html.Span:
    children = [label_of(SEVERITY_LABELS, severity)]
    if escalated:
        children.append(html.Span("▲", className="alarm-escalated-mark",
                                  title=_("escalated: not acknowledged in time")))
    return html.Span(children, className=f"alarm-pill severity-{severity}")


def alarm_strip(summary, now: datetime, descriptions: dict[int, str] | None = None) -> html.Div:
    """``summary``: services.alarms.StripSummary; ``descriptions``: the chips' alarms' in the reader's language
    (services.alarms.shown_descriptions). data-critical carries the newest unacknowledged critical alarm's id,
    which assets/alarms.js turns into a sound and a flash on wall screens."""
    critical = summary.critical_unacknowledged > 0
    tone = "critical" if critical else ("alarm" if summary.unacknowledged else ("active" if summary.active else "calm"))
    counts = html.Div(className="alarm-strip-counts", children=[
        html.Span(_("ALARMS"), className="alarm-strip-title"),
        html.Span([html.B(f"{summary.active}"), " ", _("active")], className="alarm-strip-count"),
        html.Span([html.B(f"{summary.unacknowledged}"), " ", _("unacknowledged")],
                  className="alarm-strip-count" + (" is-unack" if summary.unacknowledged else "")),
    ])
    if summary.newest:
        chips = [_chip(alarm, now, (descriptions or {}).get(alarm.id, alarm.description)) for alarm in summary.newest]
        more = summary.active - sum(1 for alarm in summary.newest if alarm.active)
        if more > 0:
            chips.append(dcc.Link(_("+{count} more", count=more), href="/alarms", className="alarm-strip-more"))
    else:
        waiting = summary.unacknowledged
        quiet = ngettext("No active alarms — {n} cleared alarm awaits acknowledgment",
                         "No active alarms — {n} cleared alarms await acknowledgment", waiting) if waiting \
            else _("No active alarms — all quiet")
        chips = [html.Span(quiet, className="alarm-strip-quiet")]
    return html.Div(
        className=f"alarm-strip tone-{tone}",
        **{"data-critical": str(summary.newest_critical_id or ""), "data-unack": str(summary.unacknowledged)},
        children=[
            counts,
            html.Div(chips, className="alarm-strip-chips"),
            html.Div(className="alarm-strip-tools", children=[
                html.Button(_("Sound on"), className="alarm-mute", title=_("mute or unmute this screen"),
                            **{"data-alarm-mute": "1"}),
                dcc.Link(_("All alarms →"), href="/alarms", className="alarm-strip-link"),
            ]),
        ],
    )


def _chip(alarm, now: datetime, description: str | None = None) -> dcc.Link:
    """Which device and what it measures tell two chips apart (the rule's name is in the tooltip)."""
    state = "unack" if not alarm.acknowledged else "ack"
    return dcc.Link(
        href=f"/alarms?alarm={alarm.id}",
        className=f"alarm-chip severity-{alarm.severity} is-{state}",
        title=f"{_(alarm.rule_name)}: {alarm.description if description is None else description}",
        children=[
            severity_pill(alarm.severity, alarm.escalated),
            drill_badge(getattr(alarm, "drill", None)),
            html.Span(alarm.device_name or alarm.device_id, className="alarm-chip-device"),
            html.Span(alarm_value(alarm.metric, alarm.value), className="alarm-chip-value"),
            html.Span(duration((now - alarm.last_raised_at).total_seconds()), className="alarm-chip-age"),
            html.Span(f"×{alarm.repeat_count + 1}", className="alarm-chip-repeat") if alarm.repeat_count else None,
        ],
    )
