"""openapi.yaml is valid OpenAPI 3.1, and its examples are requests the emulator accepts."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Api
from openapi_spec_validator import validate

from mock_server.contract import api_contract, load_yaml
from mock_server.families import registry
from mock_server.resources import admin_contract_path, contract_path

SPEC = load_yaml(contract_path())
CREATE = SPEC["paths"]["/v1/videos/generations"]["post"]
EXAMPLES = CREATE["requestBody"]["content"]["application/json"]["examples"]


@pytest.mark.parametrize("path", [contract_path(), admin_contract_path()], ids=["api", "admin"])
def test_documents_are_valid_openapi_3_1(path: Any) -> None:
    document = load_yaml(path)
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_model_has_a_schema_and_a_catalog_entry() -> None:
    mapping = SPEC["components"]["schemas"]["VideoGenerationRequest"]["discriminator"]["mapping"]
    assert set(mapping) == set(registry()) | set(registry().aliases) == set(api_contract().models) | set(
        api_contract().aliases)
    one_of = {ref["$ref"] for ref in SPEC["components"]["schemas"]["VideoGenerationRequest"]["oneOf"]}
    assert one_of == set(mapping.values())


def test_every_model_has_an_example() -> None:
    assert {example["value"]["model"] for example in EXAMPLES.values()} == set(registry())


@pytest.mark.parametrize("name", EXAMPLES)
def test_examples_are_accepted_without_warnings(api: Api, name: str) -> None:
    response = api.create(EXAMPLES[name]["value"])
    assert response.status_code == 200, response.text
    assert "X-Mock-Warnings" not in response.headers


def test_create_links_to_the_task_query_and_documents_the_callback() -> None:
    link = CREATE["responses"]["200"]["links"]["GetTask"]
    assert link["operationId"] == "getTask" and link["parameters"]["task_id"] == "$response.body#/id"
    callback = CREATE["callbacks"]["taskFinished"]["{$request.body#/callback_url}"]["post"]
    assert callback["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/TaskDetail")


@pytest.mark.parametrize("status", ["400", "401", "402", "403", "429", "500"])
def test_create_documents_every_error_status(status: str) -> None:
    assert status in CREATE["responses"]


def _nodes(node: object) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _nodes(value)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item)


def test_every_x_message_belongs_to_one_keyword() -> None:
    """An ``x-message`` beside both ``required`` and a combinator would answer one for the other."""
    ambiguous = [node.get("x-message") for node in _nodes(api_contract().spec) if "x-message" in node
                 and "required" in node and {"anyOf", "oneOf", "if"} & set(node)]
    assert ambiguous == []


def test_every_injectable_server_error_is_in_the_contract_with_its_body() -> None:
    """A ``server_error`` fault answers 500, 502, 503 or 504: each public operation documents each, with its body."""
    from mock_server.errors import SERVER_ERRORS

    spec = api_contract().spec
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            for status, (code, message, kind) in SERVER_ERRORS.items():
                ref = operation["responses"][str(status)]["$ref"].rsplit("/", 1)[-1]
                example = spec["components"]["responses"][ref]["content"]["application/json"]["example"]
                assert example == {"error": {"code": code, "message": message, "type": kind}}, (path, method, status)
