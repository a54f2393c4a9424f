"""Run by tests/test_second_model.py with EVOLINK_MOCK_CONTRACT pointing at a contract that adds
``kling-test-text-to-video``: the Kling O3 text-to-video schema under another id and another price.

Nothing in the emulator or the kit names that model: validation, price, lifecycle, factories,
request conformance, drift and the schemathesis suite must all pick it up from the contract.
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from contracts.cli import main
from contracts.conformance import check_request
from contracts.drift.probes import catalogue
from contracts.factories import RequestFactory
from contracts.server import LiveServer
from mock_server import Settings
from mock_server.families import registry

MODEL = "kling-test-text-to-video"
CREATE = "https://api.evolink.ai/v1/videos/generations"


def test_the_registry_has_the_model_in_its_family() -> None:
    spec = registry()[MODEL]
    assert spec.family == "kling" and spec.has("multi_shot") and str(spec.rate("720p", False).credits) == "3.3"
    assert os.environ["EVOLINK_MOCK_CONTRACT"].endswith("openapi.yaml")


def test_validation_price_lifecycle_and_download(evolink_mock) -> None:
    headers = {"Authorization": f"Bearer {evolink_mock.api_key}"}
    with httpx.Client(base_url="https://api.evolink.ai", headers=headers) as http:
        with evolink_mock.nonconforming():
            refused = http.post("/v1/videos/generations", json={"model": MODEL, "prompt": "x", "duration": 16})
        assert refused.status_code == 400 and "duration" in refused.json()["error"]["message"]
        created = http.post("/v1/videos/generations", json={"model": MODEL, "prompt": "a test model"}).json()
        assert created["model"] == MODEL and created["usage"]["credits_reserved"] == 16.5  # 5 s x 3.3
        evolink_mock.advance(3600)
        done = http.get(f"/v1/tasks/{created['id']}").json()
        assert done["status"] == "completed" and done["progress"] == 100
        assert http.get(done["results"][0]).content[4:8] == b"ftyp"
    assert evolink_mock.account()["charged"] == 16.5


def test_factories_and_conformance_cover_it(evolink_mock) -> None:
    make = RequestFactory(5)
    names = [name for name, _ in make.variants()]
    assert f"{MODEL}-multi-shot" in names and len(names) == len(set(names))
    for name, body in make.variants():
        if body["model"] == MODEL:
            assert check_request("POST", CREATE, {"Authorization": "Bearer sk-x"}, body).ok, name
    bad = check_request("POST", CREATE, {"Authorization": "Bearer sk-x"}, {"model": MODEL, "duration": "5"})
    assert [(p.field, p.rule) for p in bad.problems][:1] == [("duration", "type")]


def test_drift_probes_it_without_duplicate_names(capsys) -> None:
    names = [probe.name for probe in catalogue()]
    assert f"duration_above_max_{MODEL}" in names and len(names) == len(set(names))
    with LiveServer(Settings(speed=0)) as server:
        code = main(["drift", "--base-url", server.base_url, "--api-key", "sk-second-model-0001"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"ok      duration_below_min_{MODEL}" in out


def test_the_schemathesis_suite_passes_with_it() -> None:
    with LiveServer(Settings(speed=0)) as server:
        script = Path(sys.executable).with_name("evolink-mock")
        result = subprocess.run([str(script), "contract", "--base-url", server.base_url, "--max-examples", "5",
                                 "--", "-k", f"api_operation or per_model and {MODEL}", "-x", "-rA"],
                                capture_output=True, text=True, timeout=600)
        health = httpx.get(f"{server.base_url}/_mock/openapi.yaml").text
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(rf"PASSED \S*::test_create_per_model\[{re.escape(MODEL)}\]", result.stdout), result.stdout
    assert MODEL in health  # the admin document lists it too
