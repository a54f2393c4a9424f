"""In-process emulation: respx routes httpx traffic for the API into the emulator, no socket.

Requests to ``base_url`` (default ``https://api.evolink.ai``) from any httpx
client, sync or async, are checked against the contract and answered by the
emulator's ASGI app on a shared background loop; every other request passes
through to the network (so callbacks reach a local receiver).
"""
from __future__ import annotations

import httpx
import respx
from starlette.types import Message

from mock_server import Emulator, Settings, create_app
from mock_server.workers.callbacks import CallbackDispatcher

from . import DEFAULT_BASE_URL
from .conformance import Sink
from .loop import run

RESULT_PREFIX = "/files/"


class InProcessEmulator:
    """An emulator behind a respx router; ``start()`` / ``stop()`` or use it as a context manager."""

    def __init__(self, settings: Settings | None = None, *, base_url: str = DEFAULT_BASE_URL,
                 sink: Sink | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.emulator = Emulator(settings or Settings(speed=0))
        self.app = create_app(emulator=self.emulator)
        self.sink = sink
        self.dispatcher = CallbackDispatcher(self.emulator)
        self.router = respx.MockRouter(assert_all_called=False, assert_all_mocked=False)
        self.router.route(url__startswith=self.base_url + "/").mock(side_effect=self._handle)
        self.router.route().pass_through()

    def _handle(self, request: httpx.Request) -> httpx.Response:
        content = request.read()
        if self.sink is not None and not request.url.path.startswith(RESULT_PREFIX):
            self.sink(request.method, str(request.url), dict(request.headers), content)
        return run(self._send(httpx.Request(request.method, request.url, headers=request.headers,
                                            content=content)))

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
        start: Message = {}
        chunks: list[bytes] = []
        complete = False

        async def receive() -> Message:
            return pending.pop() if pending else {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal complete
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                complete = not message.get("more_body", False)

        await self.app(scope, receive, send)
        if not complete:  # the drop fault
            raise httpx.RemoteProtocolError("peer closed connection without sending complete message body",
                                            request=request)
        return httpx.Response(start["status"], headers=start.get("headers", []), content=b"".join(chunks),
                              request=request)

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
