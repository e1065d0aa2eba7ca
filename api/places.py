"""The city's own places by name, for the incident form and other clients (services/places.py)."""
from __future__ import annotations

from flask import jsonify, request

from api import models
from api.core import ApiError, Parameter, endpoint
from services.i18n import _
from services.places import SEARCH_LIMIT, search_places
from services.runtime import current

MAX_LIMIT = 50


@endpoint("/places", "Addresses, streets, places and districts of the city whose name matches q (case and "
                     "accents ignored), best first; offline, from the built city",
          parameters=(Parameter("q", "query", "what the operator typed (at least 2 letters)", {"type": "string"}),
                      Parameter("limit", "query", f"at most this many (1-{MAX_LIMIT}, default {SEARCH_LIMIT})",
                                {"type": "integer"})),
          response=models.Places)
def places():
    text = request.args.get("q", "")
    if len(text) > 200:
        raise ApiError(400, "invalid_value", _("q must be at most 200 characters"), "q")
    raw_limit = request.args.get("limit", str(SEARCH_LIMIT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_LIMIT:
        raise ApiError(400, "invalid_value", _("limit must be a whole number from 1 to {MAX_LIMIT}",
                                               MAX_LIMIT=MAX_LIMIT), "limit")
    found = search_places(current().city, text, int(raw_limit))
    return jsonify({"places": [place.as_json() for place in found], "count": len(found)})
