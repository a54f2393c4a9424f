"""Answers of the HTTP edge: JSON, errors in the API's shape, a dropped connection."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import ApiError, excerpt, internal_error

JSON_HEADERS = (b"content-type", b"application/json")


class JSONResponse(Response):
    """A JSON response rendered with orjson, its headers built directly (this is the hot path)."""

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status_code = status_code
        self.background = None
        self.body = orjson.dumps(content)
        self.raw_headers = [(b"content-length", str(len(self.body)).encode()), JSON_HEADERS]
        if headers:
            self.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


class DropConnection(Exception):
    """A ``drop`` fault fired: the connection is cut in the middle of the answer."""


class DroppedResponse(Response):
    """Starts a response, sends part of it and stops: the client sees the connection cut."""

    def __init__(self) -> None:
        super().__init__(b"", media_type="application/json")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"created":', "more_body": True})


def error_answer(exc: Exception) -> Response:
    """What an exception raised while answering becomes (the app's exception handlers and
    :class:`JSONEndpoint` alike): an :class:`ApiError` its error body, a :class:`DropConnection`
    a cut answer, anything else a 500 ``internal_error``."""
    if isinstance(exc, ApiError):
        return error_response(exc)
    if isinstance(exc, DropConnection):
        return DroppedResponse()
    return error_response(internal_error())


def error_response(error: ApiError) -> JSONResponse:
    """The API's error body; ``X-Mock-Rule`` names a cross-field rule that fired."""
    headers = dict(error.headers)
    if error.rule:
        headers["X-Mock-Rule"] = error.rule
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


async def unless_refused(answer: ASGIApp, scope: Scope, receive: Receive, send: Send,
                         statuses: tuple[int, ...]) -> Message | None:
    """Send ``answer`` as it is, unless it starts with one of ``statuses``: then nothing of it is sent
    and its start message is returned, for the caller to answer in the API's own way."""
    refused: list[Message] = []

    async def watch(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] in statuses:
            refused.append(message)
        elif not refused:
            await send(message)

    await answer(scope, receive, watch)
    return refused[0] if refused else None


def header_text(text: str, limit: int = 1024) -> str:
    """``text`` made safe for an HTTP header value: ASCII, at most ``limit`` characters (see :func:`excerpt`)."""
    return "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in excerpt(text, limit))




class JSONEndpoint:
    """An ASGI endpoint for the hot public routes: ``handler(scope, receive)`` returns
    ``(content, extra headers)`` and this sends it as JSON.

    Starlette routes to it like any endpoint. It skips building ``Request`` and ``Response``
    objects, which cost more than the handlers on a busy emulator, and it answers its own
    errors as the app's exception handlers would: an :class:`ApiError` as the error body, a
    :class:`DropConnection` as a cut answer, anything else as a 500 ``internal_error`` (then
    re-raised, for the server's log). So the app can route to it ahead of Starlette's
    exception middleware (``app.EmulatorApp``).
    """

    __slots__ = ("handler",)

    def __init__(self, handler: Callable[[Scope, Receive], Awaitable[tuple[Any, list[tuple[bytes, bytes]]]]]):
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            content, extra = await self.handler(scope, receive)
        except Exception as exc:
            await error_answer(exc)(scope, receive, send)
            if isinstance(exc, (ApiError, DropConnection)):
                return
            raise
        body = orjson.dumps(content)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()), JSON_HEADERS, *extra]})
        await send({"type": "http.response.body", "body": body})
