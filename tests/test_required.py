"""What a request must carry follows each model's document: one table, derived from the contract.

For every model of openapi.yaml the table reads what its request schema requires:
fields always required (``required``), one-of groups (an ``anyOf`` of ``required``
alternatives, such as a video as ``video_url``, ``video_urls`` or ``video``) and
fields required unless a condition holds (an ``if``/``else``, such as the prompt
unless multi-shot). From it, rows: the smallest body is accepted; leaving out
each required field (or a whole group) is refused naming it; each other
alternative of a group is accepted; a conditional field may go when its
condition holds. Each row is checked against the emulator (a live server) and
the kit's request checks: they must agree with the contract, for every model
the contract holds. Issue 15, failure 12: reference-to-video and video edit
without a prompt (the model pages mark it optional).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jsonschema_rs
import pytest
from conftest import EDIT, REF, Api

from contracts.conformance import check_request
from contracts.factories import RequestFactory
from mock_server.contract import api_contract

CREATE = "https://api.evolink.ai/v1/videos/generations"
HEADERS = {"Authorization": "Bearer sk-required-check", "Content-Type": "application/json"}
#: Keywords of an ``allOf`` part this table reads, and those that say nothing about the smallest body
#: (``then`` requires something only once its ``if`` holds, e.g. a field that needs another).
_READ = {"required", "anyOf", "oneOf", "if", "else"}
_SILENT = {"properties", "x-message", "description", "then"}


@dataclass
class Requirements:
    """What one model's request schema requires."""

    always: list[str] = field(default_factory=list)
    groups: list[list[str]] = field(default_factory=list)  # one of each group (single-field alternatives)
    unless: list[tuple[str, Mapping[str, Any]]] = field(default_factory=list)  # (field, the ``if`` that frees it)


def requirements(schema: Mapping[str, Any]) -> Requirements:
    """Read the requirement keywords of a model schema; fail on a form this table does not read."""
    assert not ((_READ - {"required"}) & set(schema)), "requirements at the top level beyond `required`"
    found = Requirements(always=[f for f in schema.get("required", []) if f != "model"])
    for part in schema.get("allOf", []):
        unknown = set(part) - _READ - _SILENT
        assert not unknown, f"a requirement form the table does not read: {sorted(unknown)} in {part}"
        found.always += [f for f in part.get("required", []) if f not in found.always]
        for choice in ("anyOf", "oneOf"):
            if choice in part:
                alternatives = [alt.get("required", []) for alt in part[choice]]
                assert all(len(alt) == 1 for alt in alternatives), part
                found.groups.append([alt[0] for alt in alternatives])
        if "if" in part:
            found.unless += [(f, part["if"]) for f in part.get("else", {}).get("required", [])]
    return found


def _value(model: str, name: str, sample: Mapping[str, Any]) -> Any:
    """A valid value of ``name`` for ``model``: the factory's, else one built from the field's schema."""
    if name in sample:
        return sample[name]
    prop = api_contract().models[model].schema["properties"][name]
    url = api_contract().schemas["MediaUrl"]["pattern"]
    if prop.get("pattern") == url:
        return "https://media.example.com/input.mp4"
    if prop.get("items", {}).get("pattern") == url:
        return ["https://media.example.com/input.mp4"]
    raise AssertionError(f"no value for {model}.{name}")


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
    for model, body_schema in api_contract().models.items():
        needs = requirements(body_schema.schema)
        sample = make.body(model)
        minimal: dict[str, Any] = {"model": model}
        for name in [*needs.always, *(group[0] for group in needs.groups), *(f for f, _ in needs.unless)]:
            minimal[name] = _value(model, name, sample)
        yield Row(model, "the smallest body", minimal, None)
        for name in needs.always + [f for f, _ in needs.unless]:
            yield Row(model, f"without {name}", {k: v for k, v in minimal.items() if k != name}, name)
        for group in needs.groups:
            bare = {k: v for k, v in minimal.items() if k not in group}
            yield Row(model, f"without any of {', '.join(group)}", bare, group[0])
            for other in group[1:]:
                yield Row(model, f"{other} instead of {group[0]}", {**bare, other: _value(model, other, sample)}, None)
        for name, condition in needs.unless:
            shots = make.body(model, multi_shot=True)  # multi-shot frees the prompt: the one condition today
            freed = {**{k: v for k, v in minimal.items() if k != name},
                     "model_params": shots["model_params"], "duration": shots["duration"]}
            assert jsonschema_rs.validator_for(dict(condition)).is_valid(freed), \
                f"{model}: this table cannot meet the condition that frees {name}: {condition}"
            yield Row(model, f"without {name} under multi-shot", freed, None)


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


def test_the_table_covers_every_model_and_both_kinds_of_requirement() -> None:
    models = {row.model for row in ROWS}
    assert models == set(api_contract().models)
    assert any(row.case.startswith("without any of") for row in ROWS)
    assert any(row.case.endswith("under multi-shot") for row in ROWS)


@pytest.mark.parametrize("model", [REF, EDIT])
def test_issue_input_a_video_without_a_prompt_is_valid(api: Api, model: str) -> None:
    """Issue 15, failure 12: ``{"model": ..., "video_url": ...}`` was a 400 "prompt is required"."""
    body = {"model": model, "video_url": "https://example.com/v.mp4"}
    created = api.created(body)
    assert created["status"] == "pending" and created["model"] == model
    assert check_request("POST", CREATE, HEADERS, body).ok
