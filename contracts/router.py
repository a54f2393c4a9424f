"""In-process emulation: respx routes httpx traffic for the API into the emulator, no socket.

Requests to ``base_url`` (default ``https://api.evolink.ai``) from any httpx client are
checked against the contract and answered by the emulator's ASGI app on the kit's
background loop. An ``AsyncClient`` awaits the answer: its event loop keeps running
(a ``latency`` fault delays only that request). A sync ``Client`` waits for it. Either
way the client's read timeout applies, as against a real server (``httpx.ReadTimeout``).

Other requests go to the network (so callbacks reach a local receiver), unless another
respx router the test started (``respx_mock``, ``respx.mock``) has a route for them:
then that route answers, whichever fixture started first. Such a router may also route
requests for ``base_url`` itself, with a route that names them (not a catch-all).
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from typing import Any

import httpx
import respx
from respx.mocks import Mocker
from starlette.types import Message

from mock_server import Emulator, Settings, create_app
from mock_server.workers.callbacks import CallbackDispatcher

from . import DEFAULT_BASE_URL
from .conformance import Sink
from .loop import kit_loop, run

RESULT_PREFIX = "/files/"
_AWAITED: contextvars.ContextVar[bool] = contextvars.ContextVar("evolink_mock_awaited", default=False)


class _Router(respx.MockRouter):
    """respx's router, telling its side effect whether the client awaits the answer (an ``AsyncClient``)."""

    async def async_handler(self, request: httpx.Request) -> httpx.Response:
        token = _AWAITED.set(True)
        try:
            return await super().async_handler(request)
        finally:
            _AWAITED.reset(token)


def _read_timeout(request: httpx.Request) -> float | None:
    """The client's read timeout (seconds; None: none), which bounds the wait for the answer."""
    timeout = request.extensions.get("timeout") or {}
    read = timeout.get("read")
    return float(read) if read is not None else None


def _timed_out(request: httpx.Request, seconds: float | None) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(f"the emulator did not answer within the client's read timeout ({seconds} s)",
                             request=request)


class InProcessEmulator:
    """An emulator behind a respx router; ``start()`` / ``stop()`` or use it as a context manager."""

    def __init__(self, settings: Settings | None = None, *, base_url: str = DEFAULT_BASE_URL,
                 sink: Sink | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.emulator = Emulator(settings or Settings(speed=0))
        self.app = create_app(emulator=self.emulator)
        self.sink = sink
        self.dispatcher = CallbackDispatcher(self.emulator)
        self.router = _Router(assert_all_called=False, assert_all_mocked=True)
        self.router.route().mock(side_effect=self._route)

    def _route(self, request: httpx.Request) -> Any:
        """The side effect for every request respx hands this router: an answer (awaitable for an async
        client), the request itself (on to the network), or None (another router's route answers it)."""
        ours = str(request.url).startswith(self.base_url + "/")
        if self._claimed_elsewhere(request, ours):
            return None
        if not ours:
            return request
        content = request.read()
        if self.sink is not None and not request.url.path.startswith(RESULT_PREFIX):
            self.sink(request.method, str(request.url), dict(request.headers), content)
        forwarded = httpx.Request(request.method, request.url, headers=request.headers, content=content)
        future = asyncio.run_coroutine_threadsafe(self._send(forwarded), kit_loop())
        timeout = _read_timeout(request)
        if _AWAITED.get():
            return self._awaited(future, timeout, request)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            raise _timed_out(request, timeout) from None

    @staticmethod
    async def _awaited(future: concurrent.futures.Future[httpx.Response], timeout: float | None,
                       request: httpx.Request) -> httpx.Response:
        """Await the answer on the client's loop; past the timeout the request runs on, unheard, as on a server."""
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), timeout)
        except asyncio.TimeoutError:
            raise _timed_out(request, timeout) from None

    def _claimed_elsewhere(self, request: httpx.Request, ours: bool) -> bool:
        """Whether a route of another started respx router answers ``request`` (pass-through routes do not;
        for the API itself, neither do catch-all routes)."""
        for mocker in Mocker.registry.values():
            for router in mocker.routers:
                if router is self.router or not isinstance(router, respx.Router):
                    continue
                for route in router.routes:
                    if route.is_pass_through or (ours and not route.pattern):
                        continue
                    if route.pattern.match(request):
                        return True
        return False

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Call the ASGI app with one request; an answer cut short is a dropped connection."""
        url = request.url
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
            "scheme": url.scheme, "path": url.path, "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query, "root_path": "", "headers": [(k.lower(), v) for k, v in request.headers.raw],
            "client": ("127.0.0.1", 50000), "server": (url.host, url.port or (443 if url.scheme == "https" else 80)),
        }
        pending: list[Message] = [{"type": "http.request", "body": request.content, "more_body": False}]
        answered = asyncio.Event()
        start: Message = {}
        chunks: list[bytes] = []
        complete = False

        async def receive() -> Message:
            if pending:
                return pending.pop()
            await answered.wait()  # the client stays connected until the answer is complete
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)

        try:
            await self.app(scope, receive, send)
        finally:
            answered.set()
        if not complete:  # the drop fault
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body",
                                            request=request)
        return httpx.Response(start["status"], headers=start.get("headers", []), content=b"".join(chunks),
                              request=request)

    def idle(self, seconds: float) -> concurrent.futures.Future[bool]:
        """Schedule a wait (up to ``seconds``) until no callback is due or in flight; its future."""
        return asyncio.run_coroutine_threadsafe(self.dispatcher.wait_idle(seconds), kit_loop())

    def start(self) -> InProcessEmulator:
        run(self.dispatcher.start())
        self.router.start()
        return self

    def stop(self) -> None:
        self.router.stop()
        run(self.dispatcher.stop(grace=0))

    def __enter__(self) -> InProcessEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
