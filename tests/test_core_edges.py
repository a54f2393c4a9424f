"""The core's guards against silently ignoring an input: rules read only what they declare, every
fault kind has an answer and unknown ones are refused, and a model without a field the core reads
(quality, aspect ratio, duration) still works."""
from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from contracts.factories import RequestFactory
from mock_server import Emulator, Settings
from mock_server.contract import ApiContract, api_contract, load_yaml
from mock_server.core import faults, rules
from mock_server.errors import ApiError
from mock_server.families import Registry, RegistryError, registry
from mock_server.http.api import TERMINAL_ANSWERS
from mock_server.resources import contract_path

KEY = "Bearer sk-core-edges-0001"


class ReadLog(Mapping[str, Any]):
    """A body that records which top-level fields are read."""

    def __init__(self, body: Mapping[str, Any]) -> None:
        self._body = dict(body)
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> Any:
        self.read.add(name)
        return self._body[name]

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str):
            self.read.add(name)
        return name in self._body

    def __iter__(self) -> Iterator[str]:
        return iter(self._body)

    def __len__(self) -> int:
        return len(self._body)

    def keys(self) -> Any:
        return self._body.keys()


@pytest.mark.parametrize("seed", range(3))
def test_every_rule_reads_only_the_fields_it_declares(seed: int) -> None:
    make = RequestFactory(seed)
    checked = set()
    for name, body in make.variants():
        spec = registry()[body["model"]]
        context = rules.RuleContext(allow_local_callbacks=False, default_duration=spec.defaults.get("duration"))
        for rule in rules.RULES:
            logged = ReadLog({**body, "prompt": "<<<image_1>>> " + body.get("prompt", "")})
            rule.check(rules.RequestView(spec, logged), context)
            assert logged.read <= rule.reads, (rule.name, name, logged.read - rule.reads)
            checked.add(rule.name)
    assert checked == {rule.name for rule in rules.RULES}


def test_a_rule_runs_whenever_the_body_has_a_field_it_reads() -> None:
    """No hidden gate: a body with only a prompt still meets the prompt rules."""
    emulator = Emulator(Settings(speed=0))
    account = emulator.authenticate(KEY)
    with pytest.raises(ApiError) as refused:
        emulator.create_task(account, {"model": "kling-o3-text-to-video", "prompt": "<<<video_1>>> walks"})
    assert refused.value.rule == "prompt_references"


def test_every_terminal_fault_kind_has_an_answer_and_unknown_kinds_are_refused() -> None:
    assert set(TERMINAL_ANSWERS) == set(faults.TERMINAL)
    emulator = Emulator(Settings(speed=0))
    with pytest.raises(ApiError) as refused:
        emulator.add_fault({"kind": "meltdown"})
    assert refused.value.status == 400 and "meltdown" in refused.value.message
    with pytest.raises(ApiError):
        emulator.add_fault({"kind": "drop", "blast_radius": 3})
    assert emulator.faults() == []


def _contract_without(*fields: str) -> ApiContract:
    """The contract with text-to-video's ``fields`` removed (and its prices keyed without them)."""
    spec = load_yaml(contract_path())
    schema = spec["components"]["schemas"]["TextToVideoRequest"]
    for name in fields:
        schema["properties"].pop(name)
    if "quality" in fields:
        pricing = schema["x-evolink"]["pricing"]
        pricing["rates"] = [{k: v for k, v in rate.items() if k != "quality"}
                            for rate in pricing["rates"] if rate["quality"] == "720p"]
    return ApiContract(spec)


def test_a_model_without_quality_aspect_ratio_or_duration_is_served() -> None:
    emulator = Emulator(Settings(speed=0), contract=_contract_without("quality", "aspect_ratio", "duration"))
    account = emulator.authenticate(KEY)
    task, ignored = emulator.create_task(account, {"model": "kling-o3-text-to-video", "prompt": "bare",
                                                  "quality": "1080p", "sound": "on"})
    assert ignored == ["quality"]
    assert (task.quality, task.aspect_ratio, task.seconds, str(task.price)) == (None, "16:9", 3, "21.6108")


def test_prices_must_cover_every_quality_the_schema_accepts() -> None:
    spec = load_yaml(contract_path())
    rates = spec["components"]["schemas"]["TextToVideoRequest"]["x-evolink"]["pricing"]["rates"]
    rates[:] = [rate for rate in rates if rate["quality"] != "1080p"]
    with pytest.raises(RegistryError, match="1080p"):
        Registry(ApiContract(spec))


def test_unknown_capabilities_are_refused() -> None:
    spec = copy.deepcopy(load_yaml(contract_path()))
    spec["components"]["schemas"]["TextToVideoRequest"]["x-evolink"]["capabilities"].append("telepathy")
    with pytest.raises(RegistryError, match="telepathy"):
        Registry(ApiContract(spec))


def test_the_registry_is_the_contract_s_models() -> None:
    assert list(registry()) == list(api_contract().models)
    assert all(spec.family and spec.rates for spec in registry().values())


def test_the_quote_shortcut_prices_as_the_general_path() -> None:
    """Models billed rate x duration take a shortcut on create; it must give what the general path gives."""
    from mock_server.core import pricing

    make = RequestFactory(9)
    plain = [spec for spec in registry().values() if spec.plain_seconds]
    assert plain, "no model takes the shortcut"
    for spec in plain:
        for _, body in (pair for pair in make.variants() if pair[1]["model"] in (spec.id, *spec.aliases)):
            values = {**spec.defaults, **body}
            seconds = pricing.output_seconds(spec, values, None)
            rate = spec.rates[spec.rate_key(spec.tier(values), spec.sound(values), seconds)]
            general = pricing.credits(rate.credits * pricing.billed_quantity(spec, seconds, values, None)
                                      * pricing.factor(spec, values))
            assert pricing.quote(spec, values, None) == (seconds, general, rate.assumed), (spec.id, body)
