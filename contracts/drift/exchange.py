"""One request and its answer, and the live target that sends requests over HTTP.

A :class:`Request` never holds the API key: its ``Authorization`` header
carries the placeholder :data:`API_KEY`, which only the sender substitutes.
So recordings and reports built from requests cannot leak the key.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

#: Stands for the caller's key in a request's headers; replaced only when sending.
API_KEY = "<api-key>"
#: Response headers that change on every call (or carry session state) and are not kept.
VOLATILE_HEADERS = frozenset({"date", "set-cookie", "age", "expires"})
_PREFIX_BYTES = 16
_TEXT_LIMIT = 2000
_MAX_RATE_LIMIT_RETRIES = 3
_MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True)
class Request:
    """What a probe sends: method, API path (or an absolute URL for a download), headers, body."""

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    download: bool = False  # read only the first bytes, follow redirects, never send the key

    def with_key(self, key: str) -> dict[str, str]:
        """The headers with :data:`API_KEY` replaced by ``key``."""
        return {name: value.replace(API_KEY, key) for name, value in self.headers.items()}


@dataclass(frozen=True)
class Answer:
    """What came back. ``body`` is the parsed JSON when ``is_json``; else ``text`` or ``prefix``."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    is_json: bool = False
    text: str | None = None
    prefix: bytes = b""

    @classmethod
    def parse(cls, status: int, headers: Mapping[str, str], content: bytes) -> Answer:
        """An answer from raw bytes: JSON when it parses, else (truncated) text."""
        kept = {k.lower(): v for k, v in headers.items() if k.lower() not in VOLATILE_HEADERS}
        try:
            return cls(status, kept, json.loads(content), True)
        except ValueError:
            return cls(status, kept, text=content[:_TEXT_LIMIT].decode("utf-8", "replace"))

    @property
    def error(self) -> Mapping[str, Any] | None:
        """The ``error`` object of an error body, when there is one."""
        error = self.body.get("error") if self.is_json and isinstance(self.body, dict) else None
        return error if isinstance(error, dict) else None

    def describe(self) -> str:
        """A short description of a body that is not JSON."""
        kind = self.headers.get("content-type", "no content type")
        snippet = (self.text or "").strip().replace("\n", " ")
        return f"{kind}: {snippet[:80]!r}" if snippet else f"{kind}, empty body"


class TargetUnavailable(Exception):
    """The target could not be reached (refused, timed out, cut off)."""


class NotRecorded(Exception):
    """A replay has no exchange for this request (or recorded a different request)."""


class Target(Protocol):
    """Where probes go: a live server or a recording."""

    def send(self, probe: str, step: str, request: Request) -> Answer: ...

    def sleep(self, seconds: float) -> None: ...

    def monotonic(self) -> float: ...


class LiveTarget:
    """A server reached over HTTP with the caller's key. 429 answers are retried after Retry-After."""

    def __init__(self, base_url: str, key: str, *, timeout: float, user_agent: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, follow_redirects=False,
                                  headers={"User-Agent": user_agent})

    def send(self, probe: str, step: str, request: Request) -> Answer:
        """Send ``request``; :class:`TargetUnavailable` when no HTTP answer comes."""
        for attempt in range(_MAX_RATE_LIMIT_RETRIES + 1):
            try:
                answer = self._download(request) if request.download else self._call(request)
            except httpx.TransportError as exc:
                raise TargetUnavailable(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from None
            if answer.status != 429 or attempt == _MAX_RATE_LIMIT_RETRIES:
                return answer
            self.sleep(_retry_after(answer.headers.get("retry-after")))
        raise AssertionError("unreachable")

    def _call(self, request: Request) -> Answer:
        response = self._http.request(request.method, request.path, headers=request.with_key(self._key),
                                      content=request.content)
        return Answer.parse(response.status_code, response.headers, response.content)

    def _download(self, request: Request) -> Answer:
        with self._http.stream(request.method, request.path, headers=dict(request.headers),
                               follow_redirects=True) as response:
            prefix = b""
            for chunk in response.iter_bytes():
                prefix += chunk
                if len(prefix) >= _PREFIX_BYTES:
                    break
        kept = {k.lower(): v for k, v in response.headers.items() if k.lower() not in VOLATILE_HEADERS}
        return Answer(response.status_code, kept, prefix=prefix[:_PREFIX_BYTES])

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()

    def close(self) -> None:
        self._http.close()


def _retry_after(value: str | None) -> float:
    try:
        return min(_MAX_RETRY_AFTER, max(0.0, float(value))) if value else 1.0
    except ValueError:
        return 1.0
