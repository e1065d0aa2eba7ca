"""The dispatch console's page, server side: what its link opens on."""
from __future__ import annotations

import json
import shutil

import pytest

from services.access.principal import Principal
from services.access.users import CreateUser
from services.config import PROJECT_ROOT
from services.dispatch import CreateIncident, DispatchContext
from services.incidents import IncidentInput
from services.runtime import open_runtime
from tests.dash_calls import callback_body
from tests.integration.support import make_settings

ORIGIN = "http://localhost"
PASSWORD = "correct horse battery"
SYSTEM = Principal.system("test")


@pytest.fixture
def console(database_url, tiny_city, tmp_path, broker):
    rules = tmp_path / "rules.yaml"
    shutil.copy(PROJECT_ROOT / "config" / "rules.yaml", rules)
    runtime = open_runtime(make_settings(database_url, broker, tiny_city, rules_file=rules, data_dir=tmp_path))
    from app import create_app

    app = create_app(runtime)
    CreateUser(runtime.engine, SYSTEM, "dispatcher-1", "dispatcher", PASSWORD)()
    incidents = [CreateIncident(DispatchContext.of(runtime), SYSTEM,
                                IncidentInput("health", "heartAttack", priority, 24.9445, 60.1705,
                                              description=f"Testikatu {priority}"))().id for priority in (1, 3)]
    client = app.server.test_client()
    assert client.post("/login", data={"name": "dispatcher-1", "password": PASSWORD, "next": "/"},
                       headers={"Origin": ORIGIN}).status_code == 303
    yield app, client, incidents
    runtime.engine.dispose()


def _call(app, client, function, values):
    answer = client.post("/_dash-update-component", json=callback_body(app, function, values),
                         headers={"Origin": ORIGIN})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    return answer.get_json()["response"]


def _component(node, ident: str) -> dict | None:
    """The props of the component ``ident`` in a Dash layout answer."""
    if isinstance(node, dict):
        if isinstance(node.get("props"), dict) and node["props"].get("id") == ident:
            return node["props"]
        node = list(node.values())
    if isinstance(node, list):
        return next((found for item in node if (found := _component(item, ident)) is not None), None)
    return None


def _selected_on_opening(app, client, query: str):
    store = _component(_call(app, client, "update", ["/dispatch", query]), "dispatch-selected")
    assert store is not None, "the console has no selection store"
    return store.get("data")


def test_a_link_to_an_incident_opens_the_console_on_that_incident(console):
    """The scorecards' records link to /dispatch?incident=<id>: the console shows that one, not the queue's top."""
    app, client, (first, second) = console
    assert _selected_on_opening(app, client, f"?incident={second}") == second
    detail = json.dumps(_call(app, client, "pages.dispatch:refresh", [1, second, None, 0])["dispatch-detail"])
    assert f"#{second}" in detail and "Testikatu 3" in detail and "Testikatu 1" not in detail


@pytest.mark.parametrize("query", ["", "?incident=abc", "?incident=-1"])
def test_without_a_usable_incident_in_the_link_the_console_opens_on_the_queue(console, query):
    app, client, _incidents = console
    assert _selected_on_opening(app, client, query) is None
