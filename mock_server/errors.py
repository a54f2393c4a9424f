"""The API's error shape: ``{"error": {"code", "message", "type"}}``.

Every refusal anywhere in the emulator (public API, admin API, scenarios,
faults) is an :class:`ApiError`; the HTTP edge renders it.
"""
from __future__ import annotations

import math
from collections.abc import Mapping

#: How much of a client's text (a scenario item, a key, an id, a path, a header value) an error message quotes,
#: in characters: a longer text shows its start and ``...``, so no answer echoes a huge input back.
QUOTED = 40


class ApiError(Exception):
    """An error answer: HTTP status, machine code, readable message, error type.

    ``rule`` names the cross-field rule (``rules.py``) that fired, if any; the
    edge exposes it as the ``X-Mock-Rule`` header so contract tests can tell
    a cross-field 400 (which JSON Schema cannot predict) from a schema 400.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        type: str,
        *,
        headers: Mapping[str, str] | None = None,
        rule: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.type = type
        self.headers = dict(headers or {})
        self.rule = rule

    def body(self) -> dict[str, dict[str, str]]:
        """The JSON body the API answers with."""
        return {"error": {"code": self.code, "message": self.message, "type": self.type}}


def excerpt(text: str, limit: int = QUOTED) -> str:
    """``text`` as an error message quotes it: itself up to ``limit`` characters, else its start and ``...``
    (``limit`` characters in all)."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def invalid_request(message: str, *, rule: str | None = None) -> ApiError:
    """400 ``invalid_request``: the request breaks a rule."""
    return ApiError(400, "invalid_request", message, "invalid_request_error", rule=rule)


def unauthorized(message: str = "Invalid or expired token") -> ApiError:
    """401 ``unauthorized``."""
    return ApiError(401, "unauthorized", message, "authentication_error")


def insufficient_quota(message: str) -> ApiError:
    """402 ``insufficient_quota``."""
    return ApiError(402, "insufficient_quota", message, "insufficient_quota")


def model_access_denied(model: str) -> ApiError:
    """403 ``model_access_denied``."""
    return ApiError(403, "model_access_denied", f"Token does not have access to model: {model}",
                    "invalid_request_error")


def not_found(code: str, message: str) -> ApiError:
    """404 with a specific code (``task_not_found``, ``not_found`` ...)."""
    return ApiError(404, code, message, "invalid_request_error")


def rate_limited(message: str, retry_after: float | None = None) -> ApiError:
    """429 ``rate_limit_exceeded``, with ``Retry-After`` when known."""
    headers = {"Retry-After": str(max(0, math.ceil(retry_after)))} if retry_after is not None else None
    return ApiError(429, "rate_limit_exceeded", message, "rate_limit_error", headers=headers)


def internal_error(message: str = "Internal server error") -> ApiError:
    """500 ``internal_error``."""
    return ApiError(500, "internal_error", message, "api_error")


#: The 5xx answers a ``server_error`` fault gives: ``status -> (code, message, type)``.
#: 500: the video models' pages; 503: https://docs.evolink.ai/en/api-manual/image-series/gpt-4o/gpt-4o-image-generation
#: (string code, as the newest docs send it); 502: the only documented body,
#: https://docs.evolink.ai/en/api-manual/language-series/evolink-auto/evolink-auto-quickstart (its type as the code);
#: 504: undocumented, a mock choice in the same shape.
SERVER_ERRORS: dict[int, tuple[str, str, str]] = {
    500: ("internal_error", "Internal server error", "api_error"),
    502: ("upstream_error", "Upstream AI service unavailable", "upstream_error"),
    503: ("service_unavailable", "No available channel for the requested model", "api_error"),
    504: ("gateway_timeout", "The upstream service did not answer in time", "api_error"),
}


def server_error(status: int = 500) -> ApiError:
    """A 5xx answer with the API's error body for ``status`` (one of :data:`SERVER_ERRORS`)."""
    code, message, type_ = SERVER_ERRORS[status]
    return ApiError(status, code, message, type_)
