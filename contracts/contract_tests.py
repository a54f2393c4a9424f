"""The conformance suite: schemathesis proves a server matches openapi.yaml (and the admin document).

Run by ``make test`` against a fresh in-process emulator (tests/test_conformance.py imports
these tests), and by ``evolink-mock contract --base-url URL`` against any running server.
Every operation is fuzzed with all of schemathesis' checks, and stateful sequences follow the
contract's links (create, then poll the task). Against a running server the admin operations
that change state (reset, the clock, accounts, fault rules, cancels, redeliveries) are left out
unless ``EVOLINK_CONTRACT_ADMIN_WRITES=1``: the server may be one a developer is using, and the
public API's requests touch only the suite's own key and its tasks. The environment picks the target:

- ``EVOLINK_CONTRACT_BASE_URL``: a running server (default: in-process ASGI app);
- ``EVOLINK_CONTRACT_API_KEY``: the bearer key to send (default: a fixed ``sk-`` test key);
- ``EVOLINK_CONTRACT_MAX_EXAMPLES``: examples per operation (default 25, deep: 100);
- ``EVOLINK_CONTRACT_ADMIN_TOKEN``: the target's admin token, if it has one;
- ``EVOLINK_CONTRACT_ADMIN_WRITES=1``: against a running server, fuzz every admin operation, not
  only the ones that read (``evolink-mock contract --admin-writes``);
- ``EVOLINK_CONTRACT_DEEP=1``: the deep run (``make test-deep``, ``evolink-mock contract --deep``).

Every model is sampled: each documented request example of every model is sent (the examples
phase), and ``test_create_per_model`` fuzzes each model's own request schema (2 examples a model;
``EVOLINK_CONTRACT_MAX_EXAMPLES`` in the deep run). The deep run adds schemathesis' coverage phase
(every boundary value of every field of every model's schema, several thousand requests).

One rule schemathesis cannot know: a request can be schema-valid and still break a cross-field
rule (``rules.py``). Those 400s carry ``X-Mock-Rule`` and are the only 400s allowed for valid data.
"""
from __future__ import annotations

import copy
import functools
import os
from decimal import Decimal
from typing import Any

import httpx
import hypothesis
import jsonschema_rs
import pytest
import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance as _positive_data_acceptance

from mock_server.contract import admin_contract, api_contract
from mock_server.families import registry
from mock_server.resources import contract_path

BASE_URL = os.environ.get("EVOLINK_CONTRACT_BASE_URL", "").rstrip("/") or None
API_KEY = os.environ.get("EVOLINK_CONTRACT_API_KEY", "sk-contract-suite-0001")
DEEP = os.environ.get("EVOLINK_CONTRACT_DEEP", "") not in ("", "0")
MAX_EXAMPLES = int(os.environ.get("EVOLINK_CONTRACT_MAX_EXAMPLES", "100" if DEEP else "25"))
PER_MODEL_EXAMPLES = MAX_EXAMPLES if DEEP else 2
ADMIN_TOKEN = os.environ.get("EVOLINK_CONTRACT_ADMIN_TOKEN")
ADMIN_WRITES = os.environ.get("EVOLINK_CONTRACT_ADMIN_WRITES", "") not in ("", "0")
VALID_DATA_STATUSES = ["2xx", "401", "402", "403", "404", "409", "429"]
ENDLESS = "dashboardEvents"
CREATE = "/v1/videos/generations"  # the dashboard's event stream never ends: no response to validate


@schemathesis.check
def positive_data_acceptance_beyond_cross_field_rules(ctx: Any, response: Any, case: Any) -> bool | None:
    """Schema-valid data is accepted, unless a cross-field rule the schema cannot express refused it."""
    if response.status_code == 400 and response.headers.get("x-mock-rule"):
        return None
    return _positive_data_acceptance(ctx, response, case)


@functools.cache
def _shape_validator(shape: str) -> Any:
    return jsonschema_rs.validator_for(api_contract().schemas[shape])


@schemathesis.check
def create_answer_in_its_model_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    """A create answer has the shape its model documents (``x-evolink.response.create``), named field by field.

    The contract's own check follows the same ``if``/``then`` branches but reports only that no
    branch matched; this one says which field of which shape is wrong (``"usage" is a required property``).
    """
    if case.method.upper() != "POST" or case.path != CREATE or response.status_code != 200:
        return None
    body = response.json()
    try:
        shape = registry()[body["model"]].create_shape
    except (KeyError, TypeError):
        return None  # an unknown model: the contract's own check reports it
    errors = [f"{'.'.join(map(str, error.instance_path)) or 'body'}: {error.message}"
              for error in _shape_validator(shape).iter_errors(body)]
    if errors:
        raise AssertionError(f"{body['model']} answers {shape}, but: " + "; ".join(errors))
    return True


def _config(max_examples: int, headers: dict[str, str] | None = None) -> schemathesis.Config:
    return schemathesis.Config.from_dict({
        "headers": headers or {"Authorization": f"Bearer {API_KEY}"},
        "generation": {"max-examples": max_examples, "deterministic": True},
        "checks": {"positive_data_acceptance": {"enabled": False, "expected-statuses": VALID_DATA_STATUSES}},
        "phases": {"coverage": {"enabled": DEEP}},
    })


def _in_process_app() -> Any:
    from mock_server import Settings, create_app

    return create_app(Settings(speed=0, seed=0, credits=Decimal(10) ** 12, allow_local_callbacks=False))


def _targeted(schema: Any, app: Any) -> Any:
    if BASE_URL is None:
        schema.app = app
    else:
        schema.config.update(base_url=BASE_URL)
    return schema


def _api_schema() -> Any:
    return _targeted(schemathesis.openapi.from_path(contract_path(), config=_config(MAX_EXAMPLES)),
                     _in_process_app() if BASE_URL is None else None)


def _model_schema(model: str) -> Any:
    """The contract with its create operation narrowed to one model (its schema, its examples)."""
    spec = api_contract().spec
    schemas = dict(spec["components"]["schemas"])
    schemas["VideoGenerationRequest"] = {"$ref": schemas["VideoGenerationRequest"]["discriminator"]["mapping"][model]}
    create = copy.deepcopy(spec["paths"][CREATE])
    content = create["post"]["requestBody"]["content"]["application/json"]
    content["examples"] = {name: example for name, example in content["examples"].items()
                           if example["value"]["model"] == model}
    document = {**spec, "paths": {CREATE: create}, "components": {**spec["components"], "schemas": schemas}}
    return _targeted(schemathesis.openapi.from_dict(document, config=_config(PER_MODEL_EXAMPLES)), api.app)


def _admin_schema() -> Any:
    if BASE_URL is None:
        schema = schemathesis.openapi.from_dict(admin_contract().spec, config=_config(MAX_EXAMPLES))
        schema.app = _in_process_app()  # its own emulator: fault rules added here touch nothing else
        return schema.exclude(operation_id=ENDLESS)
    try:
        httpx.get(f"{BASE_URL}/_mock/health", timeout=10).raise_for_status()
    except httpx.HTTPError:
        return None  # not an evolink-mock: no admin API to check
    headers = {"X-Mock-Admin-Token": ADMIN_TOKEN} if ADMIN_TOKEN else {}
    schema = schemathesis.openapi.from_url(f"{BASE_URL}/_mock/openapi.yaml", headers=headers,
                                           config=_config(MAX_EXAMPLES, headers))
    schema.config.update(base_url=BASE_URL)
    every = schema.exclude(operation_id=ENDLESS)
    return every if ADMIN_WRITES else every.include(method="GET")  # the admin API's GETs change nothing


api = _api_schema()
admin = _admin_schema()


@api.parametrize()
def test_api_operation(case: Any) -> None:
    """Each public operation, fuzzed: every response conforms to openapi.yaml."""
    case.call_and_validate()


@pytest.mark.parametrize("model", list(api_contract().models))
def test_create_per_model(model: str) -> None:
    """Each model's own request schema, fuzzed: its create answers conform to openapi.yaml."""
    operation = _model_schema(model)[CREATE]["POST"]

    @hypothesis.given(case=operation.as_strategy())
    @hypothesis.settings(max_examples=PER_MODEL_EXAMPLES, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(hypothesis.HealthCheck))
    def fuzz(case: Any) -> None:
        case.call_and_validate()

    fuzz()


TestApiWorkflows = api.as_state_machine().TestCase
TestApiWorkflows.settings = hypothesis.settings(TestApiWorkflows.settings, max_examples=max(3, MAX_EXAMPLES // 4),
                                                stateful_step_count=5, derandomize=True)

if admin is not None:

    @admin.parametrize()
    def test_admin_operation(case: Any) -> None:
        """Each admin operation, fuzzed: every response conforms to the admin document."""
        case.call_and_validate()

else:

    def test_admin_operation() -> None:
        pytest.skip("the target serves no /_mock/ admin API")
