"""Differences between the target's answer and the emulator's, and the contract's schemas.

Per answer: the status; for an error, the exact body shape
``{"error": {"code", "message", "type"}}`` with a string ``code`` and the same
code and type as the emulator; for a success, the operation's contract
schema, missing or extra keys and leaf types against the emulator's body, and
the values that do not vary between runs. Messages, ids and timestamps are
compared only through a probe's explicit message expectations.
"""
from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import jsonschema_rs

from mock_server.contract import api_contract

from .exchange import Answer
from .oracle import number

ERROR_KEYS = ("code", "message", "type")
#: Values that are the same on every run, per operation (dotted paths).
DETERMINISTIC: Mapping[str, tuple[str, ...]] = {
    "createVideoGeneration": ("object", "type", "model", "status", "progress", "task_info.can_cancel",
                              "task_info.video_duration", "usage.billing_rule", "usage.credits_reserved"),
    "getTask": ("object", "type", "model", "status", "task_info.can_cancel"),
    "getCredits": ("success",),
}


@dataclass(frozen=True)
class Difference:
    """One way the target differs: in which probe, which aspect, what was expected, what came."""

    probe: str
    aspect: str
    expected: str
    actual: str

    def as_dict(self) -> dict[str, str]:
        return {"probe": self.probe, "aspect": self.aspect, "expected": self.expected, "actual": self.actual}


def shown(value: Any, limit: int = 120) -> str:
    """A value as compact JSON, shortened."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# -- the contract's operations --------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    """An operation of openapi.yaml: its id and the schema name of each documented status."""

    operation_id: str
    pattern: re.Pattern[str]
    method: str
    schemas: Mapping[str, str]

    def schema_name(self, status: int) -> str | None:
        """The component schema of the answer documented for ``status``."""
        return self.schemas.get(str(status))


def _schema_name(response: Mapping[str, Any], spec: Mapping[str, Any]) -> str | None:
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return schema["$ref"].rsplit("/", 1)[-1] if "$ref" in schema else None


@functools.cache
def operations() -> tuple[Operation, ...]:
    """Every operation of the contract, with its response schemas by status."""
    spec = api_contract().spec
    found = []
    for template, item in spec["paths"].items():
        pattern = re.compile("^" + re.sub(r"{\w+}", "[^/]+", template) + "$")
        for method, op in item.items():
            if isinstance(op, Mapping) and "operationId" in op:
                names = {status: _schema_name(response, spec) for status, response in op["responses"].items()}
                found.append(Operation(op["operationId"], pattern, method.upper(),
                                       {status: name for status, name in names.items() if name}))
    return tuple(found)


def operation_for(method: str, path: str) -> Operation | None:
    """The operation a request calls, if the contract has one."""
    return next((op for op in operations() if op.method == method and op.pattern.match(path)), None)


@functools.cache
def _validator(name: str) -> Any:
    return jsonschema_rs.validator_for(api_contract().schemas[name])


# -- comparison -----------------------------------------------------------------------------------
class Comparison:
    """Collects the differences of one probe."""

    def __init__(self, probe: str) -> None:
        self.probe = probe
        self.differences: list[Difference] = []
        self.notes: list[str] = []  # worth knowing, not drift (the exit code ignores them)

    def add(self, aspect: str, expected: str, actual: str) -> None:
        self.differences.append(Difference(self.probe, aspect, expected, actual))

    def answer(self, method: str, path: str, expected: Answer, actual: Answer, *, names: tuple[str, ...] = (),
               not_names: tuple[str, ...] = (), values: tuple[str, ...] | None = None, label: str = "") -> None:
        """Compare one answer with the emulator's; ``label`` prefixes aspects (e.g. ``poll 3``)."""
        prefix = f"{label} " if label else ""
        if actual.status != expected.status:
            self.add(f"{prefix}status", str(expected.status), str(actual.status))
        op = operation_for(method, path)
        if actual.status < 400 <= expected.status:
            self.add(f"{prefix}accepted", "refused (no task created)", accepted(actual))
        if actual.status >= 400:
            self.error(actual, expected if expected.status >= 400 else None, prefix)
            self.message(actual, names, not_names, prefix)
        elif op is not None:
            self.schema(op, actual, prefix)
            if expected.status < 400 and expected.is_json:
                wanted = DETERMINISTIC.get(op.operation_id, ()) if values is None else values
                self.shape(expected.body, actual.body, prefix)
                self.values(expected.body, actual.body, wanted, prefix)

    def error(self, actual: Answer, expected: Answer | None, prefix: str = "") -> None:
        """The exact error shape; code and type equal to the emulator's."""
        error = actual.error
        if error is None:
            what = shown(actual.body) if actual.is_json else actual.describe()
            self.add(f"{prefix}error body", '{"error": {"code", "message", "type"}}', what)
            return
        if set(actual.body) != {"error"}:
            self.add(f"{prefix}error body keys", "error", ", ".join(sorted(actual.body)))
        keys = sorted(error)
        if keys != sorted(ERROR_KEYS):
            self.add(f"{prefix}error keys", ", ".join(ERROR_KEYS), ", ".join(keys))
        code = error.get("code")
        if not isinstance(code, str):
            self.add(f"{prefix}error.code type", "a string", f"{type(code).__name__} {shown(code)}")
        for key in ("message", "type"):
            if key in error and not isinstance(error[key], str):
                self.add(f"{prefix}error.{key} type", "a string", f"{type(error[key]).__name__} {shown(error[key])}")
        if expected is not None and expected.error is not None:
            for key in ("code", "type"):
                if isinstance(error.get(key), str) and error[key] != expected.error[key]:
                    self.add(f"{prefix}error.{key}", shown(expected.error[key]), shown(error.get(key)))

    def message(self, actual: Answer, names: tuple[str, ...], not_names: tuple[str, ...], prefix: str = "") -> None:
        """The probe's own expectations on the error message."""
        error = actual.error
        text = error.get("message") if error else None
        if not isinstance(text, str) or not (names or not_names):
            return
        lowered = text.lower()
        for word in names:  # the docs promise no per-field messages: a generic one is a note, not drift
            if word.lower() not in lowered:
                self.notes.append(f"{self.probe}: {prefix}message does not name {word}: {shown(text, 200)}")
        for word in not_names:
            if word.lower() in lowered:
                self.add(f"{prefix}message", f"does not name {word}", shown(text, 200))

    def schema(self, op: Operation, actual: Answer, prefix: str = "") -> None:
        """A success answer validates against the contract's schema for its status."""
        name = op.schema_name(actual.status)
        if name is None:
            self.add(f"{prefix}schema", f"a status openapi.yaml documents for {op.operation_id}",
                     str(actual.status))
            return
        if not actual.is_json:
            self.add(f"{prefix}schema {name}", "a JSON body", actual.describe())
            return
        for error in _validator(name).iter_errors(actual.body):
            where = ".".join(str(part) for part in error.instance_path) or "body"
            self.add(f"{prefix}schema {name} {where}", "valid", f"{shown(error.instance, 60)} ({error.message})")

    def shape(self, expected: Any, actual: Any, prefix: str = "", path: str = "") -> None:
        """Missing and extra keys, and leaf types, against the emulator's body."""
        if isinstance(expected, dict) and isinstance(actual, dict):
            for key in sorted(expected.keys() - actual.keys()):
                self.add(f"{prefix}missing key", _join(path, key), "absent")
            for key in sorted(actual.keys() - expected.keys()):
                self.add(f"{prefix}extra key", "absent", f"{_join(path, key)} = {shown(actual[key], 60)}")
            for key in sorted(expected.keys() & actual.keys()):
                self.shape(expected[key], actual[key], prefix, _join(path, key))
        elif _kind(expected) != _kind(actual):
            self.add(f"{prefix}type of {path or 'body'}", _kind(expected), f"{_kind(actual)} {shown(actual, 60)}")

    def values(self, expected: Any, actual: Any, paths: tuple[str, ...], prefix: str = "") -> None:
        """The deterministic values, equal (numbers as exact decimals)."""
        for path in paths:
            want, got = at(expected, path), at(actual, path)
            if want is _ABSENT or got is _ABSENT:
                continue  # reported as a missing key
            same = number(want) == number(got) if number(want) is not None else want == got
            if not same:
                self.add(f"{prefix}value {path}", shown(want), shown(got))


_ABSENT = object()


def reserved(answer: Answer) -> Decimal | None:
    """The credits a create answer says it reserved (None when it says nothing usable)."""
    return number(at(answer.body, "usage.credits_reserved")) if answer.is_json else None


def accepted(answer: Answer) -> str:
    """What an unexpectedly accepted request created, cost included."""
    task_id = at(answer.body, "id") if answer.is_json else _ABSENT
    if task_id is _ABSENT:
        return f"{answer.status}, no task id in the answer"
    credits = reserved(answer)
    cost = f"{credits} credits reserved" if credits is not None else "an unknown number of credits reserved"
    return f"{answer.status}: task {task_id} created, {cost}"


def at(body: Any, path: str, default: Any = _ABSENT) -> Any:
    """The value at a dotted path of a JSON body, or ``default``."""
    for part in path.split("."):
        if not isinstance(body, dict) or part not in body:
            return default
        body = body[part]
    return body


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else "string" if isinstance(value, str) else type(value).__name__
