"""Incidents: the queue, their lifecycle, recommendations and dispatch (SPEC section 5).

Reads need any identity; writes need the permission of their command (services/access/principal.py),
which the command checks again inside services.
Each write is a command of services/dispatch.py and lands in the audit log.
"""
from __future__ import annotations

from flask import g, jsonify, request

from api import models
from api.core import ID32, ApiError, Parameter, endpoint, int_arg, run
from services.dispatch import (CreateIncident, DispatchContext, DispatchUnit, ResolveIncident, UpdateIncident,
                               recommend)
from services.i18n import _
from services.incidents import DISPOSITIONS, OPEN_STATUSES, STATUSES, get_incident, incident_timeline, list_incidents
from services.runtime import current

_ID = Parameter("incident_id", "path", "incident id", ID32)


def context() -> DispatchContext:
    return DispatchContext.of(current())


def _incident_or_404(incident_id: int):
    incident = get_incident(current().engine, incident_id)
    if incident is None:
        raise ApiError(404, "not_found", _("no incident #{incident_id}", incident_id=incident_id), "incident_id")
    return incident


@endpoint("/incidents", "Incidents, the queue order (waiting first, then priority, then age)",
          parameters=(Parameter("status", "query", "comma-separated statuses, 'open' (default) or 'all'",
                                {"type": "string"}),
                      Parameter("limit", "query", "at most this many, 1..2000", {"type": "integer"})),
          response=models.Incidents)
def incidents():
    raw = (request.args.get("status") or "open").strip()
    if raw == "open":
        statuses = OPEN_STATUSES
    elif raw == "all":
        statuses = None
    else:
        statuses = tuple(s.strip() for s in raw.split(",") if s.strip())
        bad = [s for s in statuses if s not in STATUSES]
        if bad or not statuses:
            raise ApiError(400, "invalid_value", _("status must be open, all, or among {choices}",
                                                   choices=', '.join(STATUSES)), "status")
    views = list_incidents(current().engine, statuses, limit=int_arg("limit", 500, 1, 2000))
    return jsonify({"incidents": [v.as_json() for v in views], "count": len(views)})


@endpoint("/incidents", "Create an incident {category, subCategory, priority (1-4 | P1-P4 | SDM severity), "
                        "location (GeoJSON Point) or lon/lat, description, address}", method="POST",
          role="incident.create", body=models.IncidentCreate, response=models.Incident, status=201)
def create_incident(body: models.IncidentCreate):
    view = run(CreateIncident(context(), g.principal, body.model_dump(exclude_unset=True), default_source="api"))
    return jsonify(view.as_json()), 201


@endpoint("/incidents/<int:incident_id>", "One incident with its timeline", parameters=(_ID,),
          response=models.IncidentWithTimeline)
def incident(incident_id: int):
    view = _incident_or_404(incident_id)
    timeline = incident_timeline(current().engine, incident_id)
    return jsonify({**view.as_json(), "timeline": [entry.as_json() for entry in timeline]})


@endpoint("/incidents/<int:incident_id>", "Change priority, category, description, or status "
                                          "(resolved, closed, cancelled)", method="PATCH", role="incident.update",
          parameters=(_ID,), body=models.IncidentChange, response=models.Incident)
def patch_incident(incident_id: int, body: models.IncidentChange):
    view = run(UpdateIncident(context(), g.principal, incident_id, body.model_dump(exclude_unset=True)))
    return jsonify(view.as_json())


@endpoint("/incidents/<int:incident_id>/recommendations",
          "Available units able to handle the incident, ranked by road-network ETA (live traffic)",
          parameters=(_ID,), response=models.Recommendations)
def recommendations(incident_id: int):
    view = _incident_or_404(incident_id)
    candidates = recommend(context(), view)
    return jsonify({"incident_id": incident_id, "candidates": [c.as_json() for c in candidates],
                    "count": len(candidates)})


@endpoint("/incidents/<int:incident_id>/dispatch", "Assign a unit ({\"unit_id\"}; omitted: the top "
                                                   "recommendation) and send it the MQTT command",
          method="POST", role="incident.dispatch", parameters=(_ID,), body=models.DispatchRequest,
          response=models.Dispatched)
def dispatch(incident_id: int, body: models.DispatchRequest):
    result = run(DispatchUnit(context(), g.principal, incident_id, body.unit_id))
    return jsonify(result.as_json())


@endpoint("/incidents/<int:incident_id>/cancel", "Cancel the incident (its unit, if any, is recalled)",
          method="POST", role="incident.update", parameters=(_ID,), response=models.Incident)
def cancel(incident_id: int):
    view = run(UpdateIncident(context(), g.principal, incident_id, {"status": "cancelled"}))
    return jsonify(view.as_json())


@endpoint("/incidents/<int:incident_id>/resolve", "Close a handled incident {outcome (the operator's words), "
                                                  f"disposition ({' | '.join(DISPOSITIONS)})}}, releasing its units",
          method="POST", role="incident.resolve", parameters=(_ID,), body=models.ResolveRequest,
          response=models.Incident)
def resolve(incident_id: int, body: models.ResolveRequest):
    view = run(ResolveIncident(context(), g.principal, incident_id, body.model_dump(exclude_unset=True)))
    return jsonify(view.as_json())
