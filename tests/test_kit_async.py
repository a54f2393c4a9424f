"""The in-process fixture with async clients and with the test's own respx routers.

Issue 15, failure 9: nothing in the in-process path blocks a running event loop: a ``latency``
fault delays only its request, the client's timeout applies, other coroutines run, and
``await handle.aadvance()`` waits for callback deliveries without blocking the loop (the
receiver may run on it). Sync clients keep working.

Issue 15, failure 10: the fixtures compose with ``respx_mock`` and ``respx.mock`` in either
order: a route the test set for another host answers, and the API still reaches the emulator.
"""
from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import respx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contracts.handle import EvolinkHandle

T2V = "kling-o3-text-to-video"
OTHER = "https://other.example.test/v1/thing"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _key(handle: EvolinkHandle) -> dict[str, str]:
    return {"Authorization": f"Bearer {handle.api_key}"}


# -- 9: no blocked event loop ----------------------------------------------------------------------
@pytest.mark.anyio
async def test_issue_input_latency_times_out_an_async_client_and_the_loop_runs_on(evolink_mock: EvolinkHandle
                                                                                   ) -> None:
    """A 2000 ms latency fault and ``AsyncClient(timeout=0.5)``: a ReadTimeout, while another coroutine runs."""
    evolink_mock.fault("latency", route="credits", latency_ms=2000)
    loop = asyncio.get_running_loop()
    started, ran_at = loop.time(), []

    async def poll() -> None:
        async with httpx.AsyncClient(base_url=evolink_mock.base_url, timeout=0.5) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get("/v1/credits", headers=_key(evolink_mock))

    async def meanwhile() -> None:
        await asyncio.sleep(0)  # once the request is under way
        ran_at.append(loop.time() - started)

    await asyncio.gather(poll(), meanwhile())
    assert ran_at[0] < 0.5  # while the request waited, not after a loop blocked by the fault's 2 s


def test_a_sync_client_gets_its_timeout_too(evolink_mock: EvolinkHandle) -> None:
    evolink_mock.fault("latency", route="credits", latency_ms=2000, times=1)
    with httpx.Client(base_url=evolink_mock.base_url, timeout=0.5, headers=_key(evolink_mock)) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.get("/v1/credits")
        evolink_mock.clear_faults()
        assert http.get("/v1/credits").status_code == 200


@pytest.mark.anyio
async def test_a_short_latency_within_the_timeout_answers(evolink_mock: EvolinkHandle) -> None:
    rule = evolink_mock.fault("latency", route="credits", latency_ms=50, times=1)
    async with httpx.AsyncClient(base_url=evolink_mock.base_url, timeout=None) as http:
        response = await http.get("/v1/credits", headers=_key(evolink_mock))
    assert response.status_code == 200 and rule["latency_ms"] == 50


@pytest.mark.anyio
async def test_a_timed_out_create_still_creates_the_task_as_a_server_would(evolink_mock: EvolinkHandle) -> None:
    """The client gave up; the emulator, like a server, finishes the request: the task exists, reserved."""
    created = asyncio.Event()
    loop = asyncio.get_running_loop()
    def changed() -> None:  # the emulator's notice of new callback work: a task with a callback_url
        loop.call_soon_threadsafe(created.set)

    evolink_mock.emulator.on_change(changed)
    evolink_mock.fault("latency", route="create", latency_ms=300, times=1)
    try:
        async with httpx.AsyncClient(base_url=evolink_mock.base_url, timeout=0.05) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.post("/v1/videos/generations", headers=_key(evolink_mock),
                                json={"model": T2V, "prompt": "p", "callback_url": "https://hooks.example.com/h"})
        await asyncio.wait_for(created.wait(), 30)
    finally:
        evolink_mock.emulator.off_change(changed)
    assert len(evolink_mock.tasks()) == 1 and evolink_mock.account()["reserved"] == 27


class LoopReceiver:
    """A callback receiver served by uvicorn on the test's own event loop."""

    def __init__(self) -> None:
        self.bodies: list[Any] = []

        async def hook(request: Request) -> Response:
            self.bodies.append(await request.json())
            return Response(status_code=204)

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)  # connections wait in the backlog until uvicorn accepts them
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))


@pytest.fixture
async def loop_receiver() -> AsyncIterator[LoopReceiver]:
    receiver = LoopReceiver()
    serving = asyncio.create_task(receiver.server.serve(sockets=[receiver.sock]))
    yield receiver
    receiver.server.should_exit = True
    await serving


@pytest.mark.anyio
async def test_aadvance_delivers_callbacks_to_a_receiver_on_the_same_loop(evolink_mock: EvolinkHandle,
                                                                         loop_receiver: LoopReceiver) -> None:
    """``advance()`` would block the loop the receiver runs on; ``await aadvance()`` lets it answer."""
    async with httpx.AsyncClient(base_url=evolink_mock.base_url, headers=_key(evolink_mock)) as http:
        created = (await http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p",
                                                                   "callback_url": loop_receiver.url})).json()
    now = await evolink_mock.aadvance(3600)
    assert now == pytest.approx(evolink_mock.now())
    assert [body["id"] for body in loop_receiver.bodies] == [created["id"]]
    [attempt] = evolink_mock.callbacks(created["id"])
    assert (attempt["state"], attempt["status_code"]) == ("delivered", 204)


@pytest.mark.anyio
async def test_the_sync_advance_warns_inside_a_running_loop(evolink_mock: EvolinkHandle) -> None:
    with pytest.warns(RuntimeWarning, match="aadvance"):
        evolink_mock.advance(1)


# -- 10: the test's own respx routers ------------------------------------------------------------
def _both(handle: EvolinkHandle) -> tuple[int, int]:
    """A request for another host and one for the API, through one sync client."""
    with httpx.Client() as http:
        other = http.get(OTHER).status_code
        api = http.get(f"{handle.base_url}/v1/credits", headers=_key(handle)).status_code
    return other, api


def test_issue_input_evolink_mock_before_respx_mock(evolink_mock: EvolinkHandle, respx_mock: respx.MockRouter
                                                    ) -> None:
    """Issue 15, failure 10: with ``evolink_mock`` first, the route set on ``respx_mock`` was bypassed."""
    route = respx_mock.get(OTHER).respond(201, json={"mocked": True})
    assert _both(evolink_mock) == (201, 200)
    assert route.call_count == 1


def test_respx_mock_before_evolink_mock(respx_mock: respx.MockRouter, evolink_mock: EvolinkHandle) -> None:
    route = respx_mock.get(OTHER).respond(202)
    assert _both(evolink_mock) == (202, 200)
    assert route.call_count == 1


def test_respx_mock_as_a_context_manager_inside_the_test(evolink_mock: EvolinkHandle) -> None:
    with respx.mock(assert_all_called=True) as router:
        router.get(OTHER).respond(203)
        assert _both(evolink_mock) == (203, 200)


@pytest.mark.anyio
async def test_an_async_client_reaches_both(evolink_mock: EvolinkHandle, respx_mock: respx.MockRouter) -> None:
    respx_mock.get(OTHER).respond(204)
    async with httpx.AsyncClient() as http:
        assert (await http.get(OTHER)).status_code == 204
        assert (await http.get(f"{evolink_mock.base_url}/v1/credits", headers=_key(evolink_mock))).status_code == 200


def test_a_route_naming_the_api_overrides_the_emulator(evolink_mock: EvolinkHandle,
                                                       respx_mock: respx.MockRouter) -> None:
    """A test may stub one API answer itself; a catch-all route of its router does not take the API over."""
    respx_mock.get(f"{evolink_mock.base_url}/v1/credits").respond(503, json={"stubbed": True})
    respx_mock.route().respond(299)
    with httpx.Client() as http:
        assert http.get(f"{evolink_mock.base_url}/v1/credits", headers=_key(evolink_mock)).status_code == 503
        assert http.get(f"{evolink_mock.base_url}/v1/tasks/task-unified-1234567890-abcdefgh",
                        headers=_key(evolink_mock)).status_code == 404
        assert http.get("https://anything.example.test/").status_code == 299
