"""JSON in and out of the HTTP edge, and errors in the API's shape."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ..contract import BodySchema
from ..errors import ApiError, invalid_request

_JSON_TYPE = re.compile(r"\s*application/([a-z0-9.+-]*\+)?json\s*(;.*)?$", re.IGNORECASE)
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


class JSONResponse(Response):
    """A JSON response rendered with orjson, its headers built directly (this is the hot path)."""

    media_type = "application/json"

    def __init__(self, content: Any, status_code: int = 200, headers: Mapping[str, str] | None = None) -> None:
        self.status_code = status_code
        self.background = None
        self.body = orjson.dumps(content)
        self.raw_headers = [(b"content-length", str(len(self.body)).encode()), (b"content-type", b"application/json")]
        if headers:
            self.raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]


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


def headers_of(request: Request) -> dict[str, str]:
    """The request's headers as a plain dict (lower-case names), built once per request.

    Starlette's ``Headers`` scans a list on every lookup; the hot path looks up several.
    """
    scope = request.scope
    cached = scope.get("evolink.headers")
    if cached is None:
        cached = scope["evolink.headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    return cached


_ORIGINS: dict[tuple[str, str], str] = {}


def base_url(request: Request) -> str:
    """``scheme://host[:port]`` as the client reached us (falls back to the socket)."""
    scope = request.scope
    host = headers_of(request).get("host", "")
    key = (scope.get("scheme", "http"), host)
    origin = _ORIGINS.get(key)
    if origin is None:
        if not _HOST.fullmatch(host):
            server = scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
        origin = f"{key[0]}://{host}"
        if len(_ORIGINS) < 1024:  # bounded: hosts are few, hostile clients are not
            _ORIGINS[key] = origin
    return origin


async def read_json(request: Request, max_bytes: int, schema: BodySchema | None = None) -> Any:
    """The request's JSON body: 400 when not JSON, 413 beyond ``max_bytes``.

    With ``schema`` the body is also checked against it.
    """
    headers = headers_of(request)
    content_type = headers.get("content-type")
    if content_type is None or not _JSON_TYPE.match(content_type):
        raise invalid_request(f"Content-Type must be application/json (got {header_text(content_type or 'none', 80)})")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    raw = bytearray()
    more = True
    while more:  # the ASGI messages themselves: Request.stream() costs more on the hot path
        message = await request.receive()
        if message["type"] != "http.request":
            break
        raw += message.get("body", b"")
        more = message.get("more_body", False)
        if len(raw) > max_bytes:
            raise _too_large(max_bytes)
    if not raw.strip():
        raise invalid_request("the request body is empty: send a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid_request(f"the request body is not valid JSON: {exc}") from None
    if isinstance(body, (dict, list)) and _too_deep(body):
        raise invalid_request(f"the request body is nested more than {MAX_DEPTH} levels deep")
    if schema is not None:
        if not isinstance(body, dict):
            raise invalid_request("the request body must be a JSON object")
        schema.check(body)
    return body


MAX_DEPTH = 32  # real bodies nest 4 levels; validators recurse, so absurd depth stops here


def _too_deep(value: dict | list) -> bool:
    """Whether containers nest deeper than :data:`MAX_DEPTH` (an iterative walk: no recursion)."""
    level: list = [value]
    for _ in range(MAX_DEPTH):
        level = [child for item in level for child in (item.values() if isinstance(item, dict) else item)
                 if isinstance(child, (dict, list))]
        if not level:
            return False
    return True


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "request_too_large", f"the request body exceeds {limit} bytes", "invalid_request_error")
