"""The client kit: the pytest plugin from outside this repo, the handle, request conformance, factories."""
from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import httpx
import jsonschema_rs
import pytest

from contracts.conformance import check_request
from contracts.factories import RequestFactory
from contracts.handle import ContractViolations, EvolinkHandle
from contracts.receiver import CallbackReceiver
from mock_server.contract import api_contract

OUTSIDE = Path(__file__).parent / "outside_project" / "test_outside.py"
T2V = "kling-o3-text-to-video"
CREATE = "https://api.evolink.ai/v1/videos/generations"


@pytest.fixture(scope="module")
def outside_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ElementTree.Element]:
    """Run the outside project once, in a temporary directory, with two workers."""
    project = tmp_path_factory.mktemp("outside")
    shutil.copy(OUTSIDE, project / "test_outside.py")
    report = project / "report.xml"
    result = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "-W",
                             "always::contracts.conformance.ContractWarning", f"--junitxml={report}", "-rA"],
                            cwd=project, capture_output=True, text=True, timeout=300)
    assert report.exists(), result.stdout + result.stderr
    cases = {case.get("name"): case for case in ElementTree.parse(report).iter("testcase")}
    cases["__output__"] = ElementTree.Element("output", text=result.stdout)  # type: ignore[call-arg]
    return cases


def _failure(case: ElementTree.Element) -> str | None:
    found = case.find("failure")
    if found is None:
        found = case.find("error")
    return None if found is None else (found.get("message", "") + (found.text or ""))


def test_outside_project_passes_with_both_fixtures_sync_async_and_urllib(outside_run: dict) -> None:
    expected_pass = [name for name in outside_run if name != "__output__" and "must_fail" not in name]
    assert len(expected_pass) >= 8
    for name in expected_pass:
        assert _failure(outside_run[name]) is None, (name, _failure(outside_run[name]))


@pytest.mark.parametrize(("test", "fragments"), [
    ("test_duration_as_a_string_must_fail", ["duration [type]", "duration must be an integer", 'sent "5"']),
    ("test_missing_model_must_fail", ["model [discriminator]", "model is required"]),
])
def test_a_nonconforming_client_fails_its_test_naming_the_field(outside_run: dict, test: str,
                                                                fragments: list[str]) -> None:
    failure = _failure(outside_run[test])
    assert failure is not None, f"{test} should have failed"
    assert "did not conform to openapi.yaml" in failure and "POST /v1/videos/generations" in failure
    for fragment in fragments:
        assert fragment in failure


def test_unknown_fields_warn_without_failing(outside_run: dict) -> None:
    assert _failure(outside_run["test_unknown_field_warns"]) is None
    output = outside_run["__output__"].get("text") or ""
    assert "ContractWarning" in output and "negative_prompt" in output


# -- the in-process fixture, used directly --------------------------------------------------
def test_in_process_drop_latency_and_errors_reach_the_client(evolink_mock: EvolinkHandle) -> None:
    headers = {"Authorization": f"Bearer {evolink_mock.api_key}"}
    with httpx.Client(base_url=evolink_mock.base_url, headers=headers) as http:
        evolink_mock.fault("drop", route="credits", times=1)
        with pytest.raises(httpx.RemoteProtocolError):
            http.get("/v1/credits")
        evolink_mock.fault("rate_limit", route="credits", times=1, retry_after=4)
        limited = http.get("/v1/credits")
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "4"
        assert http.get("/v1/credits").status_code == 200


def test_in_process_callbacks_and_cancel(evolink_mock: EvolinkHandle) -> None:
    with CallbackReceiver() as hook, httpx.Client(base_url=evolink_mock.base_url) as http:
        hook.script(500)
        task = http.post("/v1/videos/generations", headers={"Authorization": f"Bearer {evolink_mock.api_key}",
                                                            "X-Mock-Scenario": "queue=0;processing=100"},
                         json={"model": T2V, "prompt": "p", "callback_url": hook.url}).json()
        evolink_mock.advance(50)
        cancelled = evolink_mock.cancel(task["id"])
        assert cancelled["task"]["error"]["code"] == "request_cancelled" and cancelled["billing"]["state"] == "refunded"
        evolink_mock.advance(1)
        attempts = evolink_mock.callbacks(task["id"])
        assert [(a["attempt"], a.get("status_code")) for a in attempts] == [(1, 500), (2, 200)]
        assert hook.received[-1].json()["error"]["code"] == "request_cancelled"


@pytest.mark.evolink(base_url="https://staging.example.test", credits="16.2")
def test_marker_base_url_and_credits(evolink_mock: EvolinkHandle) -> None:
    assert evolink_mock.base_url == "https://staging.example.test"
    with httpx.Client(base_url=evolink_mock.base_url) as http:
        response = http.post("/v1/videos/generations", headers={"Authorization": f"Bearer {evolink_mock.api_key}"},
                             json={"model": T2V, "prompt": "p", "duration": 3})
    assert response.status_code == 200
    assert response.json()["usage"]["credits_reserved"] == pytest.approx(16.2)
    assert evolink_mock.account()["balance"] == 0


def test_handle_controls(evolink_mock: EvolinkHandle) -> None:
    assert evolink_mock.account()["granted"] == 10000
    assert evolink_mock.grant(50, models=[T2V])["models"] == [T2V]
    with pytest.raises(ValueError, match="latency_ms is required"):
        evolink_mock.fault("latency")
    with pytest.raises(ValueError, match="not a task error code"):
        evolink_mock.scenario("fail=nope")
    rule = evolink_mock.scenario("stuck", times=1)
    assert rule["kind"] == "scenario" and rule["times"] == 1
    evolink_mock.clear_faults()
    assert evolink_mock.emulator.faults() == []
    with pytest.raises(ValueError, match="not found"):
        evolink_mock.task("task-unified-1234567890-abcdefgh")


def test_violations_are_collected_and_fail_at_the_end(evolink_mock: EvolinkHandle) -> None:
    with httpx.Client(base_url=evolink_mock.base_url) as http:
        http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"})  # no key
        with evolink_mock.nonconforming():
            http.post("/v1/videos/generations", headers={"Authorization": f"Bearer {evolink_mock.api_key}"},
                      json={"model": T2V, "duration": 99})
    [report] = evolink_mock.violations
    assert report.problems[0].field == "Authorization"
    with pytest.raises(ContractViolations, match="Authorization"):
        evolink_mock.finish()
    evolink_mock.strict = False  # the violation was the point of this test


# -- check_request, for teams using other mocking tools -------------------------------------
def test_check_request_accepts_a_valid_request() -> None:
    report = check_request("POST", CREATE, {"Authorization": "Bearer sk-x", "Content-Type": "application/json"},
                           b'{"model": "kling-o3-text-to-video", "prompt": "p"}')
    assert report.ok and report.operation == "createVideoGeneration" and report.unknown_fields == []


@pytest.mark.parametrize(("method", "url", "body", "field", "rule"), [
    ("POST", CREATE, {"model": T2V, "prompt": "p", "duration": "5"}, "duration", "type"),
    ("POST", CREATE, {"prompt": "p"}, "model", "discriminator"),
    ("POST", CREATE, {"model": T2V}, "prompt", "required"),
    ("POST", CREATE, {"model": T2V, "prompt": "<<<element_1>>>"}, "", "prompt_references"),
    ("POST", CREATE, b"{not json", "", "json"),
    ("GET", "https://api.evolink.ai/v1/tasks/nope", None, "task_id", "pattern"),
    ("DELETE", "https://api.evolink.ai/v1/credits", None, "", "operation"),
])
def test_check_request_names_field_and_rule(method: str, url: str, body: object, field: str, rule: str) -> None:
    report = check_request(method, url, {"Authorization": "Bearer sk-x", "Content-Type": "application/json"}, body)
    assert not report.ok
    assert (report.problems[0].field, report.problems[0].rule) == (field, rule), str(report)


# -- factories ----------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(25))
def test_factory_bodies_conform(seed: int) -> None:
    for name, body in RequestFactory(seed).variants():
        report = check_request("POST", CREATE, {"Authorization": "Bearer sk-x"}, body)
        assert report.ok and not report.unknown_fields, (name, str(report))


@pytest.mark.evolink(credits=10**7)  # every variant of every model
def test_factory_bodies_are_accepted_by_the_emulator(evolink_mock: EvolinkHandle) -> None:
    with httpx.Client(base_url=evolink_mock.base_url, headers={"Authorization": f"Bearer {evolink_mock.api_key}"},
                      timeout=30) as http:
        for name, body in RequestFactory(7).variants():
            body.pop("callback_url", None)
            response = http.post("/v1/videos/generations", json=body)
            assert response.status_code == 200, (name, response.text)


def test_factories_are_seeded() -> None:
    assert list(RequestFactory(3).variants()) == list(RequestFactory(3).variants())
    assert list(RequestFactory(3).variants()) != list(RequestFactory(4).variants())


@pytest.mark.parametrize("status", ["pending", "processing", "completed", "failed"])
def test_factory_task_bodies_match_the_contract(status: str) -> None:
    validator = jsonschema_rs.validator_for(api_contract().schemas["TaskDetail"])
    body = RequestFactory(1).task(status)
    assert validator.is_valid(body), [e.message for e in validator.iter_errors(body)]


@pytest.mark.parametrize("ending", ["completed", "failed", "cancelled"])
def test_factory_callback_bodies_match_the_contract(ending: str) -> None:
    validator = jsonschema_rs.validator_for(api_contract().schemas["TaskDetail"])
    assert validator.is_valid(RequestFactory(2).callback(ending))
    with pytest.raises(ValueError):
        RequestFactory(2).callback("processing")
