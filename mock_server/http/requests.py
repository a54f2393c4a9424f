"""Reading requests at the HTTP edge: headers and JSON bodies (the client's origin: ``links.py``).

Helpers take the ASGI ``scope`` (and ``receive``) so the hot routes need no
``Request`` object; other routes pass ``request.scope``.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Collection
from typing import Any

import orjson
from starlette.types import Receive, Scope

from ..contract import BodySchema
from ..errors import ApiError, excerpt, invalid_request
from .responses import header_text

_JSON_TYPE = re.compile(r"\s*application/([a-z0-9.+-]*\+)?json\s*(;.*)?$", re.IGNORECASE)

#: The request header limits, in bytes of names and values, as an HTTP front end's defaults set them (nginx: a
#: header line must fit one 8 KiB buffer, the whole header four of them; Apache: 8190 bytes a header). Past either
#: a request gets 431 ``request_headers_too_large`` (RFC 6585) on every route: see :func:`oversized_headers`.
MAX_HEADER_BYTES = 8 * 1024  # one header: its name and its value
MAX_HEADERS_BYTES = 32 * 1024  # all of them together


def oversized_headers(headers: Collection[tuple[bytes, bytes]]) -> ApiError | None:
    """The 431 a request with these headers (ASGI's ``scope["headers"]``) gets, or None within the limits.

    One header over :data:`MAX_HEADER_BYTES` (name and value) or all of them over :data:`MAX_HEADERS_BYTES`
    is refused; the message names the header (a short excerpt of its name) or the total, never a value.
    Every request pays one pass adding up the sizes (about 40 ns a header); headers of at most
    :data:`MAX_HEADER_BYTES` in all need nothing more.
    """
    size = 0
    for name, value in headers:
        size += len(name) + len(value)
    if size <= MAX_HEADER_BYTES:  # no single header can be over either
        return None
    name, value = max(headers, key=lambda header: len(header[0]) + len(header[1]))
    if len(name) + len(value) > MAX_HEADER_BYTES:
        message = (f"the request header {excerpt(name.decode('latin-1'))!r} is {len(name) + len(value)} bytes: "
                   f"at most {MAX_HEADER_BYTES} a header (name and value)")
    elif size > MAX_HEADERS_BYTES:
        message = f"the request headers are {size} bytes: at most {MAX_HEADERS_BYTES} in all (names and values)"
    else:
        return None
    return ApiError(431, "request_headers_too_large", message, "invalid_request_error")


def headers_of(scope: Scope) -> dict[str, str]:
    """Every request header as a plain dict (lower-case names; a repeated header: its last value), built once.

    Starlette's ``Headers`` scans a list on every lookup; the hot path looks up several.
    """
    cached = scope.get("evolink.headers")
    if cached is None:
        cached = scope["evolink.headers"] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    return cached


async def read_json(scope: Scope, receive: Receive, max_bytes: int, schema: BodySchema | None = None) -> Any:
    """The request's JSON body: 400 when not JSON, 413 beyond ``max_bytes``.

    With ``schema`` the body is also checked against it.
    """
    headers = headers_of(scope)
    content_type = headers.get("content-type")
    if content_type is None or not _is_json(content_type):
        raise invalid_request(f"Content-Type must be application/json (got {header_text(content_type or 'none', 80)})")
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(max_bytes)
    message = await receive()
    raw = message.get("body", b"")
    if message.get("more_body", False):  # a body in several messages: gather it, within the limit
        gathered = bytearray(raw)
        while message.get("more_body", False) and len(gathered) <= max_bytes:
            message = await receive()
            if message["type"] != "http.request":
                break
            gathered += message.get("body", b"")
        raw = bytes(gathered)
    if len(raw) > max_bytes:
        raise _too_large(max_bytes)
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if not raw.strip():
            raise invalid_request("the request body is empty: send a JSON object") from None
        raise invalid_request(f"the request body is not valid JSON: {exc}") from None
    if schema is not None:
        if not isinstance(body, dict):
            raise invalid_request("the request body must be a JSON object")
        schema.check(body)
    return body


@functools.lru_cache(maxsize=64)
def _is_json(content_type: str) -> bool:
    return _JSON_TYPE.match(content_type) is not None


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "request_too_large", f"the request body exceeds {limit} bytes", "invalid_request_error")
