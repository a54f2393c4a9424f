"""Does a client's request conform to openapi.yaml? For any mocking tool.

    from contracts.conformance import check_request, assert_conforms

    report = check_request("POST", "https://api.evolink.ai/v1/videos/generations",
                           {"Authorization": "Bearer sk-...", "Content-Type": "application/json"},
                           b'{"model": "kling-o3-text-to-video", "duration": "5"}')
    report.ok            # False
    print(report)        # POST /v1/videos/generations (createVideoGeneration)
                         #   - duration [type]: duration must be an integer (got "5") -- sent "5"

Checked: the operation exists, the bearer key is sent, path parameters, the
JSON body against the model's schema (the discriminator on ``model``) and the
cross-field rules the schema cannot express. Fields the contract does not
know are not errors (the API ignores them): they are reported as warnings.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mock_server.contract import ApiContract, api_contract
from mock_server.core import rules
from mock_server.errors import ApiError
from mock_server.families import registry
from mock_server.redaction import redact

_AUTH = re.compile(r"Bearer\s+\S+", re.IGNORECASE)
_JSON_TYPE = re.compile(r"\s*application/([a-z0-9.+-]*\+)?json\s*(;.*)?$", re.IGNORECASE)


class ContractWarning(UserWarning):
    """A request field the contract does not know (the API ignores it)."""


@dataclass(frozen=True)
class Problem:
    """One way a request breaks the contract."""

    field: str  # dotted path in the body, a header or a path parameter; "" for the request itself
    rule: str  # the schema keyword or the cross-field rule's name
    message: str
    value: Any = None

    def __str__(self) -> str:
        where = f"{self.field} " if self.field else ""
        sent = f" -- sent {_short(self.value)}" if self.value is not None else ""
        return f"{where}[{self.rule}]: {self.message}{sent}"


@dataclass
class Report:
    """The verdict on one request."""

    method: str
    path: str
    operation: str | None
    problems: list[Problem] = field(default_factory=list)
    unknown_fields: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        lines = [f"{self.method} {self.path} ({self.operation or 'no such operation in openapi.yaml'})"]
        lines += [f"  - {problem}" for problem in self.problems]
        if self.unknown_fields:
            lines.append("  ~ ignored by the API (unknown fields): " + ", ".join(self.unknown_fields))
        return redact("\n".join(lines))


def _short(value: Any) -> str:
    text = orjson.dumps(value).decode() if not isinstance(value, bytes) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class _Operation:
    method: str
    pattern: re.Pattern[str]
    operation_id: str
    params: tuple[str, ...]


def _operations(contract: ApiContract) -> list[_Operation]:
    ops = []
    for template, item in contract.spec["paths"].items():
        names = tuple(re.findall(r"{(\w+)}", template))
        pattern = re.compile("^" + re.sub(r"{(\w+)}", r"(?P<\1>[^/]+)", template) + "$")
        for method, op in item.items():
            if isinstance(op, Mapping) and "operationId" in op:
                ops.append(_Operation(method.upper(), pattern, op["operationId"], names))
    return ops


_OPERATIONS: list[_Operation] | None = None


def check_request(method: str, url: str, headers: Mapping[str, str] | None = None,
                  body: bytes | str | Mapping[str, Any] | None = None, *,
                  allow_local_callbacks: bool = False) -> Report:
    """Check one request against openapi.yaml; see :class:`Report`."""
    global _OPERATIONS
    contract = api_contract()
    if _OPERATIONS is None:
        _OPERATIONS = _operations(contract)
    lowered = {k.lower(): v for k, v in (headers or {}).items()}
    path = urlsplit(url).path or "/"
    method = method.upper()
    match = next(((op, m) for op in _OPERATIONS if op.method == method and (m := op.pattern.match(path))), None)
    if match is None:
        return Report(method, path, None, [Problem("", "operation", f"{method} {path} is not an operation of the API")])
    op, found = match
    report = Report(method, path, op.operation_id)
    if not _AUTH.fullmatch(lowered.get("authorization", "").strip()):
        report.problems.append(Problem("Authorization", "security", "send 'Authorization: Bearer <key>'"))
    if "task_id" in op.params:
        try:
            contract.check_task_id(found["task_id"])
        except ApiError as error:
            report.problems.append(Problem("task_id", "pattern", error.message, found["task_id"]))
    if op.operation_id == "createVideoGeneration":
        _check_create(report, contract, lowered, body, allow_local_callbacks)
    return report


def _check_create(report: Report, contract: ApiContract, headers: Mapping[str, str], body: Any,
                  allow_local_callbacks: bool) -> None:
    if not isinstance(body, Mapping):
        if not _JSON_TYPE.match(headers.get("content-type", "")):
            report.problems.append(Problem("Content-Type", "content", "send 'Content-Type: application/json'",
                                           headers.get("content-type")))
        try:
            body = orjson.loads(body or b"")
        except orjson.JSONDecodeError as exc:
            report.problems.append(Problem("", "json", f"the body is not JSON: {exc}"))
            return
    try:
        schema = contract.model_schema(body)
    except ApiError as error:
        value = body.get("model") if isinstance(body, Mapping) else body
        report.problems.append(Problem("model" if isinstance(body, Mapping) else "", "discriminator",
                                       error.message, value))
        return
    violations = schema.violations(body)
    report.problems += [Problem(v.field, v.rule, v.message, v.value) for v in violations]
    known, report.unknown_fields = schema.known_fields(body)
    if not violations:
        context = rules.RuleContext(allow_local_callbacks, schema.defaults.get("duration"))
        report.problems += [Problem("", name, message) for name, message in
                            rules.broken(registry()[schema.name], known, context)]


def assert_conforms(method: str, url: str, headers: Mapping[str, str] | None = None,
                    body: bytes | str | Mapping[str, Any] | None = None, **options: Any) -> Report:
    """:func:`check_request`, raising AssertionError with the readable report when it fails."""
    report = check_request(method, url, headers, body, **options)
    if not report.ok:
        raise AssertionError("request does not conform to openapi.yaml:\n" + str(report))
    return report


#: Receives every API request a kit fixture sees: ``(method, url, headers, body)``.
Sink = Callable[[str, str, dict[str, str], bytes], None]
_UNCHECKED = ("/_mock/", "/files/")


class RecordingMiddleware:
    """ASGI middleware handing every public API request to a :data:`Sink` before the app answers it.

    Admin routes and result downloads are not API operations and are not recorded.
    """

    def __init__(self, app: ASGIApp, sink: Sink | None = None) -> None:
        self.app = app
        self.sink = sink

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sink = self.sink
        if scope["type"] != "http" or sink is None or scope["path"].startswith(_UNCHECKED):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        query = f"?{scope['query_string'].decode('latin-1')}" if scope.get("query_string") else ""
        sink(scope["method"], scope["path"] + query, headers, body)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
