"""GET /api/v1/places: the city's own places by name, for the incident form (no database read: SQLite only)."""
from __future__ import annotations

import pytest

from services.auth import create_token
from services.config import CITIES_DIR, Settings
from services.runtime import open_runtime


@pytest.fixture
def api(tmp_path):
    settings = Settings.from_env({}, database_url=f"sqlite:///{tmp_path / 'cityops.db'}",
                                 mqtt_url="mqtt://127.0.0.1:9", city=str(CITIES_DIR / "helsinki"), data_dir=tmp_path)
    runtime = open_runtime(settings)
    from app import create_app

    client = create_app(runtime).server.test_client()
    token = create_token(runtime.engine, "wall-token", "display")  # the least role that may read
    yield client, {"Authorization": f"Bearer {token}"}
    runtime.engine.dispose()


def test_places_answer_the_best_matches_with_their_kind_and_point(api):
    client, headers = api
    answer = client.get("/api/v1/places?q=mannerh", headers=headers)
    assert answer.status_code == 200
    body = answer.get_json()
    first = body["places"][0]
    assert (first["name"], first["kind"]) == ("Mannerheimintie", "street")
    assert first["location"]["type"] == "Point" and len(first["location"]["coordinates"]) == 2
    assert body["count"] == len(body["places"]) <= 8
    assert client.get("/api/v1/places?q=MANNERHEIMINTIE%205&limit=1", headers=headers).get_json()["places"][0][
        "name"] == "Mannerheimintie 5"


def test_places_need_a_reader_and_refuse_bad_input_with_4xx(api):
    client, headers = api
    assert client.get("/api/v1/places?q=mannerh").status_code == 401
    assert client.get("/api/v1/places?q=m", headers=headers).get_json() == {"places": [], "count": 0}
    for query in ("q=kallio&limit=0", "q=kallio&limit=x", "q=kallio&limit=51", "q=" + "a" * 201):
        answer = client.get(f"/api/v1/places?{query}", headers=headers)
        assert answer.status_code == 400 and answer.get_json()["error"]["field"] in ("q", "limit"), query


def test_places_are_in_the_openapi_document(api):
    client, _ = api
    assert "/places" in client.get("/api/v1/openapi.json").get_json()["paths"]
