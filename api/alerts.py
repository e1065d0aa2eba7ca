"""Alarms (SPEC section 5): list, one alarm with its history, acknowledge, clear, assign, comment,
open an incident. Every write is a command of services/alarms.py (validate, then run: the alarm,
its history and the audit log in one transaction); the ingest publishes the changed Alert."""
from __future__ import annotations

from flask import g, jsonify, request

from api import models
from api.core import ID64, ApiError, Parameter, endpoint, int_arg, run, time_arg
from services.alarms import (
    SEVERITIES,
    STATE_FILTERS,
    AcknowledgeAlarm,
    AlarmFilter,
    AssignAlarm,
    ClearAlarm,
    CommentAlarm,
    alarm_history,
    get_alarm,
    list_alarms,
    OpenIncidentFromAlarm,
)
from services.i18n import _
from services.runtime import current

_ID = Parameter("alarm_id", "path", "alarm id", ID64)


@endpoint("/alerts", "Alarms, newest first",
          parameters=(
              Parameter("state", "query", "open (default), active, cleared, unacknowledged, acknowledged, escalated, all",
                        {"type": "string", "enum": list(STATE_FILTERS)}),
              Parameter("severity", "query", "comma-separated severities", {"type": "string"}),
              Parameter("rule", "query", "a rule id", {"type": "string"}),
              Parameter("device", "query", "a device id or part of it", {"type": "string"}),
              Parameter("district", "query", "a district name", {"type": "string"}),
              Parameter("since", "query", "ISO 8601: raised or repeated at or after", {"type": "string"}),
              Parameter("until", "query", "ISO 8601: raised at or before", {"type": "string"}),
              Parameter("limit", "query", "at most this many, 1..1000", {"type": "integer"}),
          ), response=models.Alarms)
def alerts():
    severities = tuple(s.strip() for s in (request.args.get("severity") or "").split(",") if s.strip())
    filters = AlarmFilter(
        state=request.args.get("state") or "open", severities=severities, rule_id=request.args.get("rule") or None,
        device=request.args.get("device") or None, district=request.args.get("district") or None,
        since=time_arg("since"), until=time_arg("until"), limit=int_arg("limit", 200, 1, 1000))
    filters.validate()
    views = list_alarms(current().engine, filters)
    return jsonify({"alerts": [view.as_json() for view in views], "count": len(views),
                    "severities": list(SEVERITIES)})


@endpoint("/alerts/<int:alarm_id>", "One alarm with its history", parameters=(_ID,),
          response=models.AlarmWithHistory)
def alert(alarm_id: int):
    engine = current().engine
    view = get_alarm(engine, alarm_id)
    if view is None:
        raise ApiError(404, "not_found", _("no alarm {alarm_id}", alarm_id=alarm_id), "alarm_id")
    return jsonify({**view.as_json(), "history": [event.as_json() for event in alarm_history(engine, alarm_id)]})


@endpoint("/alerts/<int:alarm_id>/ack", "Acknowledge an alarm", method="POST", role="alarm.acknowledge",
          parameters=(_ID,), response=models.Alarm)
def acknowledge(alarm_id: int):
    return jsonify(run(AcknowledgeAlarm(current().engine, g.principal, alarm_id)).as_json())


@endpoint("/alerts/<int:alarm_id>/clear", "Clear an alarm; body {\"note\"} optional", method="POST", role="alarm.clear",
          parameters=(_ID,), body=models.AlarmNote, response=models.Alarm)
def clear(alarm_id: int, body: models.AlarmNote):
    return jsonify(run(ClearAlarm(current().engine, g.principal, alarm_id, body.note)).as_json())


@endpoint("/alerts/<int:alarm_id>/assign", "Assign an alarm: body {\"assignee\"} (null to unassign)", method="POST",
          role="alarm.assign", parameters=(_ID,), body=models.AlarmAssignee, response=models.Alarm)
def assign(alarm_id: int, body: models.AlarmAssignee):
    return jsonify(run(AssignAlarm(current().engine, g.principal, alarm_id, body.assignee)).as_json())


@endpoint("/alerts/<int:alarm_id>/comments", "Comment on an alarm: body {\"text\"}", method="POST",
          role="alarm.comment", parameters=(_ID,), body=models.AlarmComment, response=models.Alarm)
def comment(alarm_id: int, body: models.AlarmComment):
    return jsonify(run(CommentAlarm(current().engine, g.principal, alarm_id, body.text)).as_json())


@endpoint("/alerts/<int:alarm_id>/incident", "Open the incident the alarm's rule offers (once)", method="POST",
          role="alarm.open_incident", parameters=(_ID,), response=models.AlarmIncident)
def open_incident(alarm_id: int):
    incident_id = run(OpenIncidentFromAlarm(current(), g.principal, alarm_id))
    return jsonify({"alarm_id": alarm_id, "incident_id": incident_id})
