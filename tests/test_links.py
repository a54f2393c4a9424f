"""Every absolute link the emulator builds comes from one place (issue 15, failure 2).

``EVOLINK_MOCK_PUBLIC_URL`` when set; else ``X-Forwarded-Proto``/``X-Forwarded-Host`` from a
trusted proxy (``EVOLINK_MOCK_TRUSTED_PROXIES``, loopback by default); else the request's
``Host``. Checked on every place a link shows: the task body, the admin views, the callback
body and the test handle.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import T2V, Api

from contracts.handle import EvolinkHandle
from contracts.receiver import CallbackReceiver
from contracts.server import LiveServer
from mock_server import Settings

PROXIED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "mock.example.test"}


def _completed(http: httpx.Client, key: str, **headers: str) -> str:
    """Create a task that completes within a minute of mock time, complete it; its id."""
    response = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"},
                         headers={"Authorization": f"Bearer {key}", "X-Mock-Scenario": "queue=0;processing=5",
                                  **headers})
    assert response.status_code == 200, response.text
    http.post("/_mock/clock/advance", json={"seconds": 10})
    return str(response.json()["id"])


def _result(http: httpx.Client, key: str, task_id: str, **headers: str) -> str:
    body = http.get(f"/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {key}", **headers}).json()
    return str(body["results"][0])


def test_issue_input_links_behind_a_proxy_use_its_scheme_and_host(api: Api) -> None:
    """Issue 15, failure 2: with X-Forwarded-Proto: https and X-Forwarded-Host the link was
    ``https://127.0.0.1:<port>/files/...``: the proxy's scheme on the internal host."""
    task_id = _completed(api.http, api.key)
    assert _result(api.http, api.key, task_id, **PROXIED) == f"https://mock.example.test/files/{task_id}.mp4"
    view = api.http.get(f"/_mock/tasks/{task_id}", headers=PROXIED).json()
    assert view["task"]["results"] == [f"https://mock.example.test/files/{task_id}.mp4"]


@pytest.mark.parametrize(("headers", "origin"), [
    ({}, "{base}"),
    ({"X-Forwarded-Proto": "https"}, "https://{host}"),  # a proxy that keeps the Host header (ALB style)
    ({"X-Forwarded-Host": "mock.example.test:8443"}, "http://mock.example.test:8443"),
    ({"X-Forwarded-Proto": "HTTPS, http", "X-Forwarded-Host": "edge.example.test, inner.example.test"},
     "https://edge.example.test"),  # a chain: the client-facing (first) entry
    ({"X-Forwarded-Proto": "javascript", "X-Forwarded-Host": "evil host"}, "{base}"),  # garbage is ignored
    ({"X-Forwarded-Host": "[2001:db8::1]:443"}, "http://[2001:db8::1]:443"),
])
def test_forwarded_headers_from_a_trusted_proxy(api: Api, headers: dict[str, str], origin: str) -> None:
    task_id = _completed(api.http, api.key)
    expected = origin.format(base=api.server.base_url, host=f"{api.server.host}:{api.server.port}")
    assert _result(api.http, api.key, task_id, **headers) == f"{expected}/files/{task_id}.mp4"


def test_forwarded_headers_from_an_untrusted_peer_are_ignored() -> None:
    with LiveServer(Settings(speed=0, trusted_proxies="10.0.0.0/8, fd00::/8")) as server, \
            httpx.Client(base_url=server.base_url) as http:
        task_id = _completed(http, "sk-links-untrusted")
        link = _result(http, "sk-links-untrusted", task_id, **PROXIED)
    assert link == f"{server.base_url}/files/{task_id}.mp4"


@pytest.fixture(scope="module")
def public() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, seed=2, allow_local_callbacks=True,
                             public_url="https://cdn.example.test/evolink/")) as server:
        yield server


def test_the_public_url_is_the_base_of_every_link(public: LiveServer) -> None:
    key = "sk-links-public-url"
    base = "https://cdn.example.test/evolink"
    with CallbackReceiver() as hook, httpx.Client(base_url=public.base_url) as http:
        created = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p", "callback_url": hook.url},
                            headers={"Authorization": f"Bearer {key}", "X-Mock-Scenario": "queue=0;processing=5",
                                     **PROXIED})
        task_id = created.json()["id"]
        http.post("/_mock/clock/advance", json={"seconds": 10})
        [callback] = hook.wait_for(1)
        link = f"{base}/files/{task_id}.mp4"
        assert _result(http, key, task_id) == _result(http, key, task_id, **PROXIED) == link
        assert http.get(f"/_mock/tasks/{task_id}").json()["task"]["results"] == [link]
        assert http.get("/_mock/tasks").json()["tasks"][-1]["task"]["results"] == [link]
        assert callback.json()["results"] == [link]
        assert http.get(f"/files/{task_id}.mp4").status_code == 200  # served where it was asked for


@pytest.mark.evolink(public_url="https://files.example.test")
def test_the_handle_shows_links_from_the_public_url(evolink_mock: EvolinkHandle) -> None:
    with httpx.Client(base_url=evolink_mock.base_url, headers={"Authorization": f"Bearer {evolink_mock.api_key}",
                                                               "X-Mock-Scenario": "queue=0;processing=5"}) as http:
        task_id = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"}).json()["id"]
        evolink_mock.advance(10)
        polled = http.get(f"/v1/tasks/{task_id}").json()
    link = f"https://files.example.test/files/{task_id}.mp4"
    assert polled["results"] == [link]
    assert evolink_mock.task(task_id)["task"]["results"] == evolink_mock.tasks()[0]["task"]["results"] == [link]


def test_without_settings_the_handle_shows_the_fixture_base(evolink_mock: EvolinkHandle) -> None:
    with httpx.Client(base_url=evolink_mock.base_url, headers={"Authorization": f"Bearer {evolink_mock.api_key}",
                                                               "X-Mock-Scenario": "queue=0;processing=5"}) as http:
        task_id = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"}).json()["id"]
    evolink_mock.advance(10)
    assert evolink_mock.task(task_id)["task"]["results"] == [f"https://api.evolink.ai/files/{task_id}.mp4"]


@pytest.mark.parametrize(("env", "named"), [
    ({"EVOLINK_MOCK_PUBLIC_URL": "cdn.example.test"}, "EVOLINK_MOCK_PUBLIC_URL"),
    ({"EVOLINK_MOCK_PUBLIC_URL": "ftp://cdn.example.test"}, "EVOLINK_MOCK_PUBLIC_URL"),
    ({"EVOLINK_MOCK_PUBLIC_URL": "https://cdn.example.test/?x=1"}, "EVOLINK_MOCK_PUBLIC_URL"),
    ({"EVOLINK_MOCK_PUBLIC_URL": "https://user:pw@cdn.example.test"}, "EVOLINK_MOCK_PUBLIC_URL"),
    ({"EVOLINK_MOCK_TRUSTED_PROXIES": "10.0.0.0/33"}, "EVOLINK_MOCK_TRUSTED_PROXIES"),
    ({"EVOLINK_MOCK_TRUSTED_PROXIES": "proxy.internal"}, "EVOLINK_MOCK_TRUSTED_PROXIES"),
    ({"EVOLINK_MOCK_CORS_ORIGINS": "app.example.test"}, "EVOLINK_MOCK_CORS_ORIGINS"),
    ({"EVOLINK_MOCK_CORS_ORIGINS": "https://app.example.test/path"}, "EVOLINK_MOCK_CORS_ORIGINS"),
    ({"EVOLINK_MOCK_SPEED": "inf"}, "EVOLINK_MOCK_SPEED must be a finite number >= 0"),
    ({"EVOLINK_MOCK_SPEED": "nan"}, "EVOLINK_MOCK_SPEED must be a finite number >= 0"),
    ({"EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS": "2"},
     "EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS must be on (1, true, yes, on) or off (0, false, no, off); got '2'"),
])
def test_bad_settings_are_refused_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        Settings.from_env(env)


@pytest.mark.parametrize(("env", "expected"), [
    ({"EVOLINK_MOCK_PUBLIC_URL": "https://cdn.example.test/evolink/"},
     {"public_url": "https://cdn.example.test/evolink"}),
    ({"EVOLINK_MOCK_TRUSTED_PROXIES": "*"}, {"trusted_proxies": "*"}),
    ({"EVOLINK_MOCK_TRUSTED_PROXIES": "10.1.2.3, 192.168.0.0/16, ::1"},
     {"trusted_proxies": "10.1.2.3, 192.168.0.0/16, ::1"}),
    ({"EVOLINK_MOCK_CORS_ORIGINS": "https://a.example.test, http://localhost:5173"},
     {"cors_origin_list": ["https://a.example.test", "http://localhost:5173"]}),
    ({}, {"public_url": None, "trusted_proxies": "127.0.0.1,::1", "cors_origin_list": []}),
])
def test_good_settings(env: dict[str, str], expected: dict[str, Any]) -> None:
    settings = Settings.from_env(env)
    assert {name: getattr(settings, name) for name in expected} == expected
