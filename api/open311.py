"""Open311 GeoReport v2 (SPEC section 5: ``/open311/v2/...``, outside /api/v1) so existing citizen
apps use CityOps unchanged. Its own blueprint with the spec's own error format: a list of
``{"code", "description"}`` (the code is the HTTP status: 403 wrong or missing api_key, 404 unknown
resource, 400 anything else). JSON and XML (``.json`` / ``.xml``).

- ``GET services.<fmt>``, ``GET services/<code>.<fmt>``: the catalogue (config/services.yaml).
- ``POST requests.<fmt>`` (form-encoded, or JSON): ``api_key`` is an API token whose role may
  submit requests (``reporter`` for citizen apps, ``agent``, ``admin``); ``lat``/``long`` are needed
  (CityOps does not geocode ``address_string`` or ``address_id`` on this endpoint).
- ``GET requests.<fmt>`` with ``service_request_id``, ``service_code``, ``status`` (comma-separated),
  ``start_date`` / ``end_date`` (at most 90 days apart; default: the last 90 days), first 1000.
- ``GET requests/<id>.<fmt>``.
- Extension (docs/OPEN311.md): ``POST requests/<id>/satisfaction.<fmt>`` with ``api_key``,
  ``satisfaction`` (satisfied | basically_satisfied | dissatisfied) and ``comment``; requests
  also carry ``detailed_status`` and ``satisfaction``.
``jurisdiction_id`` is accepted and ignored: one endpoint serves one city.
"""
from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

from flask import Blueprint, Response, jsonify, request

from services.auth import authenticate
from services.commands import Refused
from services.i18n import _
from services.incidents import iso
from services.models import utcnow
from services.requests.commands import RateRequest, ReceiveRequest, RequestContext
from services.requests.orders import OrderFilter, get_order, list_orders, open311_status
from services.runtime import current
from services.telemetry import Rejected, parse_time

blueprint = Blueprint("open311_v2", __name__, url_prefix="/open311/v2")
FORMATS = ("json", "xml")
MAX_SPAN = timedelta(days=90)
MAX_RESULTS = 1000


class Open311Error(Exception):
    def __init__(self, status: int, description: str):
        super().__init__(description)
        self.status, self.description = status, description


def _context() -> RequestContext:
    return RequestContext.of(current())


def _answer(document, fmt: str, root: str, item: str, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(_xml(document, root, item), status=status, content_type="text/xml; charset=utf-8")
    response = jsonify(document)
    response.status_code = status
    return response


def _xml(document, root: str, item: str) -> bytes:
    """The spec's schemaless XML: a root element of item elements (or one object), child per field."""
    top = ElementTree.Element(root)
    for entry in document if isinstance(document, list) else [document]:
        element = ElementTree.SubElement(top, item) if isinstance(document, list) else top
        for key, value in entry.items():
            child = ElementTree.SubElement(element, key)
            if value is not None:
                child.text = str(value).lower() if isinstance(value, bool) else str(value)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ElementTree.tostring(top, encoding="utf-8")


def _format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise Open311Error(404, _("format .{format} is not served; use .json or .xml", format=fmt))
    return fmt


def _field(name: str) -> str | None:
    """A POST field: form-encoded as the spec says, or a JSON object as some apps send."""
    if request.form:
        return request.form.get(name)
    body = request.get_json(silent=True)
    return body.get(name) if isinstance(body, dict) else None


def _principal(action: str):
    key = _field("api_key")
    principal = authenticate(current().engine, key, current().settings.admin_token_value()) if key else None
    if principal is None:
        raise Open311Error(403, _("Invalid api_key received -- can't proceed with {action}.", action=action))
    return principal


# ---------------------------------------------------------------- services

@blueprint.get("/services.<fmt>")
def services(fmt: str):
    fmt = _format(fmt)
    return _answer([s.georeport() for s in _context().catalogue.services], fmt, "services", "service")


@blueprint.get("/services/<code>.<fmt>")
def service_definition(code: str, fmt: str):
    fmt = _format(fmt)
    service = _context().catalogue.service(code)
    if service is None:
        raise Open311Error(404, _("service_code {code} was not found", code=code))
    return _answer({"service_code": service.code, "attributes": []}, fmt, "service_definition", "attribute")


# ---------------------------------------------------------------- requests

def request_json(order, answering=None) -> dict:
    """A GeoReport v2 service request (``answering``: the order a duplicate was merged into)."""
    source = answering or order
    notes = source.status_notes
    if answering is not None:
        notes = f"Merged with request {answering.request_id}" + (f": {notes}" if notes else "")
    return {"service_request_id": order.request_id, "status": open311_status(source.status),
            "status_notes": notes, "service_name": order.service_label, "service_code": order.service_code,
            "description": order.description, "agency_responsible": source.department_label,
            "service_notice": None, "requested_datetime": iso(order.requested_at),
            "updated_datetime": iso(max(order.updated_at, source.updated_at)),
            "expected_datetime": iso(source.resolution_due_at), "address": order.address, "address_id": None,
            "zipcode": None, "lat": order.lat, "long": order.lon, "media_url": order.media_url,
            "detailed_status": source.status, "satisfaction": order.satisfaction}


def _with_answering(orders: list) -> list[dict]:
    ctx, now = _context(), utcnow()
    out = []
    for order in orders:
        answering = get_order(ctx.engine, ctx.catalogue, now, order.merged_into) if order.merged_into else None
        out.append(request_json(order, answering))
    return out


def _date(name: str):
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw, name)
    except Rejected:
        raise Open311Error(400, _("{name} must be a w3 date-time with its time zone, eg {example}", name=name,
                                  example="2010-01-01T00:00:00Z")) from None


def _list(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in (request.args.get(name) or "").split(",") if part.strip())


@blueprint.get("/requests.<fmt>")
def requests_list(fmt: str):
    fmt = _format(fmt)
    ids, codes, statuses = _list("service_request_id"), _list("service_code"), _list("status")
    bad = [s for s in statuses if s not in ("open", "closed")]
    if bad:
        raise Open311Error(400, _("status must be open or closed (comma-separated), not {values}",
                                  values=", ".join(bad)))
    start, end = _date("start_date"), _date("end_date")
    if start and end and start > end:
        raise Open311Error(400, _("start_date must not be after end_date"))
    if start and end and end - start > MAX_SPAN:
        raise Open311Error(400, _("start_date and end_date may not span more than 90 days"))
    if not ids:  # the spec's default: the most recent 90 days (a given bound, 90 days from it)
        if start is None:
            start = (end or utcnow()) - MAX_SPAN
        elif end is None:
            end = start + MAX_SPAN
    ctx = _context()
    found = list_orders(ctx.engine, ctx.catalogue, utcnow(), OrderFilter(
        statuses=None, request_ids=ids, since=None if ids else start, until=None if ids else end,
        include_merged=True, limit=5000))
    if codes:
        found = [o for o in found if o.service_code in codes]
    documents = _with_answering(found)
    if statuses:
        documents = [d for d in documents if d["status"] in statuses]
    documents.sort(key=lambda d: d["requested_datetime"], reverse=True)
    return _answer(documents[:MAX_RESULTS], fmt, "service_requests", "request")


@blueprint.get("/requests/<request_id>.<fmt>")
def request_one(request_id: str, fmt: str):
    fmt = _format(fmt)
    ctx = _context()
    order = get_order(ctx.engine, ctx.catalogue, utcnow(), request_id=request_id)
    if order is None:
        raise Open311Error(404, _("service_request_id {id} was not found", id=request_id))
    return _answer(_with_answering([order]), fmt, "service_requests", "request")


@blueprint.post("/requests.<fmt>")
def create_request(fmt: str):
    fmt = _format(fmt)
    principal = _principal("create_request")
    fields = {name: _field(name) for name in ("service_code", "lat", "long", "address_string", "address_id",
                                              "email", "first_name", "last_name", "phone", "description",
                                              "media_url", "device_id", "account_id")}
    if not fields["service_code"]:
        raise Open311Error(400, _("service_code was not provided"))
    ctx = _context()
    if ctx.catalogue.service(fields["service_code"]) is None:
        raise Open311Error(404, _("service_code {code} was not found", code=fields["service_code"]))
    if fields["lat"] in (None, "") or fields["long"] in (None, ""):
        raise Open311Error(400, _("lat and long are needed (this endpoint does not look up address_string or "
                                  "address_id)"))
    received = ReceiveRequest(ctx, principal, fields, source="open311")()
    return _answer([{"service_request_id": received.request_id, "service_notice": received.service_notice,
                     "account_id": fields["account_id"]}], fmt, "service_requests", "request", status=201)


@blueprint.post("/requests/<request_id>/satisfaction.<fmt>")
def rate_request(request_id: str, fmt: str):
    """Extension: the citizen's satisfaction with a resolved request (docs/OPEN311.md)."""
    fmt = _format(fmt)
    principal = _principal("rate_request")
    view = RateRequest(_context(), principal, request_id, _field("satisfaction") or "", _field("comment"))()
    return _answer(_with_answering([view]), fmt, "service_requests", "request")


# ---------------------------------------------------------------- errors, in the spec's format

def _errors(status: int, description: str) -> Response:
    fmt = "xml" if request.path.endswith(".xml") else "json"
    return _answer([{"code": status, "description": description}], fmt, "errors", "error", status=status)


@blueprint.errorhandler(Open311Error)
def _open311_error(error: Open311Error):
    return _errors(error.status, error.description)


@blueprint.errorhandler(Refused)
def _refused(error: Refused):
    status = {401: 403, 403: 403, 404: 404}.get(error.status, 400)  # the spec: 403 api_key, 404, else 400
    return _errors(status, error.message)


@blueprint.errorhandler(Exception)
def _unexpected(error: Exception):
    from werkzeug.exceptions import HTTPException

    if isinstance(error, HTTPException):
        return _errors(error.code if error.code in (403, 404) else 400, error.description)
    current_app_log().exception("Open311 request failed: %s %s", request.method, request.path)
    return _errors(500, _("the server could not answer; see its log"))


def current_app_log():
    import logging

    return logging.getLogger("cityops.open311")


def register_open311(server) -> None:
    server.register_blueprint(blueprint)
