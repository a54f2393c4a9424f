"""The example client tested with the evolink-mock pytest plugin: no credits, no waiting, no mocks of our own."""
from __future__ import annotations

import json
import urllib.request

import pytest
from evolink_client import AsyncEvoLinkClient, EvoLinkClient, EvoLinkError

from contracts.receiver import CallbackReceiver

T2V = "kling-o3-text-to-video"


@pytest.fixture
def client(evolink_mock):
    """The client as production builds it; its sleep moves the emulator's clock instead of waiting."""
    return EvoLinkClient(api_key=evolink_mock.api_key, sleep=evolink_mock.advance)


def test_generate_wait_download(evolink_mock, client):
    task = client.wait(client.generate(T2V, "a lighthouse at dusk", duration=5))
    assert task["status"] == "completed"
    assert client.download(task)[4:8] == b"ftyp"
    assert client.credits() == 10000 - 27
    assert evolink_mock.account()["charged"] == 27


def test_a_failed_task_raises_with_its_code(evolink_mock, client):
    evolink_mock.scenario("fail=content_policy_violation", times=1)
    with pytest.raises(EvoLinkError) as failure:
        client.wait(client.generate(T2V, "something the policy refuses"))
    assert failure.value.code == "content_policy_violation"
    assert evolink_mock.account()["charged"] == 0  # refunded


def test_rate_limits_are_retried_after_retry_after(evolink_mock, client):
    evolink_mock.fault("rate_limit", route="create", times=2, retry_after=3)
    before = evolink_mock.now()
    client.generate(T2V, "patience")
    assert evolink_mock.now() - before == pytest.approx(6)  # slept 3 s twice, on the mock clock


def test_insufficient_credits_surface_as_402(evolink_mock, client):
    evolink_mock.grant(10)
    with pytest.raises(EvoLinkError) as refused:
        client.generate(T2V, "too expensive", duration=5)
    assert (refused.value.status, refused.value.code) == (402, "insufficient_quota")


def test_validation_errors_name_the_field(evolink_mock, client):
    with evolink_mock.nonconforming(), pytest.raises(EvoLinkError) as refused:
        client.generate(T2V, "too long", duration=30)
    assert refused.value.code == "invalid_request" and "duration" in refused.value.message


def test_callbacks_reach_a_local_receiver(evolink_mock, client):
    with CallbackReceiver() as hook:
        task_id = client.generate(T2V, "with a webhook", callback_url=hook.url)
        evolink_mock.advance(3600)
        [call] = hook.wait_for(1)
    assert call.json()["id"] == task_id and call.json()["status"] == "completed"


@pytest.mark.anyio
async def test_async_client(evolink_mock):
    # aadvance: the clock moves and due callbacks are delivered without blocking this test's event loop
    client = AsyncEvoLinkClient(api_key=evolink_mock.api_key, sleep=evolink_mock.aadvance)
    try:
        task = await client.wait(await client.generate(T2V, "async lighthouse", quality="1080p", sound="on"))
        assert (await client.download(task))[4:8] == b"ftyp"
    finally:
        await client.aclose()
    assert evolink_mock.account()["charged"] == pytest.approx(45.009)  # 9.0018/s x 5 s


def test_any_http_client_against_a_live_server(evolink_server):
    """urllib, not httpx: evolink_server is a real uvicorn on a free port."""
    request = urllib.request.Request(
        f"{evolink_server.base_url}/v1/videos/generations", method="POST",
        data=json.dumps({"model": T2V, "prompt": "over real HTTP"}).encode(),
        headers={"Authorization": f"Bearer {evolink_server.api_key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        task = json.load(response)
    evolink_server.advance(3600)
    assert evolink_server.task(task["id"])["task"]["status"] == "completed"


@pytest.fixture
def anyio_backend():
    return "asyncio"
