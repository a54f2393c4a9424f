"""Reading requests at the HTTP edge: headers and JSON bodies (the client's origin: ``links.py``).

Helpers take the ASGI ``scope`` (and ``receive``) so the hot routes need no
``Request`` object; other routes pass ``request.scope``.
"""
from __future__ import annotations

import functools
import re
from typing import Any

import orjson
from starlette.types import Receive, Scope

from ..contract import BodySchema
from ..errors import ApiError, invalid_request
from .responses import header_text

_JSON_TYPE = re.compile(r"\s*application/([a-z0-9.+-]*\+)?json\s*(;.*)?$", re.IGNORECASE)


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
