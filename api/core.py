"""The JSON REST API under /api/v1 (SPEC section 5): blueprint, roles, errors, OpenAPI.

Each endpoint is declared once with ``endpoint(...)`` in a module of this package (devices.py,
incidents.py, ...): that registers the Flask route, its required role and its entry in the
OpenAPI document served at /api/v1/openapi.json. ``register_api`` imports every module of the
package, so a new module is registered by existing.
Request and response bodies are pydantic models (api/models.py): ``body=`` validates the request
before the view runs and hands the view the model (``body`` argument), ``response=`` documents the
answer; both become schemas of the OpenAPI document.
Errors are JSON ``{"error": {"code", "message", "field"?}}`` with a 4xx status: a body that is not
a JSON object is 400 ``invalid_body``, one that breaks its model 422 ``invalid_value`` naming the field.
"""
from __future__ import annotations

import importlib
import logging
import re
import pkgutil
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException

from services.access.principal import Principal
from services.commands import Refused, authorize
from services.i18n import _
from services.runtime import current
from services.telemetry import Rejected, parse_time

log = logging.getLogger("cityops.api")

blueprint = Blueprint("api_v1", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


@dataclass(frozen=True)
class Parameter:
    name: str
    where: str  # query | path
    description: str
    schema: dict


@dataclass(frozen=True)
class EndpointDoc:
    method: str
    path: str
    summary: str
    role: str | None
    parameters: tuple[Parameter, ...]
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200


ENDPOINTS: list[EndpointDoc] = []
# Path ids as the database stores them: a larger one names nothing, and must not reach the database
ID32 = {"type": "integer", "format": "int32", "minimum": 0, "maximum": 2 ** 31 - 1}
ID64 = {"type": "integer", "format": "int64", "minimum": 0, "maximum": 2 ** 63 - 1}


def endpoint(path: str, summary: str, *, method: str = "GET", role: str | None = "read",
             parameters: tuple[Parameter, ...] = (), body: type[BaseModel] | None = None,
             response: type[BaseModel] | None = None, status: int = 200) -> Callable:
    """Registers a route with the permission it needs (``role``: a key of PERMISSIONS; None: public)
    and documents it in OpenAPI. With ``body`` the request's JSON is validated into that model and
    passed to the view as ``body``; ``response`` (answered with ``status``) is documentation."""

    largest = {p.name: p.schema["maximum"] for p in parameters if p.where == "path" and "maximum" in p.schema}

    def decorate(view: Callable) -> Callable:
        def guarded(**kwargs):
            if role is not None:
                require(role)
            for name, value in kwargs.items():
                if isinstance(value, int) and value > largest.get(name, ID64["maximum"]):
                    raise ApiError(404, "not_found", _("no {what} {value}",
                                                       what=name.removesuffix("_id"), value=value), name)
            if body is not None:
                kwargs["body"] = request_body(body)
            return view(**kwargs)

        guarded.__name__ = view.__name__
        blueprint.add_url_rule(path, view_func=guarded, methods=[method])
        ENDPOINTS.append(EndpointDoc(method, path, summary, role, parameters, body, response, status))
        return view

    return decorate


def request_body(model: type[BaseModel]) -> BaseModel:
    """The request's JSON object as ``model``: 400 when it is not a JSON object, 422 naming the first
    field that breaks the model. A model without required fields takes an empty body as ``{}``."""
    if not request.get_data(cache=True) and not any(f.is_required() for f in model.model_fields.values()):
        raw = {}
    else:
        raw = request.get_json(silent=True)
    if not isinstance(raw, dict):
        raise ApiError(400, "invalid_body", _("send a JSON object (Content-Type: application/json)"), "body")
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        problem = error.errors(include_url=False, include_input=False)[0]
        field = str(problem["loc"][0]) if problem["loc"] else "body"  # the body's field, as commands name them
        where = ".".join(str(part) for part in problem["loc"]) or "body"
        raise ApiError(422, "invalid_value", _("{where}: {problem}",
                                               where=where, problem=problem['msg']), field) from None


@blueprint.before_request
def _speak_the_callers_language() -> None:
    """The API answers (its refusals' messages) in the caller's language, chosen as for pages (web/language.py:
    the user's saved language, else Accept-Language). Behind the web gate that is done already."""
    if "locale" in g:
        return
    from web import language
    from web.gate import identify

    if "identity" not in g:  # the API served without the web gate (an app of its own, tests)
        g.identity = identify()
    language.choose(g.identity)


def _leave_the_callers_language(_error=None) -> None:
    from web import language

    language.end()


blueprint.teardown_request(_leave_the_callers_language)


def require(permission: str) -> Principal:
    """The request's principal (identified once by web/gate.py: bearer token, session or display) may do
    ``permission`` (services/access/principal.py), else Refused (401 without identity, 403)."""
    if "identity" not in g:  # the API served without the web gate (an app of its own, tests)
        from web.gate import identify

        g.identity = identify()
    principal = authorize(g.identity.principal, permission)
    g.principal = principal
    return principal


def run(command):
    """Runs a command (validate, then run); its refusal becomes the JSON error in ``_refused``."""
    return command()


# ---------------------------------------------------------------- helpers

def time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw, name)
    except Rejected as error:
        raise ApiError(400, "invalid_value", error.shown, name) from None


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "invalid_value", _("{name} must be an integer", name=name), name) from None
    if not low <= value <= high:
        raise ApiError(400, "invalid_value", _("{name} must be between {low} and {high}",
                                               name=name, low=low, high=high), name)
    return value


@blueprint.errorhandler(ApiError)
def _api_error(error: ApiError):
    body = {"code": error.code, "message": error.message}
    if error.field:
        body["field"] = error.field
    return jsonify({"error": body}), error.status


@blueprint.errorhandler(Refused)
def _refused(error: Refused):
    """The one place a refusal becomes HTTP: 401 / 403 / 404 / 409 / 422 / 429 with its code and message."""
    body = error.as_json()
    if error.status == 401:
        body["message"] = _("send Authorization: Bearer <token> (see README: API tokens) or sign in")
    return jsonify({"error": body}), error.status


@blueprint.errorhandler(HTTPException)
def _http_error(error: HTTPException):
    return jsonify({"error": {"code": (error.name or "error").lower().replace(" ", "_"),
                              "message": error.description}}), error.code


@blueprint.errorhandler(Exception)
def _unexpected(error: Exception):
    log.exception("API request failed: %s %s", request.method, request.path)
    return jsonify({"error": {"code": "internal", "message": _("the server could not answer; see its log")}}), 500


def api_not_found(path: str) -> Response:
    """JSON 404 for any unknown path under /api/v1 (registered on the app, see register_api)."""
    return jsonify({"error": {"code": "not_found", "message": _("no endpoint {path}", path=f"/api/v1/{path}")}}), 404


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _schema_of(model: type[BaseModel], schemas: dict[str, dict]) -> dict:
    """A reference to ``model``'s JSON Schema, kept with the models it uses in ``schemas``."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def openapi_document() -> dict:
    paths: dict[str, dict] = {}
    schemas: dict[str, dict] = {}
    for doc in ENDPOINTS:
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", doc.path)  # Flask <int:id> -> OpenAPI {id}
        answer = {"description": "OK" if doc.status == 200 else "Created" if doc.status == 201 else "Done"}
        answer["content"] = _json(_schema_of(doc.response, schemas)) if doc.response else {"application/json": {}}
        operation = {
            "summary": doc.summary,
            "operationId": f"{doc.method.lower()}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}",
            "parameters": [
                {"name": p.name, "in": p.where, "required": p.where == "path", "description": p.description,
                 "schema": p.schema}
                for p in doc.parameters
            ],
            "responses": {
                str(doc.status): answer,
                **{str(code): {"$ref": "#/components/responses/Error"} for code in (400, 401, 403, 404, 409, 422)},
            },
        }
        if doc.body is not None:
            required = any(field.is_required() for field in doc.body.model_fields.values())
            operation["requestBody"] = {"required": required, "content": _json(_schema_of(doc.body, schemas))}
        if doc.role is None:
            operation["security"] = []
        else:
            operation["x-required-role"] = doc.role
        paths.setdefault(path, {})[doc.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "CityOps API", "version": "1"},
        "servers": [{"url": "/api/v1"}],
        "paths": paths,
        "security": [{"bearer": []}],
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {"Error": {"description": "JSON error", "content": {"application/json": {"schema": {
                "type": "object", "required": ["error"],
                "properties": {"error": {"type": "object", "required": ["code", "message"],
                                         "properties": {"code": {"type": "string"},
                                                        "message": {"type": "string"},
                                                        "field": {"type": "string"}}}}}}}}},
        },
    }


@endpoint("/openapi.json", "This document", role=None)
def openapi():
    return jsonify(openapi_document())


def register_api(server) -> None:
    import api

    for module in pkgutil.iter_modules(api.__path__):
        if module.name != "core":
            importlib.import_module(f"api.{module.name}")
    server.register_blueprint(blueprint)
    server.add_url_rule("/api/v1/<path:path>", "api_v1_not_found", api_not_found,
                        methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
