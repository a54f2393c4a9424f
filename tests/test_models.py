"""Every model, tested from the contract and the registry (no model is listed by hand here).

- each documented request example of every model is accepted, with the create answer in the
  model's shape and, where EvoLink publishes the price, exactly that price reserved;
- a value just outside each enum and each range of every model is refused with a 400 naming the field;
- aliases answer as their targets, retired ids get a 400 naming the successor, a custom element's
  task carries an element id, ``output_format: mov`` serves a ``.mov``, price overrides and user
  groups change ``credits_reserved``, and Seedance 2.5's task-type constraint fails the task later.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from mock_server import Settings
from mock_server.contract import api_contract
from mock_server.core.service import Emulator
from mock_server.core.views import created_body, task_body
from mock_server.errors import ApiError
from mock_server.families import Durations, registry

KEY = "Bearer sk-every-model-0001"
CREATE = api_contract().spec["paths"]["/v1/videos/generations"]["post"]
EXAMPLES = CREATE["requestBody"]["content"]["application/json"]["examples"]


@pytest.fixture(scope="module")
def emulator() -> Emulator:
    made = Emulator(Settings(speed=0, seed=3, credits=Decimal(10) ** 9))
    return made


def _create(emulator: Emulator, body: dict[str, Any]) -> dict[str, Any]:
    account = emulator.authenticate(KEY)
    task, _ = emulator.create_task(account, body)
    return created_body(task, emulator.registry[task.model], account.user_group)


def _published_price(body: dict[str, Any]) -> Decimal | None:
    """The price the docs publish for this body, worked out from the rate rows alone (None: not published)."""
    spec = registry()[body["model"]]
    if spec.assumed or spec.factors or spec.billed != "output" or spec.has("edit_billing"):
        return None
    values = {**spec.defaults, **body}
    duration = values.get("duration")
    sound = values.get(spec.audio_field) in ("on", True) if spec.audio_field else False
    for (tier, priced_sound, seconds), rate in spec.rates.items():
        if tier not in (None, values.get(spec.tier_field)) or priced_sound != (sound and spec.priced_sound):
            continue
        if spec.unit == "call":
            if seconds in (None, duration):
                return rate.credits
        elif isinstance(duration, int):
            return rate.credits * max(duration, spec.min_billed_seconds)
    return None


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_every_documented_example_is_accepted_with_its_price(emulator: Emulator, name: str) -> None:
    body = dict(EXAMPLES[name]["value"])
    body.pop("callback_url", None)
    answer = _create(emulator, body)
    spec = registry()[body["model"]]
    shape = api_contract().schemas[spec.create_shape]
    assert list(jsonschema_rs.validator_for(shape).iter_errors(answer)) == [], answer
    assert answer["model"] == spec.id  # an alias answers as its target
    expected = _published_price(body)
    if expected is not None:
        assert Decimal(str(answer["usage"]["credits_reserved"])) == expected.quantize(Decimal("0.0001")), answer
    if "usage" in answer:
        assert answer["usage"]["billing_rule"] == spec.billing_rule


def _outside(models: Any) -> list[tuple[str, str, Any]]:
    """(model, field, a value just outside the field's enum or range) for every model's fields."""
    cases = []
    for model, body_schema in models.items():
        cases += [(model, "duration", value) for _, value in registry()[model].durations.outside()]
        for field, sub in body_schema.schema.get("properties", {}).items():
            if not isinstance(sub, dict) or field in ("model", "duration"):
                continue
            if "enum" in sub:
                strings = [v for v in sub["enum"] if isinstance(v, str)]
                numbers = [v for v in sub["enum"] if isinstance(v, int) and not isinstance(v, bool)]
                cases.append((model, field, (strings[0] + "-x") if strings else max(numbers) + 1))
            if isinstance(sub.get("maximum"), (int, float)):
                cases.append((model, field, sub["maximum"] + 1))
            if isinstance(sub.get("minimum"), (int, float)):
                cases.append((model, field, sub["minimum"] - 1))
    return cases


OUTSIDE = _outside(api_contract().models)


def _example(model: str) -> dict[str, Any]:
    return next(dict(e["value"]) for e in EXAMPLES.values() if registry()[e["value"]["model"]].id == model)


@pytest.mark.parametrize(("model", "field", "value"), OUTSIDE, ids=[f"{m}.{f}={v}" for m, f, v in OUTSIDE])
def test_a_value_just_outside_each_enum_and_range_is_refused(emulator: Emulator, model: str, field: str,
                                                             value: Any) -> None:
    with pytest.raises(ApiError) as refused:
        _create(emulator, {**_example(model), field: value})
    assert refused.value.status == 400 and field in refused.value.message, refused.value.message


def test_the_outside_cases_cover_every_model_with_an_enum_or_range() -> None:
    assert {model for model, _, _ in OUTSIDE} == {
        model for model, body in api_contract().models.items()
        if any(isinstance(s, dict) and ("enum" in s or "maximum" in s or "anyOf" in s) and name != "model"
               for name, s in body.schema["properties"].items())}
    # every duration kind: a range, a fixed list, a range with -1, 0 or "auto" beside it
    assert ("seedance-2.5-text-to-video", "duration", 31) in OUTSIDE
    assert ("veo-3.1-generate-preview", "duration", 5) in OUTSIDE
    assert ("gemini-omni-flash-text-to-video", "duration", 2) in OUTSIDE
    assert len(registry()) == 74


@pytest.mark.parametrize("alias", sorted(registry().aliases))
def test_aliases_answer_as_their_targets(emulator: Emulator, alias: str) -> None:
    target = registry().aliases[alias]
    answer = _create(emulator, {**_example(target), "model": alias})
    assert answer["model"] == target


def test_a_retired_id_is_refused_naming_its_successor(emulator: Emulator) -> None:
    with pytest.raises(ApiError) as refused:
        _create(emulator, {"model": "seedance-2.0", "prompt": "x"})
    assert refused.value.status == 400 and "seedance-2.0-text-to-video" in refused.value.message


def test_a_custom_element_task_ends_with_an_element_id(emulator: Emulator) -> None:
    account = emulator.authenticate(KEY)
    task, _ = emulator.create_task(account, _example("kling-custom-element"))
    emulator.advance(3600)
    body = task_body(emulator.task(task.id), emulator.now(), "http://x")
    assert body["status"] == "completed" and "results" not in body
    assert body["result_data"]["element_id"].isdigit()


def test_mov_output_is_served_as_quicktime(emulator: Emulator) -> None:
    account = emulator.authenticate(KEY)
    task, _ = emulator.create_task(account, {"model": "seedance-2.5-text-to-video", "prompt": "a mov",
                                             "duration": 4, "output_format": "mov"})
    emulator.advance(3600)
    assert task_body(emulator.task(task.id), emulator.now(), "http://x")["results"][0].endswith(".mov")


def test_seedance_25_task_type_constraint_fails_the_task_later_and_refunds(emulator: Emulator) -> None:
    account = emulator.authenticate(KEY)
    body = {"model": "seedance-2.5-reference-to-video", "prompt": "Replace the hat", "aspect_ratio": "16:9",
            "image_urls": ["https://example.com/a.jpg"]}
    task, _ = emulator.create_task(account, body)
    emulator.advance(3600)
    done = task_body(emulator.task(task.id), emulator.now(), "http://x")
    assert done["status"] == "failed" and done["error"]["code"] == "invalid_parameters"
    assert emulator.task(task.id).settled == "refunded"


def test_price_overrides_per_user_group(tmp_path: Path) -> None:
    prices = tmp_path / "prices.yaml"
    prices.write_text("models:\n  kling-o3-text-to-video:\n    - {quality: 720p, sound: false, credits: 4}\n"
                      "user_groups:\n  vip:\n    kling-o3-text-to-video:\n      - {quality: 720p, credits: 2}\n")
    emulator = Emulator(Settings(speed=0, prices=str(prices)))
    body = {"model": "kling-o3-text-to-video", "prompt": "x", "duration": 5}
    assert _create(emulator, body)["usage"]["credits_reserved"] == 20
    emulator.put_account("sk-every-model-0001", Decimal(1000), None, "vip")
    answer = _create(emulator, body)
    assert answer["usage"] == {"billing_rule": "per_second", "credits_reserved": 10, "user_group": "vip"}


def test_a_bad_price_file_is_refused_naming_the_setting(tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text('{"models": {"no-such-model": [{"credits": 1}]}}')
    with pytest.raises(ValueError, match=r"EVOLINK_MOCK_PRICES.*no-such-model"):
        Emulator(Settings(speed=0, prices=str(prices)))


@pytest.mark.parametrize(("schema", "shown", "shortest", "outside"), [
    ({"type": "integer", "minimum": 3, "maximum": 15}, "3-15", 3, [("below_min", 2), ("above_max", 16)]),
    ({"type": "integer", "enum": [4, 6, 8]}, "4, 6, 8", 4, [("below_min", 3), ("above_max", 9), ("not_listed", 5)]),
    ({"type": "integer", "anyOf": [{"minimum": 2, "maximum": 30}, {"const": -1}]}, "2-30, -1", 2,
     [("below_min", 1), ("above_max", 31)]),
    ({"type": "number", "anyOf": [{"const": 0}, {"minimum": 2, "maximum": 10}]}, "2-10, 0", 2,
     [("below_min", 1), ("above_max", 11)]),
    ({"type": ["integer", "string"], "anyOf": [{"type": "integer", "minimum": 3, "maximum": 10}, {"const": "auto"}]},
     "3-10, auto", 3, [("below_min", 2), ("above_max", 11)]),
    ({"type": "integer", "enum": [-1]}, "-1", None, [("below_min", -2), ("above_max", 0)]),
    (None, "", None, []),
])
def test_durations_of_every_kind(schema: Any, shown: str, shortest: int | None, outside: list) -> None:
    durations = Durations.of(schema)
    assert (durations.describe(), durations.shortest, durations.outside()) == (shown, shortest, outside)
    assert all(durations.accepts(v) for v in durations.seconds) and not any(durations.accepts(v) for _, v in outside)
    assert durations.accepts(2.5) == (isinstance(schema, dict) and schema["type"] == "number")
