"""What a request must carry follows each model's document: one table, derived from the contract.

For every model of openapi.yaml the table finds the smallest valid body (a factory's body with
every field left out that the model's schema lets go, one by one) and, from it, rows: that
body is accepted, and leaving out each field it still holds is refused naming the field,
exactly when the model's schema (required fields, one-of groups such as a video as
``video_url``, ``video_urls`` or ``video``, conditions such as the prompt unless multi-shot)
says so. Each row is checked against the emulator (a live server) and the kit's request
checks: they must agree with the contract, for every model the contract holds. Issue 15,
failure 12: reference-to-video and video edit without a prompt (the model pages mark it
optional).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema_rs
import pytest
from conftest import EDIT, REF, Api

from contracts.conformance import check_request
from contracts.factories import RequestFactory
from mock_server.contract import api_contract

CREATE = "https://api.evolink.ai/v1/videos/generations"
HEADERS = {"Authorization": "Bearer sk-required-check", "Content-Type": "application/json"}


def smallest(model: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """``body`` without every field the model's schema lets go (tried one by one, in order)."""
    valid = jsonschema_rs.validator_for(dict(api_contract().models[model].schema)).is_valid
    kept = dict(body)
    for name in list(kept):
        fewer = {k: v for k, v in kept.items() if k != name}
        if name != "model" and valid(fewer):
            kept = fewer
    assert valid(kept), (model, kept)
    return kept


@dataclass(frozen=True)
class Row:
    model: str
    case: str
    body: Mapping[str, Any]
    missing: str | None  # the field a refusal must name; None: the body is accepted

    @property
    def id(self) -> str:
        return f"{self.model}: {self.case}"


def rows() -> Iterator[Row]:
    """Every row of the table, for every model of the contract."""
    make = RequestFactory(seed=15)
    for model in api_contract().models:
        minimal = smallest(model, make.body(model))
        yield Row(model, "the smallest body", minimal, None)
        for name in minimal:
            if name != "model":
                yield Row(model, f"without {name}", {k: v for k, v in minimal.items() if k != name}, name)


ROWS = list(rows())


@pytest.fixture
def poor(api: Api) -> Api:
    """A key with no credits: an accepted body answers 402 (nothing is created), a refused one 400."""
    api.grant(0)
    return api


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_what_is_required_follows_the_contract(poor: Api, row: Row) -> None:
    response = poor.create(dict(row.body))
    report = check_request("POST", CREATE, HEADERS, dict(row.body))
    if row.missing is None:
        assert response.status_code == 402, (row.body, response.text)
        assert report.ok, str(report)
    else:
        assert response.status_code == 400, (row.body, response.text)
        assert row.missing in response.json()["error"]["message"], response.text
        assert not report.ok and any(row.missing in f"{p.field} {p.message}" for p in report.problems), str(report)


def test_the_table_covers_every_model() -> None:
    assert {row.model for row in ROWS} == set(api_contract().models)
    assert {row.body.get("prompt") is None for row in ROWS if row.model in (REF, EDIT) and row.missing is None} \
        == {True}, "reference to video and video edit: the smallest body has no prompt"


@pytest.mark.parametrize("model", [REF, EDIT])
def test_issue_input_a_video_without_a_prompt_is_valid(api: Api, model: str) -> None:
    """Issue 15, failure 12: ``{"model": ..., "video_url": ...}`` was a 400 "prompt is required"."""
    body = {"model": model, "video_url": "https://example.com/v.mp4"}
    created = api.created(body)
    assert created["status"] == "pending" and created["model"] == model
    assert check_request("POST", CREATE, HEADERS, body).ok
