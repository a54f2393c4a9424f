"""Faults and scripted outcomes as data: rules matched by route, model and key.

A rule fires always, ``times`` times, or with a seeded ``probability``. Kinds:

- ``latency``: answer ``latency_ms`` later (wall time), then normally;
- ``rate_limit``: 429 ``rate_limit_exceeded`` with ``Retry-After``;
- ``server_error``: 500 ``internal_error``;
- ``drop``: the connection is closed in the middle of the answer;
- ``task_failure``: the created task fails with ``error_code``;
- ``scenario``: the created task follows ``scenario`` (the ``X-Mock-Scenario`` syntax).

The last two act on ``create`` only. Each rule draws from its own random
generator, seeded from the emulator's seed and the rule's definition, so the
same seed and rule give the same sequence whatever else happens.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

TERMINAL = ("rate_limit", "server_error", "drop")
TASK_KINDS = ("task_failure", "scenario")


@dataclass(slots=True)
class FaultRule:
    """One rule: what it matches, what it does, how often."""

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
    fired: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def matches(self, route: str, model: str | None, key: str | None) -> bool:
        """Whether a request on ``route`` for ``model`` by ``key`` is in scope."""
        if self.kind in TASK_KINDS and route != "create":
            return False
        return ((self.route is None or self.route == route) and (self.model is None or self.model == model)
                and (self.key is None or self.key == key))

    def fire(self) -> bool:
        """Draw: True when the rule fires now (consumes one of ``times``)."""
        if self.times is not None and self.times <= 0:
            return False
        if self.probability < 1.0 and self.rng.random() >= self.probability:
            return False
        if self.times is not None:
            self.times -= 1
        self.fired += 1
        return True

    def unfire(self) -> None:
        """Give back a firing whose request was refused."""
        if self.times is not None:
            self.times += 1
        self.fired -= 1

    def imposed(self) -> str:
        """The scenario items a task rule imposes."""
        return f"fail={self.error_code}" if self.kind == "task_failure" else self.scenario or ""

    @property
    def spent(self) -> bool:
        return self.times is not None and self.times <= 0

    def view(self) -> dict[str, Any]:
        """The rule as the admin API shows it."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind, "route": self.route, "model": self.model,
                               "key": self.key, "times": self.times, "probability": self.probability,
                               "fired": self.fired, "spent": self.spent}
        extra = {"latency": {"latency_ms": self.latency_ms}, "rate_limit": {"retry_after": self.retry_after},
                 "task_failure": {"error_code": self.error_code}, "scenario": {"scenario": self.scenario}}
        out.update(extra.get(self.kind, {}))
        return out


def new_rule(rule_id: str, spec: dict[str, Any], seed: int | None) -> FaultRule:
    """A rule from an admin body already checked against the admin contract."""
    params = {k: v for k, v in spec.items() if k != "seed"}
    rng = random.Random(f"{seed}:{spec.get('seed', 0)}:{sorted(params.items())!r}")
    return FaultRule(id=rule_id, rng=rng, **params)


@dataclass(frozen=True)
class FiredFaults:
    """What the latency and error rules that fired for one request ask for."""

    latency_ms: float = 0.0
    terminal: FaultRule | None = None
