"""No input makes the emulator answer 500 or a traceback, and refusals move no credits.

Property-based: arbitrary JSON, valid bodies with one field replaced by
anything, arbitrary bytes and arbitrary scenario headers, against the live server.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from conftest import Api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mock_server.resources import fixtures_dir

BODIES = [json.loads(p.read_text()) for p in sorted((fixtures_dir() / "requests").glob("*/*.json"))]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = sorted({key for body in BODIES for key in body} | {"model_params", "callback_url", "image_urls", "video_urls"})
PROFILE = settings(max_examples=150, deadline=None, derandomize=True,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _assert_clean(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert "Traceback" not in response.text
    if response.status_code != 200:
        body = response.json()
        assert set(body["error"]) == {"code", "message", "type"}, body


@pytest.fixture
def poor_api(api: Api) -> Api:
    """A key with no credits: whatever is accepted is refused with 402, so nothing accumulates."""
    api.grant(0)
    return api


@PROFILE
@given(body=JSON)
def test_arbitrary_json_bodies(poor_api: Api, body: Any) -> None:
    _assert_clean(poor_api.create(body))


@PROFILE
@given(base=st.sampled_from(BODIES), field=st.sampled_from(FIELDS), value=JSON)
def test_valid_bodies_with_one_field_replaced(poor_api: Api, base: dict, field: str, value: Any) -> None:
    _assert_clean(poor_api.create({**base, field: value}))
    ledger = poor_api.account()
    assert (ledger["reserved"], ledger["charged"], ledger["balance"]) == (0, 0, 0)


@PROFILE
@given(raw=st.binary(max_size=200), content_type=st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", ""]))
def test_arbitrary_bytes(poor_api: Api, raw: bytes, content_type: str) -> None:
    _assert_clean(poor_api.http.post("/v1/videos/generations", content=raw, headers={"Content-Type": content_type}))


@PROFILE
@given(scenario=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_arbitrary_scenario_headers(poor_api: Api, scenario: str) -> None:
    _assert_clean(poor_api.create(BODIES[0], **{"X-Mock-Scenario": scenario.strip()}))


@PROFILE
@given(task_id=st.text(min_size=1, max_size=80))
def test_arbitrary_task_ids(poor_api: Api, task_id: str) -> None:
    response = poor_api.http.get("/v1/tasks/" + quote(task_id, safe=""))
    _assert_clean(response)
    assert response.status_code in (400, 404), response.text
