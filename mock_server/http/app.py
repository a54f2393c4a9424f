"""``create_app``: the Starlette application, wired explicitly."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import State
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from ..core.service import Emulator
from ..errors import ApiError, excerpt
from ..redaction import redact
from ..workers.callbacks import CallbackDispatcher
from ..workers.feed import Feed
from . import admin, api, dashboard
from .cors import Cors
from .requests import oversized_headers
from .responses import DropConnection, error_answer, error_response


class AppState(State):
    """Starlette's ``app.state``, with ``emulator`` a plain attribute: every request reads it."""

    emulator: Emulator

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "emulator":
            object.__setattr__(self, key, value)
        else:
            super().__setattr__(key, value)


class EmulatorApp(Starlette):
    """Starlette, behind :class:`_Entry`: oversized headers refused first, then the hot routes
    (``api.HOT_ROUTES``: a create and its polls) matched ahead of Starlette's stack.

    Every HTTP request's headers are measured before anything else runs: past the limits
    (:func:`~.requests.oversized_headers`) the request gets a 431 in the API's shape on every route,
    as a front end would refuse it before the application (so without CORS headers).

    Starlette runs every request through two exception middlewares before its router; on a
    create or a poll they cost about as much as the route's own work (building a ``Request``,
    wrapping each message sent). The hot routes' endpoints answer their own errors in the API's
    shape (:class:`~.responses.JSONEndpoint`), so a request one of them matches fully (path and
    method, by Starlette's own ``Route.matches``) goes straight to it; every other request takes
    the whole stack as before: other paths, other methods on these paths (a 405 in the API's
    shape), lifespan. With CORS configured every request takes the whole stack (its middleware
    must see every answer the application gives).
    """

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        more = self.user_middleware or getattr(self, "max_body_size", None) is not None  # more than the two
        return _Entry(() if more else api.HOT_ROUTES, stack)


class _Entry:
    """An HTTP request with headers past the limits gets its 431 here; else one that one of ``hot`` matches
    fully goes to it; anything else to ``stack``."""

    __slots__ = ("hot", "stack")

    def __init__(self, hot: tuple[Route, ...], stack: ASGIApp) -> None:
        self.hot = hot
        self.stack = stack

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = oversized_headers(scope["headers"])
            if refused is not None:
                await error_response(refused)(scope, receive, send)
                return
            for route in self.hot:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:  # as Starlette's Router does for the route it picks
                    scope["route"] = route
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await self.stack(scope, receive, send)


async def _answer(request: Request, exc: Exception) -> Response:
    return error_answer(exc)


#: What a 404 for an unknown route points at.
ROUTES_HINT = ("the API's routes are under /v1/ (openapi.yaml), the admin API's under /_mock/ "
               "(GET /_mock/openapi.yaml); the dashboard is at /_mock/ui/")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    path = excerpt(request.url.path)
    if exc.status_code == 405:
        error = ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {path}",
                         "invalid_request_error", headers=exc.headers)
    elif exc.status_code == 404:
        error = ApiError(404, "not_found", f"no route {request.method} {path}: {ROUTES_HINT}", "invalid_request_error")
    else:
        error = ApiError(exc.status_code, "invalid_request", str(exc.detail), "invalid_request_error")
    return error_response(error)


class _IntentionalDrops(logging.Filter):
    """uvicorn reports a response cut short; the ``drop`` fault does that on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


class _Redacted(logging.Filter):
    """No credential in a log line: the message and its arguments go through :func:`redact`
    (an access line names ``/_mock/accounts/<key>``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


logging.getLogger("uvicorn.error").addFilter(_IntentionalDrops())
for _name in ("uvicorn.error", "uvicorn.access"):
    logging.getLogger(_name).addFilter(_Redacted())


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Run the callback dispatcher and the dashboard's live feed for as long as the server runs; then close the
    store of an emulator the app made (a SQLite file is checkpointed: its ``-wal`` file goes)."""
    app.state.loop = asyncio.get_running_loop()
    await _start_dispatcher(app)
    app.state.feed = Feed(app.state.emulator)
    app.state.ready.set()
    try:
        yield
    finally:
        await end_streams(app)
        dispatcher, app.state.dispatcher = app.state.dispatcher, None
        await dispatcher.stop()
        if app.state.owns_emulator:
            app.state.emulator.close()


async def _start_dispatcher(app: Starlette) -> None:
    dispatcher = CallbackDispatcher(app.state.emulator)
    await dispatcher.start()
    app.state.dispatcher = dispatcher


async def swap_emulator(app: Starlette, emulator: Emulator) -> None:
    """Serve ``emulator`` from now on (a fresh state on a running server); run on the server's loop."""
    old = app.state.dispatcher
    if old is not None:
        await old.stop(grace=0)
    await end_streams(app)  # open pages reconnect, to the fresh emulator
    app.state.emulator = emulator
    app.state.feed = Feed(emulator)
    app.user_middleware = _middleware(emulator)
    app.middleware_stack = None  # rebuilt on the next request, with the fresh emulator's middleware
    await _start_dispatcher(app)


async def end_streams(app: Starlette) -> None:
    """End the dashboard's open streams (a server waits for open responses before it stops); run on its loop."""
    feed: Feed | None = app.state.feed
    if feed is not None:
        feed.close()


def _middleware(emulator: Emulator) -> list[Middleware]:
    """CORS only for an emulator that has origins: without them every request skips the layer."""
    return [Middleware(Cors)] if emulator.settings.cors_origins else []


def create_app(settings: Settings | None = None, *, emulator: Emulator | None = None) -> Starlette:
    """The emulator as an ASGI app; settings default to ``EVOLINK_MOCK_*``. An app given ``emulator`` leaves it
    open when its server stops; one that made its own closes it then."""
    owns = emulator is None
    if emulator is None:
        emulator = Emulator(settings or Settings.from_env())
    app = EmulatorApp(
        routes=[*api.routes(), *admin.routes(), *dashboard.routes()],
        exception_handlers={ApiError: _answer, HTTPException: _http_error, DropConnection: _answer,
                            Exception: _answer},
        middleware=_middleware(emulator),
        lifespan=_lifespan,
    )
    app.state = AppState()
    app.state.dispatcher = None  # set while a server runs the app's lifespan
    app.state.feed = None  # the dashboard's live feed (see dashboard.feed_of)
    app.state.loop = None
    app.state.ready = threading.Event()
    app.router.redirect_slashes = False  # a redirect is not an answer in the API's shape
    app.state.emulator = emulator
    app.state.owns_emulator = owns
    return app
