"""An outside project's tests: only the installed evolink-mock package, no conftest of ours.

Run by tests/test_kit.py in a temporary directory with ``-n 2``; names ending in
``_must_fail`` are expected to fail (a client that breaks the contract).
"""
import json
import urllib.request

import httpx
import pytest

T2V = "kling-o3-text-to-video"


def _create(http, key, body):
    return http.post("/v1/videos/generations", json=body, headers={"Authorization": f"Bearer {key}"})


def test_sync_httpx_in_process(evolink_mock):
    with httpx.Client(base_url="https://api.evolink.ai") as http:
        task = _create(http, evolink_mock.api_key, {"model": T2V, "prompt": "sync"}).json()
        evolink_mock.advance(3600)
        done = http.get(f"/v1/tasks/{task['id']}", headers={"Authorization": f"Bearer {evolink_mock.api_key}"})
        assert done.json()["status"] == "completed"
        assert http.get(done.json()["results"][0]).content[4:8] == b"ftyp"


@pytest.mark.anyio
async def test_async_httpx_in_process(evolink_mock):
    async with httpx.AsyncClient(base_url="https://api.evolink.ai") as http:
        headers = {"Authorization": f"Bearer {evolink_mock.api_key}"}
        response = await http.post("/v1/videos/generations", json={"model": T2V, "prompt": "async"}, headers=headers)
        assert response.status_code == 200
        credits = await http.get("/v1/credits", headers=headers)
        assert credits.json()["data"]["token"]["remaining_credits"] == 10000 - 27


def test_urllib_against_the_live_server(evolink_server):
    request = urllib.request.Request(f"{evolink_server.base_url}/v1/credits",
                                     headers={"Authorization": f"Bearer {evolink_server.api_key}"})
    with urllib.request.urlopen(request) as response:
        assert json.load(response)["success"] is True


@pytest.mark.parametrize("n", range(4))
def test_each_test_gets_a_fresh_emulator(evolink_mock, evolink_server, n):
    for handle in (evolink_mock, evolink_server):
        assert handle.tasks() == []
        handle.fault("server_error", route="credits")  # would leak into the next test if state were shared


@pytest.mark.evolink(credits=30, seed=5)
def test_marker_sets_the_grant(evolink_server):
    with httpx.Client(base_url=evolink_server.base_url) as http:
        assert _create(http, evolink_server.api_key, {"model": T2V, "prompt": "a"}).status_code == 200
        assert _create(http, evolink_server.api_key, {"model": T2V, "prompt": "b"}).status_code == 402


def test_duration_as_a_string_must_fail(evolink_mock):
    with httpx.Client(base_url="https://api.evolink.ai") as http:
        _create(http, evolink_mock.api_key, {"model": T2V, "prompt": "x", "duration": "5"})


def test_missing_model_must_fail(evolink_server):
    with httpx.Client(base_url=evolink_server.base_url) as http:
        _create(http, evolink_server.api_key, {"prompt": "x"})


def test_unknown_field_warns(evolink_mock):
    with httpx.Client(base_url="https://api.evolink.ai") as http:
        body = {"model": T2V, "prompt": "x", "negative_prompt": "y"}
        assert _create(http, evolink_mock.api_key, body).status_code == 200


@pytest.fixture
def anyio_backend():
    return "asyncio"
