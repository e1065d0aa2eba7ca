"""The OpenAPI document carries the request and response schemas of the models the endpoints
declare (api/models.py), so clients and schemathesis read the same contract the API enforces."""
from __future__ import annotations

import pytest
from flask import Flask

from api.core import openapi_document, register_api


@pytest.fixture(scope="module")
def document() -> dict:
    register_api(Flask("openapi-test"))
    return openapi_document()


def _schema(document: dict, ref: dict) -> dict:
    return document["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def test_every_operation_documents_the_schema_of_its_answer(document):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            answers = [code for code in operation["responses"] if code.startswith("2")]
            assert len(answers) == 1, (method, path)
            content = operation["responses"][answers[0]]["content"]["application/json"]
            assert "$ref" in content.get("schema", {}) or path == "/openapi.json", (method, path)


def test_every_write_with_a_body_documents_the_body_it_validates(document):
    create = document["paths"]["/incidents"]["post"]
    body = _schema(document, create["requestBody"]["content"]["application/json"]["schema"])
    assert create["requestBody"]["required"] and body["required"] == ["category"]
    assert {"category", "priority", "location", "lon", "lat"} <= set(body["properties"])
    assert "201" in create["responses"]
    resolve = document["paths"]["/incidents/{incident_id}/resolve"]["post"]
    assert _schema(document, resolve["requestBody"]["content"]["application/json"]["schema"])["required"] == [
        "outcome", "disposition"]
    dispatch = document["paths"]["/incidents/{incident_id}/dispatch"]["post"]
    assert dispatch["requestBody"]["required"] is False  # no body: the top recommendation
    displays = document["paths"]["/displays"]["post"]
    link = _schema(document, displays["responses"]["201"]["content"]["application/json"]["schema"])
    assert "url" in link["properties"]


def test_path_ids_are_bounded_by_what_the_database_holds(document):
    (incident_id,) = document["paths"]["/incidents/{incident_id}"]["get"]["parameters"]
    (alarm_id,) = document["paths"]["/alerts/{alarm_id}"]["get"]["parameters"]
    assert incident_id["schema"]["maximum"] == 2 ** 31 - 1 and alarm_id["schema"]["maximum"] == 2 ** 63 - 1
