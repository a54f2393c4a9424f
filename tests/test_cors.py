"""Browser apps can call the emulator when ``EVOLINK_MOCK_CORS_ORIGINS`` allows them (issue 15, failure 8).

``*`` or a comma list of origins: preflights are answered and answers carry
``Access-Control-Allow-Origin`` (Starlette's CORSMiddleware). Unset, nothing changes:
``OPTIONS`` is a 405 and no CORS header appears.
"""
from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from conftest import T2V, Api, assert_error

from contracts.server import LiveServer
from mock_server import Emulator, Settings

APP = "https://app.example.test"
KEY = {"Authorization": "Bearer sk-cors-browser-app"}
PREFLIGHT = {"Origin": APP, "Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "authorization, content-type"}


@pytest.fixture(scope="module")
def listed() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, cors_origins=f"{APP}, http://localhost:5173")) as server:
        yield server


def test_issue_input_a_preflight_is_answered(listed: LiveServer) -> None:
    """Issue 15, failure 8: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Headers: authorization``
    answered 405."""
    answer = httpx.options(f"{listed.base_url}/v1/videos/generations", headers=PREFLIGHT)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == APP
    assert "POST" in answer.headers["access-control-allow-methods"]
    assert {h.strip() for h in answer.headers["access-control-allow-headers"].lower().split(",")} \
        >= {"authorization", "content-type"}


def test_answers_carry_the_origin_and_expose_the_emulators_headers(listed: LiveServer) -> None:
    with httpx.Client(base_url=listed.base_url, headers={"Origin": APP}) as http:
        created = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p", "negative_prompt": "x"},
                            headers=KEY)
        refused = http.get("/v1/credits")  # no key: an error answer is readable by the app too
        admin = http.get("/_mock/health")
    for answer in (created, refused, admin):
        assert answer.headers["access-control-allow-origin"] == APP, answer.headers
    assert created.status_code == 200 and "x-mock-warnings" in created.headers
    exposed = {h.strip().lower() for h in created.headers["access-control-expose-headers"].split(",")}
    assert {"x-mock-warnings", "retry-after", "content-range", "etag"} <= exposed
    assert refused.status_code == 401


def test_an_origin_not_listed_gets_no_cors(listed: LiveServer) -> None:
    preflight = httpx.options(f"{listed.base_url}/v1/credits", headers={**PREFLIGHT, "Origin": "https://evil.test"})
    assert_error(preflight, 400, "cors_refused", "invalid_request_error", "https://evil.test")
    plain = httpx.get(f"{listed.base_url}/v1/credits", headers={**KEY, "Origin": "https://evil.test"})
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers


def test_headers_over_the_limits_get_431_with_cors_too(listed: LiveServer) -> None:
    """With CORS configured every request takes Starlette's whole stack; the header limits still come first."""
    key = "sk-cors-oversized-headers"
    for method, path in [("GET", "/v1/credits"), ("POST", "/v1/videos/generations"), ("OPTIONS", "/v1/credits")]:
        answer = httpx.request(method, f"{listed.base_url}{path}",
                               headers={**PREFLIGHT, "Authorization": f"Bearer {key}", "X-Pad": "p" * 9000})
        assert_error(answer, 431, "request_headers_too_large", "invalid_request_error", "x-pad")
    assert listed.emulator.account(key) is None


def test_any_origin_with_a_star() -> None:
    with LiveServer(Settings(speed=0, cors_origins="*")) as server:
        answer = httpx.options(f"{server.base_url}/v1/tasks/task-unified-1234567890-abcdefgh",
                               headers={**PREFLIGHT, "Origin": "http://localhost:3000",
                                        "Access-Control-Request-Method": "GET"})
        assert answer.status_code == 200 and answer.headers["access-control-allow-origin"] == "*"
        # a server that swaps emulators (the pytest fixtures) follows the serving one's setting
        server.use(Emulator(Settings(speed=0)))
        assert httpx.options(f"{server.base_url}/v1/credits", headers=PREFLIGHT).status_code == 405


def test_a_server_that_swaps_in_cors_puts_it_on_creates_and_polls() -> None:
    """Without CORS, creates and polls skip Starlette's middleware; a swap to an emulator with origins
    rebuilds the app's stack, and they carry the header again."""
    with LiveServer(Settings(speed=0)) as server, \
            httpx.Client(base_url=server.base_url, headers={"Origin": APP, **KEY}) as http:
        before = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"})
        assert before.status_code == 200 and "access-control-allow-origin" not in before.headers
        server.use(Emulator(Settings(speed=0, cors_origins=APP)))
        created = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"})
        polled = http.get(f"/v1/tasks/{created.json()['id']}")
        for answer in (created, polled):
            assert answer.status_code == 200 and answer.headers.get("access-control-allow-origin") == APP, \
                answer.headers


def test_unset_keeps_todays_answers(api: Api) -> None:
    answer = api.http.options("/v1/videos/generations", headers=PREFLIGHT)
    assert_error(answer, 405, "method_not_allowed", "invalid_request_error")
    assert "access-control-allow-origin" not in answer.headers
    plain = api.http.get("/v1/credits", headers={"Origin": APP})
    assert plain.status_code == 200 and "access-control-allow-origin" not in plain.headers
