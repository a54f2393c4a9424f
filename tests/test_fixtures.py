"""Every fixture file conforms to openapi.yaml (so the data cannot drift from the contract)."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
import pytest
from conftest import Api

from mock_server.contract import api_contract
from mock_server.families import registry
from mock_server.resources import fixtures_dir

FIXTURES = fixtures_dir()
REQUESTS = sorted((FIXTURES / "requests").glob("*/*.json"))
RESPONSE_SCHEMA = {"create.json": "VideoGenerationTask", "credits.json": "CreditsResponse",
                   "error-invalid-request.json": "ErrorResponse"}


def _schema_for(path: Path) -> str:
    return RESPONSE_SCHEMA.get(path.name, "TaskDetail")


def test_every_model_has_a_request_fixture_in_its_own_folder() -> None:
    models = {json.loads(p.read_text())["model"] for p in REQUESTS}
    assert models == set(registry())
    assert all(json.loads(p.read_text())["model"] == p.parent.name for p in REQUESTS)
    assert all((FIXTURES / "requests" / model / "default.json").is_file() for model in registry())


@pytest.mark.parametrize("path", REQUESTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_request_fixtures_are_accepted(api: Api, path: Path) -> None:
    response = api.create(json.loads(path.read_text()))
    assert response.status_code == 200, response.text
    assert "X-Mock-Warnings" not in response.headers


@pytest.mark.parametrize("path", sorted((FIXTURES / "responses").glob("*.json")) +
                         sorted((FIXTURES / "callbacks").glob("*.json")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_response_and_callback_fixtures_match_their_schema(path: Path) -> None:
    schema = api_contract().schemas[_schema_for(path)]
    errors = [e.message for e in jsonschema_rs.validator_for(schema).iter_errors(json.loads(path.read_text()))]
    assert errors == []


def test_callback_fixtures_cover_each_ending() -> None:
    endings = {p.stem: json.loads(p.read_text()) for p in (FIXTURES / "callbacks").glob("*.json")}
    assert endings["completed"]["status"] == "completed" and endings["completed"]["results"]
    assert endings["failed"]["status"] == "failed"
    assert endings["cancelled"]["error"]["code"] == "request_cancelled"
