"""The expected answers: a fresh in-process emulator answers every probe first.

The emulator runs behind ``httpx.ASGITransport`` (the whole HTTP edge:
authentication, Content-Type, JSON parsing) with a manual clock and seed 0.
A probe is free when the emulator refuses it (no task is created); otherwise
its cost is the ``usage.credits_reserved`` the emulator answered. For the
paid lifecycle probe the oracle also walks its task through pending,
processing and completed, so polls can be compared status by status.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from mock_server import Emulator, Settings, create_app

from .exchange import API_KEY, Answer, Request
from .probes import TASKS, Probe

ORACLE_KEY = "sk-drift-oracle-0000"
ORACLE_URL = "http://emulator.invalid"


@dataclass(frozen=True)
class Expected:
    """The emulator's answer to one probe, what it cost, and (paid flow) its task's later bodies."""

    answer: Answer
    cost: Decimal = Decimal(0)
    task_bodies: Mapping[str, Any] = field(default_factory=dict)  # status -> task-query body

    @property
    def free(self) -> bool:
        return self.cost == 0


def number(value: Any) -> Decimal | None:
    """A JSON number as an exact decimal (None for anything else, booleans included)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


class Oracle:
    """One fresh emulator (``Settings(speed=0, seed=0)``) per drift run."""

    def __init__(self) -> None:
        self.emulator = Emulator(Settings(speed=0, seed=0))
        self._app = create_app(emulator=self.emulator)

    def expect(self, probes: Iterable[Probe]) -> dict[str, Expected]:
        """The expected answer of every probe, in order, in one event loop."""
        return asyncio.run(self._expect_all(tuple(probes)))

    async def _expect_all(self, probes: tuple[Probe, ...]) -> dict[str, Expected]:
        transport = httpx.ASGITransport(app=self._app)
        async with httpx.AsyncClient(transport=transport, base_url=ORACLE_URL) as http:
            return {probe.name: await self._expect(http, probe) for probe in probes}

    async def _expect(self, http: httpx.AsyncClient, probe: Probe) -> Expected:
        before = self.emulator.task_count()
        answer = await _send(http, probe.request())
        if self.emulator.task_count() == before:
            return Expected(answer)
        cost = number(answer.body["usage"]["credits_reserved"])
        assert cost is not None, answer.body
        bodies = await self._walk(http, answer.body["id"]) if probe.lifecycle else {}
        return Expected(answer, cost, bodies)

    async def _walk(self, http: httpx.AsyncClient, task_id: str) -> dict[str, Any]:
        """The task's body when pending, processing and completed (moving the manual clock)."""
        task = self.emulator.find_task(task_id)
        assert task is not None and task.ends is not None
        poll = Request("GET", TASKS + task_id, {"Authorization": f"Bearer {API_KEY}"})
        bodies = {}
        for moment in (task.created, (task.starts + task.ends) / 2, task.ends):
            self.emulator.advance(max(0.0, moment - self.emulator.now()))
            body = (await _send(http, poll)).body
            bodies[body["status"]] = body
        return bodies


async def _send(http: httpx.AsyncClient, request: Request) -> Answer:
    response = await http.request(request.method, request.path, headers=request.with_key(ORACLE_KEY),
                                  content=request.content)
    return Answer.parse(response.status_code, response.headers, response.content)
