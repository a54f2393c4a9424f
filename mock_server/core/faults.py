"""Faults and scripted outcomes as data: rules matched by route, model and key.

A rule fires always, ``times`` times, or with a seeded ``probability``. Kinds:

- ``latency``: answer ``latency_ms`` later (wall time), then normally;
- ``rate_limit``: 429 ``rate_limit_exceeded`` with ``Retry-After``;
- ``server_error``: a 5xx answer, ``status`` 500 (default), 502, 503 or 504, each with the
  API's error body for that status (:func:`mock_server.errors.server_error`);
- ``drop``: the connection is closed in the middle of the answer; ``when`` ``"before"`` (default)
  cuts it before the request is handled (nothing is stored), ``"after"`` once it was handled (a
  create's task is stored and its price reserved: a lost response, which a retrying client pays twice);
- ``task_failure``: the created task fails with ``error_code``;
- ``scenario``: the created task follows ``scenario`` (the ``X-Mock-Scenario`` syntax).

The last two act on ``create`` only and are spent only by a task that is
created. Rules are immutable records; firing one is the pure transition
:func:`draw`, which a store applies atomically. A probabilistic rule's n-th
draw depends only on the emulator's seed, the rule's definition and n, so
the same seed and rule give the same sequence whatever else happens.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import SERVER_ERRORS
from ..redaction import key_id, redact
from .draws import Draws

LATENCY, RATE_LIMIT, SERVER_ERROR, DROP, TASK_FAILURE, SCENARIO = (
    "latency", "rate_limit", "server_error", "drop", "task_failure", "scenario")
KINDS = (LATENCY, RATE_LIMIT, SERVER_ERROR, DROP, TASK_FAILURE, SCENARIO)
TERMINAL = (RATE_LIMIT, SERVER_ERROR, DROP)
TASK_KINDS = (TASK_FAILURE, SCENARIO)
ROUTES = ("create", "task", "credits", "files")
SERVER_ERROR_STATUSES = tuple(SERVER_ERRORS)
BEFORE, AFTER = "before", "after"
_PARAMS = ("route", "model", "key", "times", "probability", "latency_ms", "retry_after", "error_code", "scenario",
           "status", "when", "seed")


class UnknownFaultKind(ValueError):
    """A rule of a kind the emulator cannot apply."""


@dataclass(frozen=True)
class FaultRule:
    """One rule: what it matches, what it does, how often; ``fired`` and ``draws`` count its use."""

    id: str
    kind: str
    route: str | None = None  # None: every public route (create only for task kinds)
    model: str | None = None
    key: str | None = None
    times: int | None = None  # remaining firings; None: unlimited
    probability: float = 1.0
    latency_ms: float = 0.0
    retry_after: float = 1.0
    error_code: str | None = None
    scenario: str | None = None
    seed: int = 0  # the rule's own seed, mixed with the emulator's
    fired: int = 0
    draws: int = 0  # probability draws made so far
    # last, so a rule a store kept before these existed reads back with their defaults
    status: int = 500  # server_error: the HTTP status answered
    when: str = BEFORE  # drop: cut the connection before the request is handled, or after

    def matches(self, route: str, model: str | None, key: str | None) -> bool:
        """Whether a request on ``route`` for ``model`` by ``key`` is in scope."""
        if self.kind in TASK_KINDS and route != "create":
            return False
        return ((self.route is None or self.route == route) and (self.model is None or self.model == model)
                and (self.key is None or self.key == key))

    @property
    def spent(self) -> bool:
        return self.times is not None and self.times <= 0

    @property
    def stream(self) -> str:
        """What the rule's probability draws are keyed by: its definition, not its id."""
        params = tuple((name, getattr(self, name)) for name in _PARAMS if name != "seed")
        return f"fault:{self.seed}:{params!r}"

    def imposed(self) -> str:
        """The scenario items a task rule imposes."""
        return f"fail={self.error_code}" if self.kind == TASK_FAILURE else self.scenario or ""

    def view(self) -> dict[str, Any]:
        """The rule as the admin API shows it (a key cut to its prefix, and the key's id)."""
        keys = {"key": redact(self.key), "key_id": key_id(self.key)} if self.key is not None else {"key": None}
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "route": self.route, "model": self.model,
                               **keys, "times": self.times, "probability": self.probability,
                               "fired": self.fired, "spent": self.spent}
        extra: dict[str, dict[str, Any]] = {
            LATENCY: {"latency_ms": self.latency_ms}, RATE_LIMIT: {"retry_after": self.retry_after},
            SERVER_ERROR: {"status": self.status}, DROP: {"when": self.when},
            TASK_FAILURE: {"error_code": self.error_code}, SCENARIO: {"scenario": self.scenario}}
        out.update(extra.get(self.kind, {}))
        return out


def new_rule(rule_id: str, spec: Mapping[str, Any]) -> FaultRule:
    """A rule from an admin body (already checked against the admin contract); unknown kinds are refused."""
    kind = spec.get("kind")
    if kind not in KINDS:
        raise UnknownFaultKind(f"kind must be one of {', '.join(KINDS)} (got {kind!r})")
    unknown = set(spec) - {"kind", *_PARAMS}
    if unknown:
        raise UnknownFaultKind(f"unknown fault rule field(s): {', '.join(sorted(unknown))}")
    params = {name: spec[name] for name in _PARAMS if spec.get(name) is not None}
    if "times" in params:
        params["times"] = int(params["times"])
    if params.get("status", 500) not in SERVER_ERROR_STATUSES:
        raise UnknownFaultKind(f"status must be one of {', '.join(map(str, SERVER_ERROR_STATUSES))} "
                               f"(got {params['status']!r})")
    if params.get("when", BEFORE) not in (BEFORE, AFTER):
        raise UnknownFaultKind(f"when must be {BEFORE!r} or {AFTER!r} (got {params['when']!r})")
    return FaultRule(id=rule_id, kind=kind, **params)


def draw(rule: FaultRule, draws: Draws) -> FaultRule:
    """The rule after one draw; it fired when its ``fired`` count went up.

    A spent rule does not change. A firing consumes one of ``times``; a
    probability draw advances ``draws`` whether it fires or not, so the
    sequence stays the seeded one.
    """
    if rule.spent:
        return rule
    if rule.probability < 1.0:
        fires = draws.uniforms(rule.stream, rule.draws)[0] < rule.probability
        rule = replace(rule, draws=rule.draws + 1)
        if not fires:
            return rule
    return replace(rule, fired=rule.fired + 1, times=None if rule.times is None else rule.times - 1)


def give_back(rule: FaultRule) -> FaultRule:
    """Undo a firing whose request was refused (a task rule is spent only by a created task)."""
    return replace(rule, fired=rule.fired - 1, times=None if rule.times is None else rule.times + 1)


@dataclass(frozen=True)
class FiredFaults:
    """What the latency and error rules that fired for one request ask for."""

    latency_ms: float = 0.0
    terminal: FaultRule | None = None

    @property
    def drops_after(self) -> bool:
        """Whether the answer is cut only after the request was handled (``drop`` with ``when: after``)."""
        terminal = self.terminal
        return terminal is not None and terminal.kind == DROP and terminal.when == AFTER


def fired(before: FaultRule, after: FaultRule) -> bool:
    """Whether a draw that turned ``before`` into ``after`` fired the rule."""
    return after.fired > before.fired
