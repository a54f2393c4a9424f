"""CORS for browser apps, as ``EVOLINK_MOCK_CORS_ORIGINS`` says: ``*`` or a comma list of origins.

Starlette's ``CORSMiddleware`` answers preflights (``OPTIONS`` with ``Origin`` and
``Access-Control-Request-Method``) and adds ``Access-Control-Allow-Origin`` to the answers
of allowed origins; any request header may be sent, and the emulator's own answer headers
(``Retry-After``, ``X-Mock-*``, the result files' range and cache headers) are exposed.
The setting is read from the emulator serving now, so a server that swaps emulators
(the pytest fixtures) follows each one's. Unset, nothing changes: ``OPTIONS`` is a 405.
A preflight from an origin that is not allowed is a 400 in the API's error shape.
"""
from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings
from ..errors import ApiError, excerpt
from .responses import error_response, unless_refused

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE"]
EXPOSED = ["Retry-After", "X-Mock-Warnings", "X-Mock-Rule", "X-Mock-Callbacks-Pending", "Accept-Ranges",
           "Content-Range", "Content-Length", "Content-Disposition", "ETag", "Last-Modified"]


class Cors:
    """ASGI middleware: Starlette's CORSMiddleware configured by the serving emulator's settings."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._by_origins: dict[str, CORSMiddleware] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        settings: Settings | None = scope["app"].state.emulator.settings if scope["type"] == "http" else None
        if settings is None or not settings.cors_origins:
            await self.app(scope, receive, send)
            return
        cors = self._by_origins.get(settings.cors_origins)
        if cors is None:
            cors = self._by_origins[settings.cors_origins] = CORSMiddleware(
                self.app, allow_origins=settings.cors_origin_list, allow_methods=METHODS, allow_headers=["*"],
                expose_headers=EXPOSED)
        if scope["method"] != "OPTIONS":
            await cors(scope, receive, send)
            return
        refused = await unless_refused(cors, scope, receive, send, (400,))
        if refused is not None:  # CORSMiddleware's plain-text refusal of a preflight
            origin = excerpt(dict(scope["headers"]).get(b"origin", b"").decode("latin-1"))
            error = ApiError(400, "cors_refused", f"CORS preflight refused: the origin {origin!r}, method or headers "
                             "are not allowed (EVOLINK_MOCK_CORS_ORIGINS)", "invalid_request_error")
            await error_response(error)(scope, receive, send)
