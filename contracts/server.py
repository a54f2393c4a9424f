"""A real uvicorn server running the emulator on a free loopback port, in a thread."""
from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from mock_server import Emulator, Settings, create_app
from mock_server.http.app import end_streams, swap_emulator

ASGIApp = Callable[..., Any]


class LiveServer:
    """``with LiveServer(settings) as server: server.base_url ...``

    The listening socket is bound before the server thread starts, so the
    port is known at once and early connections wait in the backlog.
    ``wrap`` may wrap the ASGI app (e.g. in a recording middleware);
    :meth:`use` swaps in a fresh emulator without restarting the server.
    """

    def __init__(self, settings: Settings | None = None, *, host: str = "127.0.0.1",
                 wrap: Callable[[ASGIApp], ASGIApp] | None = None) -> None:
        self.settings = settings or Settings(speed=0)
        self.emulator = Emulator(self.settings)
        self.app = create_app(emulator=self.emulator)
        # proto=IPPROTO_TCP matters: asyncio sets TCP_NODELAY only on sockets that say they are TCP,
        # and without it every keep-alive response waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, 0))
        self._socket.listen(2048)
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(wrap(self.app) if wrap else self.app, log_level="warning", access_log=False,
                                lifespan="on", proxy_headers=False,  # the emulator reads X-Forwarded-* itself
                                loop=self.settings.event_loop)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]},
                                        name=f"evolink-mock:{self.port}", daemon=True)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://{self.host}:{self.port}"

    @property
    def dispatcher(self) -> Any:
        """The running callback dispatcher."""
        return self.app.state.dispatcher

    def submit(self, coroutine: Any) -> concurrent.futures.Future[Any]:
        """Schedule a coroutine on the server's event loop; its future."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.app.state.loop)

    def call(self, coroutine: Any, timeout: float | None = 60) -> Any:
        """Run a coroutine on the server's event loop and return its result."""
        return self.submit(coroutine).result(timeout)

    def use(self, emulator: Emulator) -> Emulator:
        """Serve a fresh emulator (new state, settings, clock) from now on."""
        self.call(swap_emulator(self.app, emulator))
        self.emulator, self.settings = emulator, emulator.settings
        return emulator

    def start(self) -> LiveServer:
        """Start serving; returns once the app's start-up (callback dispatcher) ran."""
        self._thread.start()
        if not self.app.state.ready.wait(timeout=30):
            raise RuntimeError("the emulator did not start within 30 s")
        return self

    def stop(self) -> None:
        """End open dashboard streams, ask uvicorn to exit, wait for it, close the socket."""
        if self._thread.is_alive() and self.app.state.loop is not None:
            self.call(end_streams(self.app))
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._socket.close()

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
