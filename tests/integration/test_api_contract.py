"""The REST API against its own OpenAPI document (issue 10, point 6), on SQLite and PostgreSQL:
schemathesis generates requests for every operation from /api/v1/openapi.json (valid ones and ones
that break the schema) and sends each as an admin, as a display and without a token; no answer
may be a server error, and the admin's successful answers must match their documented schemas.
Deterministic (derandomized) and small: a few examples per operation and mode."""
from __future__ import annotations

import importlib.util

import pytest

from services.access.displays import CreateDisplay
from services.access.principal import Principal
from services.auth import create_token
from services.dispatch import CreateIncident, DispatchContext
from services.runtime import open_runtime
from tests.integration.support import make_settings

if importlib.util.find_spec("schemathesis") is None:
    pytest.skip("schemathesis is in the test extra: pip install -e '.[test]'", allow_module_level=True)

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

EXAMPLES = 8  # per operation and generation mode; every case is sent three times (admin, display, none)
SYSTEM = Principal.system("test")


@pytest.fixture
def served(database_url, tiny_city, tmp_path, broker):
    runtime = open_runtime(make_settings(database_url, broker, tiny_city, data_dir=tmp_path,
                                         admin_token="contract-admin-token"))
    from app import create_app

    app = create_app(runtime)
    lon, lat = runtime.city.meta["center"]
    CreateIncident(DispatchContext.of(runtime), SYSTEM, {"category": "health", "lon": lon, "lat": lat})()
    CreateDisplay(runtime.engine, SYSTEM, "Wall", "/wall", {})()
    principals = {"admin": {"Authorization": "Bearer contract-admin-token"},
                  "display": {"Authorization": f"Bearer {create_token(runtime.engine, 'wall', 'display')}"},
                  "anonymous": {}}
    yield app, principals
    runtime.engine.dispose()


def test_no_generated_request_to_any_operation_gets_a_server_error(served):
    app, principals = served
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app.server)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            _exercise(operation, mode, principals, failures)
    assert not failures, "\n".join(failures[:20])


def _exercise(operation, mode, principals: dict, failures: list[str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
    def send(case):
        made_up = dict(case.headers or {})
        for who, headers in principals.items():
            generated = {name: value for name, value in made_up.items()
                         if not headers or name.lower() != "authorization"}  # the principal's token wins
            case.headers = {**generated, **headers}
            response = case.call()
            where = f"{who} {case.method} {case.formatted_path} {case.query or ''} {case.body!r:.200}"
            degraded_health = case.path == "/health" and response.status_code == 503  # documented: no ingest here
            if response.status_code >= 500 and not degraded_health:
                failures.append(f"{response.status_code} for {where}: {response.text[:300]}")
            elif who == "admin" and mode == schemathesis.GenerationMode.POSITIVE and response.status_code < 300:
                try:
                    case.validate_response(response, checks=[response_schema_conformance])
                except Exception as error:  # schemathesis reports each violation (a group of them)
                    failures.append(f"answer unlike its schema for {where}: {str(error)[:500]}")

    try:
        send()
    except Unsatisfiable:  # an operation without parameters or body has nothing to break
        assert mode == schemathesis.GenerationMode.NEGATIVE, f"no valid request for {operation.label}"


def test_ids_beyond_64_bits_name_nothing_and_are_answered_404(served):
    app, principals = served
    client = app.server.test_client()
    huge = 99999999999999999999999
    for method, path in (("GET", f"/api/v1/incidents/{huge}"), ("PATCH", f"/api/v1/incidents/{huge}"),
                         ("GET", f"/api/v1/incidents/{huge}/recommendations"),
                         ("POST", f"/api/v1/incidents/{huge}/dispatch"), ("POST", f"/api/v1/incidents/{huge}/cancel"),
                         ("POST", f"/api/v1/incidents/{huge}/resolve"), ("GET", f"/api/v1/alerts/{huge}"),
                         ("POST", f"/api/v1/alerts/{huge}/ack"), ("POST", f"/api/v1/alerts/{huge}/incident"),
                         ("DELETE", f"/api/v1/displays/{huge}"), ("GET", f"/api/v1/incidents/{2 ** 31}"),
                         ("DELETE", f"/api/v1/displays/{2 ** 31}"), ("GET", f"/api/v1/alerts/{2 ** 63}")):
        body = {"outcome": "done", "disposition": "referred", "priority": 2}
        answer = client.open(path, method=method, json=body, headers=principals["admin"])
        assert answer.status_code == 404, (method, path, answer.get_data(as_text=True))
        assert answer.get_json()["error"]["code"] == "not_found"
    for path, message in ((f"/api/v1/incidents/{2 ** 31 - 1}", f"no incident #{2 ** 31 - 1}"),
                          (f"/api/v1/alerts/{2 ** 63 - 1}", f"no alarm {2 ** 63 - 1}")):  # the largest the database holds
        answer = client.get(path, headers=principals["admin"])
        assert answer.status_code == 404 and answer.get_json()["error"]["message"] == message, answer.get_data()
