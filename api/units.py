"""Response units: status board and return-to-base (SPEC section 5)."""
from __future__ import annotations

from flask import g, jsonify, request

from api import models
from api.core import ApiError, Parameter, endpoint, run
from api.incidents import context
from services.dispatch import ReturnUnit
from services.i18n import _
from services.runtime import current
from services.units import UNIT_STATUSES, get_unit, list_units

_ID = Parameter("unit_id", "path", "unit id", {"type": "string"})


@endpoint("/units", "Units with status, timer start, position and current incident",
          parameters=(Parameter("status", "query", "only units with this status", {"type": "string",
                                                                                     "enum": list(UNIT_STATUSES)}),),
          response=models.Units)
def units():
    status = request.args.get("status") or None
    if status is not None and status not in UNIT_STATUSES:
        raise ApiError(400, "invalid_value", _("status must be one of {choices}",
                                               choices=', '.join(UNIT_STATUSES)), "status")
    views = [u for u in list_units(current().engine) if status is None or u.status == status]
    return jsonify({"units": [u.as_json() for u in views], "count": len(views)})


@endpoint("/units/<unit_id>", "One unit", parameters=(_ID,), response=models.Unit)
def unit(unit_id: str):
    view = get_unit(current().engine, unit_id)
    if view is None:
        raise ApiError(404, "not_found", _("no unit {unit_id}", unit_id=repr(unit_id)), "unit_id")
    return jsonify(view.as_json())


@endpoint("/units/<unit_id>/return", "Send the unit back to base (recalls it from its incident, which "
                                     "returns to the queue)", method="POST", role="unit.return", parameters=(_ID,),
          response=models.Returned)
def return_to_base(unit_id: str):
    return jsonify(run(ReturnUnit(context(), g.principal, unit_id)))
