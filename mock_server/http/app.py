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
from starlette.requests import Request
from starlette.responses import Response

from ..config import Settings
from ..core.service import Emulator
from ..errors import ApiError, internal_error
from ..workers.callbacks import CallbackDispatcher
from ..workers.feed import Feed
from . import admin, api, dashboard
from .responses import DroppedResponse, error_response


class AppState(State):
    """Starlette's ``app.state``, with ``emulator`` a plain attribute: every request reads it."""

    emulator: Emulator

    def __setattr__(self, key: str, value: Any) -> None:
        if key == "emulator":
            object.__setattr__(self, key, value)
        else:
            super().__setattr__(key, value)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error = ApiError(405, "method_not_allowed", f"{request.method} is not allowed on {request.url.path}",
                         "invalid_request_error", headers=exc.headers)
    elif exc.status_code == 404:
        error = ApiError(404, "not_found", f"no route {request.method} {request.url.path}", "invalid_request_error")
    else:
        error = ApiError(exc.status_code, "invalid_request", str(exc.detail), "invalid_request_error")
    return error_response(error)


async def _unexpected(request: Request, exc: Exception) -> Response:
    return error_response(internal_error())


async def _drop(request: Request, exc: Exception) -> Response:
    return DroppedResponse()


class _IntentionalDrops(logging.Filter):
    """uvicorn reports a response cut short; the ``drop`` fault does that on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_IntentionalDrops())


@contextlib.asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    """Run the callback dispatcher and the dashboard's live feed for as long as the server runs."""
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
    await _start_dispatcher(app)


async def end_streams(app: Starlette) -> None:
    """End the dashboard's open streams (a server waits for open responses before it stops); run on its loop."""
    feed: Feed | None = app.state.feed
    if feed is not None:
        feed.close()


def create_app(settings: Settings | None = None, *, emulator: Emulator | None = None) -> Starlette:
    """The emulator as an ASGI app; settings default to ``EVOLINK_MOCK_*``."""
    if emulator is None:
        emulator = Emulator(settings or Settings.from_env())
    app = Starlette(
        routes=[*api.routes(), *admin.routes(), *dashboard.routes()],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, api.DropConnection: _drop,
                            Exception: _unexpected},
        lifespan=_lifespan,
    )
    app.state = AppState()
    app.state.dispatcher = None  # set while a server runs the app's lifespan
    app.state.feed = None  # the dashboard's live feed (see dashboard.feed_of)
    app.state.loop = None
    app.state.ready = threading.Event()
    app.router.redirect_slashes = False  # a redirect is not an answer in the API's shape
    app.state.emulator = emulator
    return app
