"""Hostile input: a battery of garbage requests against one real server.

Issue "Benchmarks and hardening": malformed JSON, wrong content types, huge
and deeply nested bodies, bad unicode, wrong types in every field, absurd
numbers, long or traversal task ids, long headers and concurrent garbage must
each get a 4xx in the API's error shape (413 beyond ``max_body_bytes``, 431
beyond the header limits), never a 500 or a dropped connection; afterwards
the server is healthy and no ledger moved.

Who answers what. The server is uvicorn with its ``auto`` HTTP protocol,
which is httptools (a declared dependency of the project). Two layers answer:

* the **app** (``layer="app"``): every request that parses as HTTP reaches
  Starlette and the emulator, which must answer in the error shape
  ``{"error": {"code", "message", "type"}}``;
* **uvicorn** (``layer="uvicorn"``): bytes that httptools cannot parse as an
  HTTP/1.1 request (a bad request line, an unknown method, a control
  character or a space in a header, a negative / non-numeric / 21+ digit
  Content-Length, Content-Length with Transfer-Encoding, a bad chunk, a raw
  NUL or non-ASCII byte in the target, TLS or HTTP/2 bytes) never reach the
  app: uvicorn itself answers ``400 Invalid HTTP request received.`` as
  text/plain and closes. Those are not the emulator's answers; for them the
  battery requires a 4xx (or, for a request cut short by the client, a clean
  close) and a healthy server afterwards.

httptools is lenient where h11 is strict, so some odd requests do reach the
app and get its answer: HTTP/1.1 without Host, a 5 MB header or 3000 headers
(the app's 431 past ``MAX_HEADER_BYTES`` a header or ``MAX_HEADERS_BYTES`` in
all), an absolute-URI or ``*`` target, TRACE, a WebSocket upgrade, obs-text bytes
in a header. Two rows mix both layers: a huge body behind a small
Content-Length (the app gets the declared bytes, httptools rejects the rest
as a second request and answers first: ``layer="either"``), and requests the
client cuts short with a half-close (no answer is possible:
``layer="close_or_4xx"``).

Each table row says which layer it expects, so a change in who answers
(e.g. another HTTP parser) shows up as a failing row rather than passing
unnoticed. Raw sockets send what httpx would refuse or normalise; httpx
sends the rest.

Nothing moves: the battery funds its keys first (``GRANTS``) and the module
fixture's teardown (and the last test) checks that the server is healthy,
every ledger is as granted with nothing reserved or charged, no account,
task, fault rule or clock offset appeared, and the server thread logged no
error (an unhandled exception).
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import uuid
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
import pytest
from conftest import DEEP, ServerErrors, representative_models

from contracts.server import LiveServer
from mock_server import Settings
from mock_server.contract import admin_contract, api_contract
from mock_server.http.requests import MAX_HEADER_BYTES, MAX_HEADERS_BYTES, oversized_headers
from mock_server.resources import fixtures_dir

MAX_BODY = 65536
T2V = "kling-o3-text-to-video"
RICH = "sk-hostile-rich-00000001"  # the battery's main key: anything it gets accepted would move its ledger
POOR = "sk-hostile-poor-00000001"  # no credits: a request valid down to billing ends in 402, nothing moves
TARGET = "sk-hostile-admin-target-1"  # the account the PUT /_mock/accounts garbage is aimed at
NOBODY = "sk-hostile-nobody-000001"  # fault bodies are scoped to this key, which never makes a request
GRANTS = {RICH: 1000, POOR: 0, TARGET: 500}
UVICORN_400 = b"Invalid HTTP request received."
VALID = {"model": T2V, "prompt": "A lighthouse at dusk"}
TRACE_MARKERS = ("Traceback", 'File "/', "site-packages", "mock_server/")
HEADERS_431 = {"status": 431, "code": "request_headers_too_large"}
MAX_ERROR_BODY = 8192  # bytes: an error quotes excerpts of what it refuses (the longest, a list of models, ~2 KB)


# -- answers: a parsed HTTP response, or a connection that gave none -------------------------------
@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


@dataclass
class Dropped:
    """The connection ended (closed, reset or silent) without a complete answer."""

    why: str
    received: bytes = b""

    @property
    def clean(self) -> bool:
        """Closed by the server before sending a single byte (an orderly 'no answer')."""
        return self.why == "closed" and not self.received


Answer = Reply | Dropped


class _Cut(Exception):
    def __init__(self, why: str) -> None:
        self.why = why


class _Reader:
    """Reads HTTP/1.1 responses off a socket, one after the other (pipelining)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""
        self.seen = b""

    def _more(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise _Cut("timed out") from None
        except ConnectionResetError:
            raise _Cut("reset") from None
        except OSError as exc:
            raise _Cut(f"socket error {exc}") from None
        if not chunk:
            raise _Cut("closed")
        self.buf += chunk
        self.seen += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._more()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._more()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self, head: bool = False) -> Answer:
        start = len(self.seen) - len(self.buf)
        try:
            while True:
                while b"\r\n\r\n" not in self.buf:
                    self._more()
                block, self.buf = self.buf.split(b"\r\n\r\n", 1)
                status_line, *lines = block.decode("latin-1").split("\r\n")
                match = re.fullmatch(r"HTTP/1\.[01] (\d{3})(?: .*)?", status_line)
                if not match:
                    return Dropped(f"not an HTTP status line: {status_line[:80]!r}", self.seen[start:])
                status = int(match.group(1))
                headers: dict[str, str] = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if 100 <= status < 200:  # 100 Continue and friends: the real answer follows
                    continue
                break
            if head or status in (204, 304):
                body = b""
            elif headers.get("transfer-encoding", "").lower() == "chunked":
                body = b""
                while True:
                    size = int(self._line().split(b";")[0], 16)
                    if size == 0:
                        while self._line():  # trailer lines, up to the empty one
                            continue
                        break
                    body += self._take(size)
                    self._take(2)
            elif "content-length" in headers:
                body = self._take(int(headers["content-length"]))
            else:
                while True:
                    try:
                        self._more()
                    except _Cut as cut:
                        if cut.why != "closed":
                            raise
                        break
                body, self.buf = self.buf, b""
            return Reply(status, headers, body)
        except _Cut as cut:
            return Dropped(cut.why, self.seen[start:])


def exchange(port: int, data: bytes, *, replies: int = 1, head: bool = False, half_close: bool = False,
             timeout: float = 5.0) -> list[Answer]:
    """Send ``data`` on a fresh connection; read up to ``replies`` answers (a ``Dropped`` ends the list)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may answer and close before reading it all
            sock.sendall(data)
        if half_close:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        reader = _Reader(sock)
        answers: list[Answer] = []
        for _ in range(replies):
            answers.append(reader.reply(head))
            if isinstance(answers[-1], Dropped):
                break
        return answers


def request(method: str | bytes, target: str | bytes, headers: Iterable[tuple[str | bytes, str | bytes]] = (),
            body: bytes | None = None, *, host: bool = True, close: bool = True, length: bool = True,
            version: bytes = b"HTTP/1.1") -> bytes:
    """The bytes of one HTTP/1.x request, exactly as given (no validation, no normalisation)."""
    def b(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    lines = [b(method) + b" " + b(target) + b" " + version]
    lines += [b"Host: 127.0.0.1"] if host else []
    lines += [b(name) + b": " + b(value) for name, value in headers]
    if body is not None and length:
        lines.append(b"Content-Length: %d" % len(body))
    lines += [b"Connection: close"] if close else []
    return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")


def bearer(key: str) -> tuple[str, str]:
    return ("Authorization", f"Bearer {key}")


JSON_CT = ("Content-Type", "application/json")


# -- the cases ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """One hostile request and the answer it must get.

    ``layer``: "app" (the emulator answers, in the error shape), "uvicorn" (uvicorn rejects the
    bytes before the app: 400 text/plain), "either" (the app gets a request but uvicorn may answer
    the same connection first), "close_or_4xx" (the client cut its own request short: no answer is
    possible, a clean close or a 4xx are both right).
    """

    id: str
    method: str = "GET"
    path: str = "/v1/credits"
    body: bytes | None = None
    headers: tuple[tuple[str, Any], ...] = ()
    key: str | None = RICH
    status: int = 400
    code: str | None = "invalid_request"
    raw: bytes | None = None
    layer: str = "app"
    head: bool = False
    half_close: bool = False
    chunked: bool = False
    names: str | None = None  # a fragment the error message must contain

    def send(self, port: int, client: httpx.Client) -> Answer:
        if self.raw is not None:
            return exchange(port, self.raw, head=self.head, half_close=self.half_close)[0]
        headers = list(self.headers)
        if self.key is not None:
            headers.append(bearer(self.key))
        content: Any = self.body
        if self.chunked and self.body is not None:
            body = self.body
            content = iter([body[i:i + 4096] for i in range(0, len(body), 4096)])  # no Content-Length
        try:
            response = client.request(self.method, self.path, content=content, headers=headers)
        except httpx.HTTPError as exc:
            return Dropped(f"{type(exc).__name__}: {exc}")
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


def api(id: str, body: Any = None, *, method: str = "POST", path: str = "/v1/videos/generations",
        ctype: str | None = "application/json", key: str | None = RICH, status: int = 400,
        code: str | None = "invalid_request", headers: tuple = (), chunked: bool = False,
        names: str | None = None) -> Case:
    """A case sent with httpx; ``body`` is bytes as is, or JSON-encoded otherwise."""
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    all_headers = ((("Content-Type", ctype),) if ctype is not None and body is not None else ()) + tuple(headers)
    return Case(id, method, path, body, all_headers, key, status, code, chunked=chunked, names=names)


def raw(id: str, data: bytes, *, status: int = 400, code: str | None = "invalid_request", layer: str = "app",
        head: bool = False, half_close: bool = False, names: str | None = None) -> Case:
    """A case sent byte for byte on a raw socket."""
    return Case(id, raw=data, status=status, code=code, layer=layer, head=head, half_close=half_close,
                names=names)


def create_raw(id: str, body: bytes, *, extra: tuple = (), key: str = RICH, **kw: Any) -> Case:
    """A create request on a raw socket; an explicit Content-Length in ``extra`` replaces the true one."""
    length = not any(name.lower() == "content-length" for name, _ in extra)
    return raw(id, request("POST", "/v1/videos/generations", (bearer(key), JSON_CT, *extra), body, length=length),
               **kw)


def nested(depth: int, opener: str = "[", closer: str = "]", leaf: str = "") -> bytes:
    return (opener * depth + leaf + closer * depth).encode()


def padded(size: int, **fields: Any) -> bytes:
    """A JSON create body of exactly ``size`` bytes, padded through its prompt."""
    base = {"model": T2V, **fields, "prompt": ""}
    empty = len(json.dumps(base).encode())
    body = json.dumps({**base, "prompt": "x" * (size - empty)}).encode()
    assert len(body) == size
    return body


def valid_with(**changes: Any) -> dict[str, Any]:
    return {**VALID, **changes}


def _scenario(id: str, value: str | bytes) -> Case:
    """A valid create body under a garbage ``X-Mock-Scenario``: any acceptance would create a task."""
    return create_raw(f"scenario-{id}", json.dumps(VALID).encode(), extra=(("X-Mock-Scenario", value),),
                      names="scenario")


def _absurd_duration(id: str, literal: str) -> Case:
    return api(f"absurd-duration-{id}", f'{{"model": "{T2V}", "prompt": "x", "duration": {literal}}}'.encode(),
               names="duration" if id not in ("1e400", "-1e400") else None)


def _absurd_admin(id: str, path: str, method: str, template: str, literal: str, names: str | None = None) -> Case:
    return api(f"absurd-{id}", template.replace("@", literal).encode(), method=method, path=path, names=names)


FAULT = f'{{"kind": "latency", "latency_ms": 0, "key": "{NOBODY}", "route": "credits"'
GET_RICH = (bearer(RICH),)
TEN_KB = "task-unified-1757169743-" + "a" * 10_000
SIXTY_KB = "x" * 60_000

CASES: list[Case] = [
    # malformed JSON (create, with a key that has credits: an accepted body would move its ledger)
    api("json-truncated-object", b'{"model": "kling-o3-text-to-video", "prompt": "x"', names="not valid JSON"),
    api("json-truncated-string", b'{"model": "kling-o3-text-to-vi', names="not valid JSON"),
    api("json-trailing-garbage", json.dumps(VALID).encode() + b" trailing", names="not valid JSON"),
    api("json-two-objects", json.dumps(VALID).encode() * 2, names="not valid JSON"),
    api("json-nan-literal", b'{"model": "kling-o3-text-to-video", "prompt": "x", "duration": NaN}'),
    api("json-infinity-literal", b'{"model": "kling-o3-text-to-video", "prompt": "x", "duration": Infinity}'),
    api("json-minus-infinity", b'{"model": "kling-o3-text-to-video", "prompt": "x", "duration": -Infinity}'),
    api("json-single-quotes", b"{'model': 'kling-o3-text-to-video', 'prompt': 'x'}"),
    api("json-bom", b"\xef\xbb\xbf" + json.dumps(VALID).encode()),
    api("json-block-comment", b'{"model": "kling-o3-text-to-video", /* hi */ "prompt": "x"}'),
    api("json-line-comment", b'{"model": "kling-o3-text-to-video", // hi\n "prompt": "x"}'),
    api("json-trailing-comma", b'{"model": "kling-o3-text-to-video", "prompt": "x",}'),
    api("json-unquoted-keys", b'{model: "kling-o3-text-to-video", prompt: "x"}'),
    api("json-hex-number", b'{"model": "kling-o3-text-to-video", "prompt": "x", "duration": 0x5}'),
    api("json-leading-zero", b'{"model": "kling-o3-text-to-video", "prompt": "x", "duration": 05}'),
    # duplicate keys: the last one wins (as in most parsers); either way the outcome is a 4xx
    api("json-duplicate-key-last-invalid", b'{"model": "kling-o3-text-to-video", "prompt": "x", '
                                           b'"duration": 5, "duration": "5"}', names="duration"),
    api("json-duplicate-model", b'{"model": "kling-o3-text-to-video", "prompt": "x", "model": "nope"}',
        names="model"),
    api("json-duplicate-key-last-valid-poor", b'{"model": "kling-o3-text-to-video", "prompt": "x", '
                                              b'"duration": "5", "duration": 5}',
        key=POOR, status=402, code="insufficient_quota"),
    api("body-empty", b"", names="empty"),
    api("body-whitespace", b" \t\r\n  ", names="empty"),
    api("body-nul-byte", b"\x00"),
    api("body-array", [VALID], names="JSON object"),
    api("body-string", "kling-o3-text-to-video", names="JSON object"),
    api("body-number", 42, names="JSON object"),
    api("body-null", b"null", names="JSON object"),
    api("body-true", b"true", names="JSON object"),
    api("body-false", b"false", names="JSON object"),
    api("body-number-overflow", b"1e400", names="not valid JSON"),
    api("admin-put-truncated", b'{"granted": 1', method="PUT", path=f"/_mock/accounts/{TARGET}"),
    api("admin-put-null", b"null", method="PUT", path=f"/_mock/accounts/{TARGET}"),
    api("admin-put-array", b"[500]", method="PUT", path=f"/_mock/accounts/{TARGET}"),
    api("admin-advance-nan", b'{"seconds": NaN}', method="POST", path="/_mock/clock/advance"),
    api("admin-advance-empty", b"", method="POST", path="/_mock/clock/advance"),
    api("admin-advance-string", b'"60"', method="POST", path="/_mock/clock/advance"),
    api("admin-fault-single-quotes", b"{'kind': 'drop'}", method="POST", path="/_mock/faults"),
    api("admin-fault-whitespace", b"   ", method="POST", path="/_mock/faults"),
    api("admin-fault-array", b'[{"kind": "drop"}]', method="POST", path="/_mock/faults"),
    # wrong content types (the body itself is a valid create)
    api("ctype-text-plain", VALID, ctype="text/plain", names="Content-Type"),
    api("ctype-form", b"model=kling-o3-text-to-video&prompt=x", ctype="application/x-www-form-urlencoded",
        names="Content-Type"),
    api("ctype-multipart", b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nkling-o3-text-to-video'
                           b"\r\n--b--\r\n", ctype="multipart/form-data; boundary=b", names="Content-Type"),
    api("ctype-missing", VALID, ctype=None, names="Content-Type"),
    api("ctype-json-latin1", '{"model": "kling-o3-text-to-video", "prompt": "café"}'.encode("latin-1"),
        ctype="application/json; charset=latin-1", names="not valid JSON"),
    api("ctype-text-json", VALID, ctype="text/json", names="Content-Type"),
    api("ctype-x-json", VALID, ctype="application/x-json", names="Content-Type"),
    api("ctype-json-list", VALID, ctype="application/json, text/plain", names="Content-Type"),
    api("ctype-8kb", VALID, ctype="application/" + "x" * 8192, **HEADERS_431, names="content-type"),
    api("ctype-8000b", VALID, ctype="application/" + "x" * 8000, names="Content-Type"),
    api("ctype-empty", VALID, ctype="", names="Content-Type"),
    api("ctype-admin-put-text", {"granted": 500}, ctype="text/plain", method="PUT",
        path=f"/_mock/accounts/{TARGET}", names="Content-Type"),
    api("ctype-admin-fault-form", b"kind=drop", ctype="application/x-www-form-urlencoded", method="POST",
        path="/_mock/faults", names="Content-Type"),
    # sizes: the limit is 65536 bytes
    api("size-limit-exactly-is-read", padded(MAX_BODY, duration="5"), names="duration"),
    api("size-over-limit-content-length", padded(MAX_BODY + 1), status=413, code="request_too_large"),
    api("size-over-limit-chunked", padded(MAX_BODY + 1), chunked=True, status=413, code="request_too_large"),
    api("size-over-limit-admin-put", padded(MAX_BODY + 1), method="PUT", path=f"/_mock/accounts/{TARGET}",
        status=413, code="request_too_large"),
    api("size-over-limit-admin-fault-chunked", padded(MAX_BODY + 1), method="POST", path="/_mock/faults",
        chunked=True, status=413, code="request_too_large"),
    api("size-over-limit-advance", padded(4 * MAX_BODY), method="POST", path="/_mock/clock/advance",
        status=413, code="request_too_large"),
    create_raw("size-declared-10mb-sent-2b", b"{}", extra=(("Content-Length", "10000000"),),
               status=413, code="request_too_large"),
    raw("size-declared-20-digits", request("POST", "/v1/videos/generations",
                                           (bearer(RICH), JSON_CT, ("Content-Length", "18446744073709551615")),
                                           b"{}", length=False), status=413, code="request_too_large"),
    raw("size-expect-100-continue-over-limit",
        request("POST", "/v1/videos/generations", (bearer(RICH), JSON_CT, ("Expect", "100-continue"),
                                                   ("Content-Length", str(MAX_BODY + 1))), length=False),
        status=413, code="request_too_large"),
    raw("size-chunked-many-small-chunks-over-limit",
        request("POST", "/v1/videos/generations", (bearer(RICH), JSON_CT, ("Transfer-Encoding", "chunked")),
                b"".join(b"400\r\n" + b" " * 1024 + b"\r\n" for _ in range(70)) + b"0\r\n\r\n", length=False),
        status=413, code="request_too_large"),
    # deep nesting (orjson stops at depth 1024; 100000 levels do not fit in 64 KB)
    api("nest-1000-arrays", nested(1000), names="JSON object"),
    api("nest-1000-objects", nested(1000, '{"a":', "}", "1"), names="model"),
    api("nest-30000-arrays-depth-limit", nested(30000), names="not valid JSON"),
    api("nest-100000-arrays-too-large", nested(100000), status=413, code="request_too_large"),
    api("nest-60000-unclosed", b"[" * 60000, names="not valid JSON"),
    api("nest-1000-in-prompt", b'{"model": "kling-o3-text-to-video", "prompt": ' + nested(1000) + b"}",
        names="nested too deeply"),
    api("nest-1000-in-model-params", b'{"model": "kling-o3-text-to-video", "prompt": "x", "model_params": '
                                     b'{"watermark_info": {"enabled": ' + nested(1000, '{"a":', "}", "1") + b"}}}",
        names="nested too deeply"),
    api("nest-1000-admin-put", b'{"granted": ' + nested(1000) + b"}", method="PUT",
        path=f"/_mock/accounts/{TARGET}"),
    api("nest-1000-admin-fault", b'{"kind": ' + nested(1000, '{"a":', "}", "1") + b"}", method="POST",
        path="/_mock/faults"),
    # bad unicode
    api("unicode-lone-high-surrogate", b'{"model": "kling-o3-text-to-video", "prompt": "\\ud800"}'),
    api("unicode-lone-low-surrogate", b'{"model": "kling-o3-text-to-video", "prompt": "\\udc00"}'),
    api("unicode-surrogate-then-letter", b'{"model": "kling-o3-text-to-video", "prompt": "\\ud800\\u0041"}'),
    api("unicode-invalid-utf8", b'{"model": "kling-o3-text-to-video", "prompt": "\xff\xfe"}'),
    api("unicode-overlong-slash", b'{"model": "kling-o3-text-to-video", "prompt": "\xc0\xaf"}'),
    api("unicode-cesu-surrogate", b'{"model": "kling-o3-text-to-video", "prompt": "\xed\xa0\x80"}'),
    api("unicode-truncated-sequence", b'{"model": "kling-o3-text-to-video", "prompt": "\xe2\x82"}'),
    api("unicode-raw-nul-in-string", b'{"model": "kling-o3-text-to-video", "prompt": "a\x00b"}'),
    api("unicode-raw-nul-between-tokens", b'{"model": "kling-o3-text-to-video",\x00 "prompt": "x"}'),
    api("unicode-utf16-body", json.dumps(VALID).encode("utf-16")),
    api("unicode-escaped-nul-in-model", b'{"model": "kling-o3-text-to-video\\u0000", "prompt": "x"}',
        names="model"),
    api("unicode-escaped-nul-in-enum", b'{"model": "kling-o3-text-to-video", "prompt": "x", '
                                       b'"aspect_ratio": "16:9\\u0000"}', names="aspect_ratio"),
    # an escaped NUL is a valid JSON string and the contract does not forbid it in a prompt: the key
    # has no credits, so a 402 proves the request went through validation, rules and pricing unharmed
    api("unicode-escaped-nul-in-prompt-poor", b'{"model": "kling-o3-text-to-video", "prompt": "a\\u0000b"}',
        key=POOR, status=402, code="insufficient_quota"),
    api("unicode-nul-key-and-bad-duration", b'{"model": "kling-o3-text-to-video", "prompt": "x", '
                                            b'"\\u0000": 1, "duration": "5"}', names="duration"),
    api("unicode-admin-key-path", {"granted": 1}, method="PUT", path="/_mock/accounts/sk-%C3%A9%C3%A9%C3%A9%C3%A9"
                                                                    "%C3%A9%C3%A9%C3%A9%C3%A9", names="key"),
    # absurd numbers
    *[_absurd_duration(id, literal) for id, literal in [
        ("1e308", "1e308"), ("-1e308", "-1e308"), ("2pow64", str(2**64)), ("minus-zero", "-0"),
        ("1e-320", "1e-320"), ("29-nines", "9" * 29), ("3.0000000001", "3.0000000001"),
        ("-2pow64-1", str(-(2**64) - 1)), ("1e400", "1e400"), ("-1e400", "-1e400")]],
    *[_absurd_admin(f"advance-{id}", "/_mock/clock/advance", "POST", '{"seconds": @}', literal, "seconds")
      for id, literal in [("1e308", "1e308"), ("-1e308", "-1e308"), ("2pow64", str(2**64)),
                          ("29-nines", "9" * 29), ("-1e-320", "-1e-320")]],
    _absurd_admin("advance-1e400", "/_mock/clock/advance", "POST", '{"seconds": @}', "1e400"),
    *[_absurd_admin(f"granted-{id}", f"/_mock/accounts/{TARGET}", "PUT", '{"granted": @}', literal, "granted")
      for id, literal in [("1e308", "1e308"), ("-1e308", "-1e308"), ("2pow64", str(2**64)),
                          ("29-nines", "9" * 29), ("-1e-320", "-1e-320"), ("1e13", "1e13")]],
    *[_absurd_admin(f"fault-{name}-{id}", "/_mock/faults", "POST", FAULT + f', "{name}": @}}', literal, name)
      for name, id, literal in [("latency_ms", "1e308", "1e308"), ("latency_ms", "-1e308", "-1e308"),
                                ("retry_after", "2pow64", str(2**64)), ("probability", "1e308", "1e308"),
                                ("probability", "minus-zero", "-0"), ("times", "zero", "0"),
                                ("times", "3.5", "3.5"), ("times", "-2pow64", str(-(2**64)))]],
    # ``times`` has no maximum: an integer beyond 64 bits passes the schema
    *[_absurd_admin(f"fault-times-{id}", "/_mock/faults", "POST", FAULT + ', "times": @}', literal, "times")
      for id, literal in [("1e20", "1e20"), ("2pow64", str(2**64)), ("29-nines", "9" * 29)]],
    _absurd_admin("scenario-times-1e20", "/_mock/scenarios", "POST", f'{{"scenario": "stuck", "key": "{NOBODY}", '
                  '"times": @}', "1e20", "times"),
    # admin bodies that are JSON objects of the right types but break the admin contract
    api("admin-put-duplicate-models", {"granted": 1, "models": [T2V, T2V]}, method="PUT",
        path=f"/_mock/accounts/{TARGET}", names="models"),
    api("admin-put-unknown-model", {"granted": 1, "models": ["kling-o3-nope"]}, method="PUT",
        path=f"/_mock/accounts/{TARGET}"),
    api("admin-put-extra-field", {"granted": 1, "balance": 10**9}, method="PUT", path=f"/_mock/accounts/{TARGET}",
        names="balance"),
    api("admin-fault-latency-without-ms", {"kind": "latency", "key": NOBODY}, method="POST", path="/_mock/faults",
        names="latency_ms"),
    api("admin-fault-task-failure-without-code", {"kind": "task_failure", "key": NOBODY}, method="POST",
        path="/_mock/faults", names="error_code"),
    api("admin-fault-scenario-on-task-route", {"kind": "scenario", "scenario": "stuck", "route": "task",
                                               "key": NOBODY}, method="POST", path="/_mock/faults", names="route"),
    api("admin-fault-bad-scenario-syntax", {"kind": "scenario", "scenario": "fail=bogus", "key": NOBODY},
        method="POST", path="/_mock/faults", names="scenario"),
    api("admin-fault-unknown-kind", {"kind": "explode", "key": NOBODY}, method="POST", path="/_mock/faults",
        names="kind"),
    # callback_url must not reach loopback, private or link-local hosts (openapi.yaml): the key has no credits,
    # so a host the guard misses shows as a 402 (the request was accepted up to billing) instead of the 400
    *[api(f"callback-{id}", valid_with(callback_url=f"https://{host}/cb"), key=POOR, names="callback_url")
      for id, host in [("loopback", "127.0.0.1"), ("ipv6-loopback", "[::1]"), ("decimal-loopback", "2130706433"),
                       ("localhost-dot", "localhost."), ("bad-port", "example.com:99999"),
                       ("unclosed-ipv6", "[::1"), ("short-loopback", "127.1"), ("hex-loopback", "0x7f000001"),
                       ("octal-loopback", "0177.0.0.1"), ("octal-metadata", "0251.0376.0251.0376"),
                       ("short-private", "10.1")]],
    api("callback-plain-http", valid_with(callback_url="http://example.com/cb"), key=POOR, names="callback_url"),
    # proxy headers (trusted from 127.0.0.1, EVOLINK_MOCK_TRUSTED_PROXIES) carrying garbage
    api("forwarded-garbage", b"{}", headers=(("X-Forwarded-For", "not an ip, ::::, 999.999.1.1"),
                                             ("X-Forwarded-Proto", "javascript"), ("Forwarded", "for=\"[")),
        names="model"),
    # absurd admin query parameters
    *[api(f"query-{id}", method="GET", path=path, names=name) for id, path, name in [
        ("wait-nan", "/_mock/callbacks?wait=nan", "wait"), ("wait-inf", "/_mock/callbacks?wait=inf", "wait"),
        ("wait-1e308", "/_mock/callbacks?wait=1e308", "wait"), ("wait-negative", "/_mock/callbacks?wait=-1", "wait"),
        ("wait-nul", "/_mock/callbacks?wait=%00", "wait"),
        ("callbacks-task-id-10kb", f"/_mock/callbacks?task_id={TEN_KB}", "task_id"),
        ("limit-29-nines", f"/_mock/tasks?limit={'9' * 29}", "limit"),
        ("limit-zero", "/_mock/tasks?limit=0", "limit"), ("limit-exponent", "/_mock/tasks?limit=1e3", "limit"),
        ("limit-invalid-utf8", "/_mock/tasks?limit=%ff", "limit"),
        ("limit-5000-digits", f"/_mock/tasks?limit={'9' * 5000}", "limit"),
        ("tasks-key-10kb", f"/_mock/tasks?key=sk-{'a' * 10_000}", "key")]],
    # long and traversal task ids, file names and keys
    api("id-10kb", method="GET", path=f"/v1/tasks/{TEN_KB}", status=400, code="invalid_task_id"),
    api("id-65-chars", method="GET", path="/v1/tasks/task-unified-1757169743-" + "a" * 41, status=400,
        code="invalid_task_id"),
    api("id-unknown-well-formed", method="GET", path="/v1/tasks/task-unified-1757169743-zzzzzzzz", status=404,
        code="task_not_found"),
    api("id-empty", method="GET", path="/v1/tasks/", status=404, code="not_found"),
    raw("id-dotdot-traversal", request("GET", "/v1/tasks/../../_mock/health", GET_RICH), status=404,
        code="not_found"),
    raw("id-dotdot-to-credits", request("GET", "/v1/tasks/../credits", GET_RICH), status=404, code="not_found"),
    raw("id-dotdot-alone", request("GET", "/v1/tasks/..", GET_RICH), code="invalid_task_id"),
    raw("id-encoded-dotdot-slash", request("GET", "/v1/tasks/%2e%2e%2f%2e%2e%2f_mock%2fhealth", GET_RICH),
        status=404, code="not_found"),
    raw("id-dotdot-encoded-slash", request("GET", "/v1/tasks/..%2f..%2fcredits", GET_RICH), status=404,
        code="not_found"),
    raw("id-encoded-dotdot", request("GET", "/v1/tasks/%2e%2e", GET_RICH), code="invalid_task_id"),
    raw("id-encoded-nul", request("GET", "/v1/tasks/%00", GET_RICH), code="invalid_task_id"),
    raw("id-valid-then-encoded-nul", request("GET", "/v1/tasks/task-unified-1757169743-abc%00", GET_RICH),
        code="invalid_task_id"),
    raw("id-encoded-invalid-utf8", request("GET", "/v1/tasks/%ff%fe", GET_RICH), code="invalid_task_id"),
    raw("id-encoded-overlong", request("GET", "/v1/tasks/%c0%ae%c0%ae%c0%af", GET_RICH), code="invalid_task_id"),
    raw("id-double-encoded", request("GET", "/v1/tasks/%252e%252e%252f", GET_RICH), code="invalid_task_id"),
    raw("id-bad-percent", request("GET", "/v1/tasks/%zz%g", GET_RICH), code="invalid_task_id"),
    raw("id-backslashes", request("GET", "/v1/tasks/..\\..\\etc\\passwd", GET_RICH), code="invalid_task_id"),
    api("admin-task-10kb", method="GET", path=f"/_mock/tasks/{TEN_KB}", status=404, code="task_not_found"),
    api("file-10kb", method="GET", path=f"/files/{TEN_KB}.mp4", key=None, status=404, code="file_not_found"),
    api("file-unknown", method="GET", path="/files/task-unified-1757169743-zzzzzzzz.mp4", key=None, status=404,
        code="file_not_found"),
    api("file-no-suffix", method="GET", path="/files/passwd", key=None, status=404, code="file_not_found"),
    raw("file-traversal", request("GET", "/files/../../etc/passwd"), status=404, code="not_found"),
    raw("file-encoded-traversal", request("GET", "/files/..%2f..%2fetc%2fpasswd"), status=404, code="not_found"),
    raw("file-encoded-dotdot-mp4", request("GET", "/files/%2e%2e.mp4"), status=404, code="file_not_found"),
    raw("file-encoded-nul", request("GET", "/files/%00.mp4"), status=404, code="file_not_found"),
    raw("admin-key-traversal", request("PUT", f"/_mock/accounts/..%2f{TARGET}", (JSON_CT,), b'{"granted": 1}'),
        status=404, code="not_found"),
    api("admin-key-encoded-nul", {"granted": 1}, method="PUT", path="/_mock/accounts/%00", names="key"),
    api("admin-key-10kb-bad-chars", {"granted": 1}, method="PUT", path="/_mock/accounts/sk-" + "!" * 10_000,
        names="key"),
    # long headers, bad keys
    api("auth-8000b", key=None, headers=(("Authorization", "Bearer " + "A!" * 4000),), status=401,
        code="unauthorized"),
    api("auth-8kb", key=None, headers=(("Authorization", "Bearer " + "A!" * 4096),), **HEADERS_431,
        names="authorization"),
    api("auth-64kb", key=None, headers=(("Authorization", "Bearer " + "A!" * 32768),), **HEADERS_431),
    raw("auth-key-2mb", request("GET", "/v1/credits", (bearer("sk-" + "a" * 2_000_000),)), **HEADERS_431),
    create_raw("auth-key-2mb-create", json.dumps(VALID).encode(), key="sk-" + "a" * 2_000_000, **HEADERS_431),
    raw("header-60kb-junk", request("POST", "/v1/videos/generations",
                                    (bearer(RICH), JSON_CT, ("X-Junk", SIXTY_KB)), b"{}"), **HEADERS_431,
        names="x-junk"),
    raw("header-5mb-credits", request("GET", "/v1/credits", (bearer(RICH), ("X-Foo", "a" * 5_000_000))),
        **HEADERS_431, names="x-foo"),
    raw("header-5mb-name", request("GET", "/v1/credits", (bearer(RICH), ("X" * 5_000_000, "a"))), **HEADERS_431),
    raw("header-at-limit", request("GET", "/v1/credits", (("X-Junk", "j" * (MAX_HEADER_BYTES - 6)),)),
        status=401, code="unauthorized"),
    raw("header-over-limit-by-1", request("GET", "/v1/credits", (("X-Junk", "j" * (MAX_HEADER_BYTES - 5)),)),
        **HEADERS_431, names=str(MAX_HEADER_BYTES)),
    *[raw(f"header-9kb-{id}", request(method, path, (("X-Junk", "j" * 9000), JSON_CT), body), **HEADERS_431,
          head=method == "HEAD")
      for id, method, path, body in [
          ("poll", "GET", "/v1/tasks/task-unified-1757169743-zzzzzzzz", None),
          ("head-credits", "HEAD", "/v1/credits", None), ("file", "GET", "/files/x.mp4", None),
          ("admin-health", "GET", "/_mock/health", None), ("admin-reset", "POST", "/_mock/reset", b""),
          ("admin-put", "PUT", f"/_mock/accounts/{TARGET}", b'{"granted": 1}'),
          ("admin-fault", "POST", "/_mock/faults", b'{"kind": "drop"}'),
          ("dashboard-root", "GET", "/", None), ("dashboard-page", "GET", "/_mock/ui/", None),
          ("dashboard-stream", "GET", "/_mock/ui/events", None), ("unknown-route", "GET", "/nowhere", None),
          ("wrong-method", "DELETE", "/v1/credits", None)]],
    raw("headers-5-of-7kb", request("GET", "/v1/credits", [(f"X-Pad-{i}", "p" * 7000) for i in range(5)]),
        **HEADERS_431, names=str(MAX_HEADERS_BYTES)),
    raw("headers-5-of-7kb-same-name", request("GET", "/v1/credits", [("X-Pad", "p" * 7000)] * 5), **HEADERS_431,
        names=str(MAX_HEADERS_BYTES)),
    raw("headers-6000-tiny", request("GET", "/v1/credits", [(f"X-H{i}", "v") for i in range(6000)]),
        **HEADERS_431, names=str(MAX_HEADERS_BYTES)),
    raw("header-3000-headers", request("GET", "/v1/credits", [(f"X-H{i}", "v") for i in range(3000)]),
        status=401, code="unauthorized"),
    api("header-100-headers", key=None, headers=tuple((f"X-Junk-{i}", "y" * 100) for i in range(100)),
        status=401, code="unauthorized"),
    api("auth-key-4kb", key=None, headers=(bearer("sk-" + "a" * 4000),), status=401, code="unauthorized"),
    api("auth-key-4kb-create", VALID, key=None, headers=(bearer("sk-" + "a" * 4000),), status=401,
        code="unauthorized"),
    api("admin-put-key-4kb", {"granted": 1}, method="PUT", path="/_mock/accounts/sk-" + "a" * 4000, names="key"),
    api("auth-missing", key=None, status=401, code="unauthorized"),
    api("auth-empty", key=None, headers=(("Authorization", ""),), status=401, code="unauthorized"),
    api("auth-bearer-only", key=None, headers=(("Authorization", "Bearer"),), status=401, code="unauthorized"),
    raw("auth-bearer-space", request("GET", "/v1/credits", (("Authorization", "Bearer "),)), status=401,
        code="unauthorized"),  # httpx refuses a header value ending in a space
    api("auth-basic", key=None, headers=(("Authorization", "Basic c2stYWFhOmJiYg=="),), status=401,
        code="unauthorized"),
    api("auth-token-scheme", key=None, headers=(("Authorization", f"Token {RICH}"),), status=401,
        code="unauthorized"),
    api("auth-short-key", key=None, headers=(("Authorization", "Bearer sk-short"),), status=401,
        code="unauthorized"),
    api("auth-bad-char-key", key=None, headers=(("Authorization", "Bearer sk-aaaaaaaa!"),), status=401,
        code="unauthorized"),
    api("auth-two-keys", key=None, headers=(("Authorization", f"Bearer {RICH} {RICH}"),), status=401,
        code="unauthorized"),
    raw("auth-tab-in-key", request("GET", "/v1/credits", (("Authorization", f"Bearer\t{RICH}"),)), status=401,
        code="unauthorized"),
    raw("auth-latin1-byte", request("GET", "/v1/credits", (("Authorization", b"Bearer sk-hostile-\xe9\xe9\xe9"),)),
        status=401, code="unauthorized"),
    raw("auth-utf8-fullwidth", request("GET", "/v1/credits",
                                       (("Authorization", "Bearer sk-ｈｏｓｔｉｌｅ１２".encode()),)),
        status=401, code="unauthorized"),
    raw("auth-two-headers", request("GET", "/v1/credits", (("Authorization", "Bearer nope"),
                                                           ("Authorization", "Bearer sk-x"))),
        status=401, code="unauthorized"),
    _scenario("unknown-code", "fail=bogus_code"),
    _scenario("negative-queue", "queue=-1"),
    _scenario("nan-queue", "queue=nan"),
    _scenario("inf-processing", "processing=inf"),
    _scenario("zero-processing", "processing=0"),
    _scenario("huge-processing", "processing=1e309"),
    _scenario("input-seconds-on-t2v", "input_seconds=5"),
    _scenario("stuck-with-value", "stuck=yes"),
    _scenario("bare-equals", "="),
    _scenario("8000b", "q" * 8000),
    create_raw("scenario-8kb", json.dumps(VALID).encode(), extra=(("X-Mock-Scenario", "q" * 8192),),
               **HEADERS_431, names="x-mock-scenario"),
    create_raw("scenario-1mb", json.dumps(VALID).encode(), extra=(("X-Mock-Scenario", "a" * 1_000_000),),
               **HEADERS_431, names="x-mock-scenario"),
    _scenario("4kb-items", ";".join(["q" * 1000, "fail=" + "x" * 1000, "queue=" + "9" * 1000, "stuck"])),
    _scenario("latin1-bytes", b"\xe9\xff\xfe"),
    _scenario("semicolons-and-garbage", ";;stuck;;bogus;;"),
    create_raw("scenario-in-prompt", json.dumps(valid_with(prompt="[mock: fail=nope]")).encode(), names="scenario"),
    raw("host-header-garbage", request("GET", "/v1/tasks/task-unified-1757169743-zzzzzzzz",
                                       (("Host", b"\xff\xfe<script>"), bearer(RICH)), host=False),
        status=404, code="task_not_found"),
    # methods the routes do not allow, OPTIONS, HEAD
    api("method-put-credits", method="PUT", status=405, code="method_not_allowed"),
    api("method-post-credits", VALID, method="POST", path="/v1/credits", status=405, code="method_not_allowed"),
    api("method-get-generations", method="GET", path="/v1/videos/generations", status=405,
        code="method_not_allowed"),
    api("method-patch-generations", VALID, method="PATCH", status=405, code="method_not_allowed"),
    api("method-delete-task", method="DELETE", path="/v1/tasks/task-unified-1757169743-zzzzzzzz", status=405,
        code="method_not_allowed"),
    api("method-post-task", VALID, method="POST", path="/v1/tasks/task-unified-1757169743-zzzzzzzz", status=405,
        code="method_not_allowed"),
    api("method-delete-file", method="DELETE", path="/files/x.mp4", status=405, code="method_not_allowed"),
    api("method-post-health", method="POST", path="/_mock/health", status=405, code="method_not_allowed"),
    api("method-get-advance", method="GET", path="/_mock/clock/advance", status=405, code="method_not_allowed"),
    api("method-patch-account", {"granted": 1}, method="PATCH", path=f"/_mock/accounts/{TARGET}", status=405,
        code="method_not_allowed"),
    api("method-put-faults", {"kind": "drop"}, method="PUT", path="/_mock/faults", status=405,
        code="method_not_allowed"),
    raw("method-trace", request("TRACE", "/v1/credits"), status=405, code="method_not_allowed"),
    *[api(f"options-{name}", method="OPTIONS", path=path, status=405, code="method_not_allowed")
      for name, path in [("generations", "/v1/videos/generations"), ("credits", "/v1/credits"),
                         ("task", "/v1/tasks/task-unified-1757169743-zzzzzzzz"), ("file", "/files/x.mp4"),
                         ("faults", "/_mock/faults")]],
    raw("options-asterisk", request("OPTIONS", "*"), status=404, code="not_found"),
    raw("head-generations", request("HEAD", "/v1/videos/generations"), head=True, status=405,
        code="method_not_allowed"),
    raw("head-credits-no-key", request("HEAD", "/v1/credits"), head=True, status=401, code="unauthorized"),
    raw("head-task-10kb", request("HEAD", f"/v1/tasks/{TEN_KB}", GET_RICH), head=True, code="invalid_task_id"),
    # HTTP-level oddities httptools accepts (so the app answers)
    raw("http10-no-host", request("GET", "/v1/credits", host=False, close=False, version=b"HTTP/1.0"),
        status=401, code="unauthorized"),
    raw("http11-no-host", request("GET", "/v1/credits", host=False), status=401, code="unauthorized"),
    raw("absolute-uri-target", request("GET", "http://evil.example/v1/credits"), status=401, code="unauthorized"),
    raw("fragment-in-target", request("GET", "/v1/credits#frag"), status=401, code="unauthorized"),
    raw("websocket-upgrade", request("GET", "/v1/credits", (("Upgrade", "websocket"), ("Connection", "Upgrade"),
                                                            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                                                            ("Sec-WebSocket-Version", "13")), close=False),
        status=401, code="unauthorized"),
    raw("chunk-extension", request("POST", "/v1/videos/generations", (bearer(RICH), JSON_CT,
                                                                      ("Transfer-Encoding", "chunked")),
                                   b'2;ext="x"\r\n{}\r\n0\r\n\r\n', length=False), names="model"),
    raw("content-length-zero", request("POST", "/v1/videos/generations", (bearer(RICH), JSON_CT), b""),
        names="empty"),
    # protocol garbage: uvicorn (httptools) rejects it before the app is called
    *[raw(f"proto-{id}", data, layer="uvicorn", code=None) for id, data in [
        ("garbage-request-line", b"GARBAGE\r\n\r\n"),
        ("method-only", b"GET\r\n\r\n"),
        ("unknown-method", request("BREW", "/v1/credits")),
        ("lowercase-method", request("get", "/v1/credits")),
        ("connect", request("CONNECT", "evil.example:443")),
        ("http-9.9", request("GET", "/v1/credits", version=b"HTTP/9.9")),
        ("relative-target", request("GET", "v1/credits")),
        ("raw-non-utf8-path", request("GET", b"/v1/tasks/\xff\xfe", GET_RICH)),
        ("raw-nul-in-path", request("GET", b"/v1/tasks/a\x00b", GET_RICH)),
        ("lf-only-lines", b"GET /v1/credits HTTP/1.1\nHost: x\nConnection: close\n\n"),
        ("space-before-colon", request("GET", "/v1/credits", (("Authorization ", f"Bearer {RICH}"),))),
        ("space-in-header-name", request("GET", "/v1/credits", (("X Y", "z"),))),
        ("header-without-colon", b"GET /v1/credits HTTP/1.1\r\nHost: x\r\nNoColonHere\r\n\r\n"),
        ("obs-fold", b"GET /v1/credits HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\nConnection: close\r\n\r\n"),
        ("control-char-in-key", request("GET", "/v1/credits", (("Authorization", f"Bearer {RICH}\x01"),))),
        ("del-in-key", request("GET", "/v1/credits", (("Authorization", "Bearer sk-hostile\x7fkey"),))),
        ("content-length-negative", request("POST", "/v1/videos/generations", (("Content-Length", "-1"),),
                                            length=False)),
        ("content-length-plus", request("POST", "/v1/videos/generations", (("Content-Length", "+2"),), b"{}",
                                        length=False)),
        ("content-length-23-digits", request("POST", "/v1/videos/generations",
                                             (bearer(RICH), JSON_CT, ("Content-Length", "9" * 23)), b"{}",
                                             length=False)),
        ("content-length-two-values", request("POST", "/v1/videos/generations",
                                              (("Content-Length", "2"), ("Content-Length", "3")), b"{}",
                                              length=False)),
        ("content-length-and-chunked", request("POST", "/v1/videos/generations",
                                               (("Content-Length", "5"), ("Transfer-Encoding", "chunked")),
                                               b"0\r\n\r\n", length=False)),
        ("transfer-encoding-gzip", request("POST", "/v1/videos/generations", (("Transfer-Encoding", "gzip"),),
                                           length=False)),
        ("transfer-encoding-chunked-twice", request("POST", "/v1/videos/generations",
                                                    (bearer(RICH), JSON_CT,
                                                     ("Transfer-Encoding", "chunked, chunked")),
                                                    b"2\r\n{}\r\n0\r\n\r\n", length=False)),
        ("bad-chunk-size", request("POST", "/v1/videos/generations", (bearer(RICH), JSON_CT,
                                                                      ("Transfer-Encoding", "chunked")),
                                   b"zz\r\nabc\r\n0\r\n\r\n", length=False)),
        ("huge-chunk-size", request("POST", "/v1/videos/generations", (bearer(RICH), JSON_CT,
                                                                       ("Transfer-Encoding", "chunked")),
                                    b"ffffffffffffffffff\r\n{}\r\n0\r\n\r\n", length=False)),
        ("tls-client-hello", bytes.fromhex("16030100a5010000a10303") + bytes(range(64))),
        ("http2-preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
        ("binary-noise", bytes((i * 37 + 11) % 256 for i in range(512))),
    ]],
    # the client cuts its own request short: nothing can be answered, the connection must end cleanly
    raw("cut-body-then-half-close", request("POST", "/v1/videos/generations",
                                            (bearer(RICH), JSON_CT, ("Content-Length", "100")),
                                            b'{"model"', length=False), half_close=True,
        layer="close_or_4xx", code=None),
    raw("cut-chunked-body-then-half-close", request("POST", "/v1/videos/generations",
                                                    (bearer(RICH), JSON_CT, ("Transfer-Encoding", "chunked")),
                                                    b"10\r\n{}", length=False), half_close=True,
        layer="close_or_4xx", code=None),
    raw("cut-headers-then-half-close", b"GET /v1/credits HTTP/1.1\r\nHost: x\r\n", half_close=True,
        layer="close_or_4xx", code=None),
    raw("nothing-then-half-close", b"", half_close=True, layer="close_or_4xx", code=None),
    raw("blank-lines-then-half-close", b"\r\n\r\n", half_close=True, layer="close_or_4xx", code=None),
    # a huge body behind a small Content-Length: the app reads the 20 declared bytes (truncated JSON, a 400);
    # the rest parses as a second, garbage request, which httptools rejects at once: uvicorn's 400 then comes
    # first and the app's answer is lost with the closed connection. Either way: a 4xx, never a hang or a 500.
    create_raw("huge-body-small-content-length", b"x" * 200_000, extra=(("Content-Length", "20"),),
               layer="either", code=None),
    raw("huge-body-small-content-length-json", request("POST", "/v1/videos/generations",
                                                       (bearer(RICH), JSON_CT, ("Content-Length", "20")),
                                                       json.dumps(valid_with(prompt="p" * 100_000)).encode(),
                                                       length=False), layer="either", code=None),
]


# -- wrong types in every field, derived from the contract -------------------------------------------
def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def allowed_types(schema: dict[str, Any]) -> set[str]:
    """The JSON types a property schema admits (from ``type``, else from ``enum`` / ``const``)."""
    declared = schema.get("type")
    if declared is not None:
        types = {declared} if isinstance(declared, str) else set(declared)
    else:
        values = list(schema.get("enum", ())) + ([schema["const"]] if "const" in schema else [])
        types = {_json_type(v) for v in values}
    if "number" in types:
        types.add("integer")
    return types


WRONG_CANDIDATES = (12345, "wrong type", True, ["wrong type"], {"wrong": "type"})


def wrong_value(schema: dict[str, Any]) -> Any:
    allowed = allowed_types(schema)
    assert allowed, f"no type information in {schema}: cannot pick a wrong type"
    return next(c for c in WRONG_CANDIDATES if _json_type(c) not in allowed)


def properties(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A body schema's properties, with those declared in ``allOf`` parts (the typed ones win)."""
    found: dict[str, dict[str, Any]] = {}
    for part in (schema, *schema.get("allOf", ())):
        for name, sub in part.get("properties", {}).items():
            if allowed_types(sub) or name not in found:
                found[name] = sub
    return found


def _base_bodies() -> dict[str, dict[str, Any]]:
    """Each model's plain fixture request (``fixtures/requests/<model>/default.json``)."""
    folder = fixtures_dir() / "requests"
    return {model: json.loads((folder / model / "default.json").read_text()) for model in api_contract().models}


BASES = _base_bodies()
ADMIN_TARGETS = {  # operationId: (method, path, a valid body that changes nothing worth keeping)
    "advanceClock": ("POST", "/_mock/clock/advance", {"seconds": 0}),
    "putAccount": ("PUT", f"/_mock/accounts/{TARGET}", {"granted": GRANTS[TARGET]}),
    "addFault": ("POST", "/_mock/faults", {"kind": "latency", "latency_ms": 0, "key": NOBODY, "route": "credits",
                                           "times": 1}),
}


def _model_fields() -> dict[str, dict[str, Any]]:
    """Each model's fields to send wrong types in: all of them for the representative models (and for
    every model in the deep run); for the others, the fields whose schema no representative shares."""
    models = api_contract().models
    every = {model: dict(schema.schema["properties"]) for model, schema in models.items()}
    if DEEP:
        return every
    chosen = representative_models()
    covered = [(name, sub) for model in chosen for name, sub in every[model].items()]
    return {model: fields if model in chosen else
            {name: sub for name, sub in fields.items() if (name, sub) not in covered}
            for model, fields in every.items()}


def _wrong_type_cases() -> Iterator[Case]:
    targets: list[tuple[str, str, str, dict[str, Any], dict[str, Any]]] = [
        (model, "POST", "/v1/videos/generations", BASES[model], fields) for model, fields in _model_fields().items()]
    targets += [(op, method, path, body, properties(admin_contract().bodies[op].schema))
                for op, (method, path, body) in ADMIN_TARGETS.items()]
    for name, method, path, base, props in targets:
        for prop, schema in props.items():
            if schema is False:  # a field the model refuses whatever its value
                yield api(f"{name}.{prop}=refused", {**base, prop: "refused"}, method=method, path=path, names=prop)
                continue
            values = [("wrong-type", wrong_value(schema))]
            if "null" not in allowed_types(schema):
                values.append(("null", None))
            for label, value in values:
                yield api(f"{name}.{prop}={label}", {**base, prop: value}, method=method, path=path, names=prop)


WRONG_TYPE_CASES = list(_wrong_type_cases())

# -- the server, the keys, and the after-check --------------------------------------------------------
@dataclass
class Battery:
    server: LiveServer
    http: httpx.Client
    errors: ServerErrors
    fresh_keys: set[str] = field(default_factory=set)
    tasks_on_purpose: int = 0

    @property
    def port(self) -> int:
        return self.server.port

    def stray_faults(self) -> list[Any]:
        """Remove and return the fault rules a garbage request managed to add."""
        emulator = self.server.emulator
        return [emulator.remove_fault(rule.id) for rule in list(emulator.faults())]

    def assert_untouched(self) -> None:
        """Healthy, and every ledger, the task count, the clock and the fault list as the battery found them."""
        health = self.http.get("/_mock/health")
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
        emulator = self.server.emulator
        for key, granted in GRANTS.items():
            account = emulator.account(key)
            assert account is not None, key
            ledger = (account.granted, account.balance, account.reserved, account.charged, account.running,
                      account.revoked, account.models)
            assert ledger == (Decimal(granted), Decimal(granted), 0, 0, 0, False, None), (key, ledger)
        keys = {a.key for a in emulator.accounts()}
        assert keys == set(GRANTS) | self.fresh_keys, "a garbage request made an account"
        assert emulator.task_count() == self.tasks_on_purpose, [t.id for t in emulator.tasks()]
        assert emulator.faults() == [], emulator.faults()
        assert emulator.clock.offset == 0, "a garbage request moved the clock"
        assert not self.errors.records, self.errors.lines()


@pytest.fixture(scope="module")
def battery() -> Iterator[Battery]:
    """One real server for the module; its teardown checks that the battery moved nothing."""
    with LiveServer(Settings(speed=0, seed=1, max_body_bytes=MAX_BODY)) as server:
        errors = ServerErrors(f"evolink-mock:{server.port}")
        uvicorn_log = logging.getLogger("uvicorn.error")
        uvicorn_log.addFilter(errors)  # a filter (not a handler) survives uvicorn's logging dictConfig
        http = httpx.Client(base_url=server.base_url, timeout=10)
        try:
            for key, granted in GRANTS.items():
                response = http.put(f"/_mock/accounts/{key}", json={"granted": granted})
                assert response.status_code == 200, response.text
            state = Battery(server, http, errors)
            yield state
            state.assert_untouched()
        finally:
            uvicorn_log.removeFilter(errors)
            http.close()


def assert_answer(case: Case, answer: Answer) -> None:
    """The answer ``case`` must get (see ``Case.layer``)."""
    if case.layer == "close_or_4xx" and isinstance(answer, Dropped) and answer.clean:
        return
    assert not isinstance(answer, Dropped), (
        f"connection dropped without an answer ({answer.why}); received {answer.received[:200]!r}")
    assert 400 <= answer.status < 500, (answer.status, answer.body[:500])
    for marker in TRACE_MARKERS:
        assert marker.encode() not in answer.body, answer.body[:2000]
    from_uvicorn = answer.content_type.startswith("text/plain") and answer.body == UVICORN_400
    if case.layer == "uvicorn" or (case.layer in ("either", "close_or_4xx") and from_uvicorn):
        assert (answer.status, answer.body) == (400, UVICORN_400), (answer.status, answer.body[:300])
        return
    assert answer.status == case.status, (answer.status, answer.body[:500])
    assert answer.content_type.startswith("application/json"), answer.headers
    if case.head:  # no body on HEAD; the headers still describe the JSON error
        assert int(answer.headers.get("content-length", "0")) > 0, answer.headers
        return
    assert len(answer.body) <= MAX_ERROR_BODY, (len(answer.body), answer.body[:500])
    body = json.loads(answer.body)
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error, dict) and set(error) == {"code", "message", "type"}, body
    assert all(isinstance(v, str) and v for v in error.values()), body
    if case.code is not None:
        assert error["code"] == case.code, error
    if case.names is not None:
        assert case.names in error["message"], error


def adds_rules(case: Case) -> bool:
    return case.path.startswith(("/_mock/faults", "/_mock/scenarios"))


def run_case(battery: Battery, case: Case, client: httpx.Client | None = None) -> None:
    """Send, answer checked, no fault rule added, no traceback logged for this request."""
    seen = len(battery.errors.records)
    try:
        answer = case.send(battery.port, client or battery.http)
    finally:
        stray = battery.stray_faults() if adds_rules(case) else []
    logged = battery.errors.lines(seen)
    assert_answer(case, answer)
    assert not stray, f"the garbage request added fault rule(s): {[r.view() for r in stray]}"
    assert not logged, f"the server logged an error: {logged}"


# -- the tests --------------------------------------------------------------------------------------------
def test_the_table_is_big_and_distinct() -> None:
    ids = [c.id for c in CASES + WRONG_TYPE_CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert len(CASES) >= 100 and len(WRONG_TYPE_CASES) >= 60, (len(CASES), len(WRONG_TYPE_CASES))


def test_wrong_type_bases_are_valid() -> None:
    """The bodies the wrong-type cases start from pass their schema, so each 400 is the one field's."""
    assert set(BASES) == set(api_contract().models)
    for model, body in BASES.items():
        assert api_contract().models[model].violations(body) == [], model
    for op, (_, _, body) in ADMIN_TARGETS.items():
        assert admin_contract().bodies[op].violations(body) == [], op


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_request(battery: Battery, case: Case) -> None:
    run_case(battery, case)


@pytest.mark.parametrize("case", WRONG_TYPE_CASES, ids=[c.id for c in WRONG_TYPE_CASES])
def test_wrong_type_in_every_field(battery: Battery, case: Case) -> None:
    run_case(battery, case)


LIMIT = MAX_HEADER_BYTES


@pytest.mark.parametrize(("headers", "refused"), [
    ([], None),
    ([(b"x", b"v" * (LIMIT - 1))], None),
    ([(b"x", b"v" * LIMIT)], "a header"),
    ([(b"x" * (LIMIT + 1), b"")], "a header"),
    ([(b"h", b"v")] * (LIMIT // 2), None),
    ([(b"x", b"v" * (LIMIT - 1))] * (MAX_HEADERS_BYTES // LIMIT), None),
    ([(b"x", b"v" * (LIMIT - 1))] * (MAX_HEADERS_BYTES // LIMIT) + [(b"y", b"")], "in all"),
], ids=["none", "one-at-limit", "one-over", "name-over", "many-small", "total-at-limit", "total-over"])
def test_header_limits_to_the_byte(headers: list[tuple[bytes, bytes]], refused: str | None) -> None:
    """In-process, at the boundaries: ``MAX_HEADER_BYTES`` a header and ``MAX_HEADERS_BYTES`` in all are allowed."""
    error = oversized_headers(headers)
    if refused is None:
        assert error is None, error.message if error else None
    else:
        assert error is not None and (error.status, error.code) == (431, "request_headers_too_large")
        assert refused in error.message and len(error.message) < 200, error.message


def test_pipelined_garbage_gets_one_answer_each(battery: Battery) -> None:
    """Three bad requests in one write, on one connection: three app answers, in order."""
    data = (request("GET", "/v1/credits", close=False)
            + request("GET", f"/v1/tasks/{'z' * 100}", GET_RICH, close=False)
            + request("DELETE", "/v1/credits"))
    answers = exchange(battery.port, data, replies=3)
    expected = [Case("pipelined-1", status=401, code="unauthorized"),
                Case("pipelined-2", code="invalid_task_id"),
                Case("pipelined-3", status=405, code="method_not_allowed")]
    assert len(answers) == 3, answers
    for case, answer in zip(expected, answers):
        assert_answer(case, answer)


def test_keep_alive_connection_survives_garbage(battery: Battery) -> None:
    """One httpx connection carries a run of app-level garbage and still serves the next request."""
    with httpx.Client(base_url=battery.server.base_url, timeout=10,
                      limits=httpx.Limits(max_connections=1)) as client:
        for case in CASES[:40]:
            if case.raw is None:
                run_case(battery, case, client)
        assert client.get("/_mock/health").status_code == 200


def test_concurrent_garbage(battery: Battery) -> None:
    """About 200 garbage requests from 16 threads at once: each gets its 4xx, nothing moves."""
    mix = [c for c in CASES + WRONG_TYPE_CASES
           if c.layer in ("app", "uvicorn") and not adds_rules(c)]
    # a spread over the whole table (raw and httpx, app and uvicorn layers), about 200 in all
    step = max(1, len(mix) // 200)
    chosen = (mix[::step] * 2)[:200]
    local = threading.local()
    clients: list[httpx.Client] = []
    lock = threading.Lock()

    def client() -> httpx.Client:
        if not hasattr(local, "client"):
            local.client = httpx.Client(base_url=battery.server.base_url, timeout=20)
            with lock:
                clients.append(local.client)
        return local.client

    def one(case: Case) -> tuple[Case, Answer]:
        return case, case.send(battery.port, client())

    try:
        with ThreadPoolExecutor(max_workers=16) as pool:
            results = list(pool.map(one, chosen))
    finally:
        for c in clients:
            c.close()
    assert len(results) == 200
    failures = []
    for case, answer in results:
        try:
            assert_answer(case, answer)
        except AssertionError as exc:
            failures.append(f"{case.id}: {exc}")
    assert not failures, failures


def test_afterwards_healthy_and_no_ledger_moved(battery: Battery) -> None:
    """After the garbage: healthy, a fresh key still gets a valid task, no battery ledger moved."""
    assert battery.http.get("/_mock/health").status_code == 200
    fresh = f"sk-hostile-fresh-{uuid.uuid4().hex}"
    assert battery.http.put(f"/_mock/accounts/{fresh}", json={"granted": 100}).status_code == 200
    battery.fresh_keys.add(fresh)
    response = battery.http.post("/v1/videos/generations", json=VALID, headers=dict([bearer(fresh)]))
    assert response.status_code == 200, response.text
    battery.tasks_on_purpose += 1
    task = response.json()
    assert re.fullmatch(r"task-unified-\d{10}-[a-z0-9]+", task["id"]) and task["status"] == "pending", task
    poll = battery.http.get(f"/v1/tasks/{task['id']}", headers=dict([bearer(fresh)]))
    assert poll.status_code == 200 and poll.json()["id"] == task["id"], poll.text
    battery.assert_untouched()
