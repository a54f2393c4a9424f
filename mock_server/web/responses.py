"""JSON in and out of the HTTP edge, and errors in the API's shape."""
from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..contract import BodySchema
from ..errors import ApiError, invalid_request

_JSON_TYPE = re.compile(r"\s*application/([a-z0-9.+-]*\+)?json\s*(;.*)?$", re.IGNORECASE)
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class JSONResponse(Response):
    """A JSON response rendered with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


class DroppedResponse(Response):
    """Starts a response, sends part of it and stops: the client sees the connection cut."""

    def __init__(self) -> None:
        super().__init__(b"", media_type="application/json")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")]})
        await send({"type": "http.response.body", "body": b'{"created":', "more_body": True})


def error_response(error: ApiError) -> JSONResponse:
    """The API's error body; ``X-Mock-Rule`` names a cross-field rule that fired."""
    headers = dict(error.headers)
    if error.rule:
        headers["X-Mock-Rule"] = error.rule
    return JSONResponse(error.body(), status_code=error.status, headers=headers)


def header_text(text: str, limit: int = 1024) -> str:
    """``text`` made safe for an HTTP header value (ASCII, bounded)."""
    safe = "".join(ch if 32 <= ord(ch) < 127 else "?" for ch in text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def base_url(request: Request) -> str:
    """``scheme://host[:port]`` as the client reached us (falls back to the socket)."""
    scope = request.scope
    host = request.headers.get("host", "")
    if not _HOST.fullmatch(host):
        server = scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
    return f"{scope.get('scheme', 'http')}://{host}"


async def read_json(request: Request, max_bytes: int, schema: BodySchema | None = None) -> Any:
    """The request's JSON body: 400 when not JSON, 413 beyond ``max_bytes``.

    With ``schema`` the body is also checked against it.
    """
    content_type = request.headers.get("content-type")
    if content_type is None or not _JSON_TYPE.match(content_type):
        raise invalid_request(f"Content-Type must be application/json (got {header_text(content_type or 'none', 80)})")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    raw = bytearray()
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > max_bytes:
            raise _too_large(max_bytes)
    if not raw.strip():
        raise invalid_request("the request body is empty: send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"the request body is not valid JSON: {exc}") from None
    if schema is not None:
        if not isinstance(body, dict):
            raise invalid_request("the request body must be a JSON object")
        schema.check(body)
    return body


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "request_too_large", f"the request body exceeds {limit} bytes", "invalid_request_error")
