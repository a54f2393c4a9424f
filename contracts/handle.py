"""The control handle both pytest fixtures give a test: time, accounts, tasks, callbacks, faults."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import warnings
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from mock_server import Emulator
from mock_server.contract import admin_contract
from mock_server.core.faults import FaultRule
from mock_server.core.views import account_body, admin_task_body, callback_body
from mock_server.errors import ApiError
from mock_server.http.links import link_base

from .conformance import ContractWarning, Report, check_request

#: Schedules, on the emulator's loop, a wait of up to that many wall seconds until no callback is due or
#: in flight; the future says whether it got there. Sync methods block on it, async ones await it.
Idle = Callable[[float], "concurrent.futures.Future[bool]"]


class ContractViolations(AssertionError):
    """Requests a test sent that do not conform to openapi.yaml."""


class EvolinkHandle:
    """What ``evolink_mock`` and ``evolink_server`` give a test.

    ``base_url`` and ``api_key`` are for the client under test; the methods
    drive the emulator behind it directly (same process, no HTTP). In an async
    test, ``await handle.aadvance(s)`` moves the clock without blocking the
    test's event loop while due callbacks are delivered (to a receiver that may
    run on that very loop).
    """

    def __init__(self, emulator: Emulator, base_url: str, api_key: str, idle: Idle, *,
                 strict: bool = True) -> None:
        self.emulator = emulator
        self.base_url = base_url
        self.api_key = api_key
        self.strict = strict
        self.reports: list[Report] = []
        self._idle = idle
        self._lock = threading.Lock()
        self._tolerated = 0

    # -- time and callbacks -----------------------------------------------------
    def advance(self, seconds: float, *, wait: float = 10.0) -> float:
        """Move mock time forward; then wait (up to ``wait`` wall seconds) for the callbacks that became due.

        This blocks the calling thread; in an async test use :meth:`aadvance`.
        """
        now = self.emulator.advance(seconds)
        if wait:
            self._wait(wait)
        return now

    async def aadvance(self, seconds: float, *, wait: float = 10.0) -> float:
        """:meth:`advance` for async tests: the event loop runs on while due callbacks are delivered."""
        now = self.emulator.advance(seconds)
        if wait:
            await asyncio.wrap_future(self._idle(wait))
        return now

    def _wait(self, seconds: float) -> bool:
        """Block until no callback is due or in flight (at most ``seconds``); warn when that blocks an event loop."""
        with contextlib.suppress(RuntimeError):
            asyncio.get_running_loop()
            warnings.warn("this blocks the running event loop while callbacks are delivered: in an async test, "
                          "use `await handle.aadvance(seconds)`", RuntimeWarning, stacklevel=3)
        return self._idle(seconds).result(seconds + 5)

    def now(self) -> float:
        """Mock time, epoch seconds."""
        return self.emulator.now()

    def callbacks(self, task_id: str | None = None, *, wait: float = 0.0) -> list[dict[str, Any]]:
        """Delivery attempts (``GET /_mock/callbacks``), after waiting up to ``wait`` s for due ones."""
        if wait:
            self._wait(wait)
        return [callback_body(a) for a in self.emulator.callbacks(task_id)]

    # -- accounts ---------------------------------------------------------------
    def account(self, key: str | None = None) -> dict[str, Any]:
        """A key's ledger (``api_key`` by default); a key never seen starts with the default grant."""
        return account_body(self.emulator.ensure_account(key or self.api_key))

    def grant(self, credits: float | str, key: str | None = None, models: list[str] | None = None) -> dict[str, Any]:
        """(Re)create an account with ``credits``, optionally limited to ``models``."""
        return account_body(self._admin(lambda: self.emulator.put_account(key or self.api_key,
                                                                          Decimal(str(credits)), models)))

    def revoke(self, key: str | None = None) -> None:
        """Revoke a key: its requests get 401."""
        self.emulator.ensure_account(key or self.api_key)
        self.emulator.revoke(key or self.api_key)

    # -- tasks ------------------------------------------------------------------
    def tasks(self, key: str | None = None) -> list[dict[str, Any]]:
        """Every task (of ``key`` if given) with timeline, outcome and billing."""
        tasks = self.emulator.tasks(key)
        now = self.emulator.clock.now()
        return [admin_task_body(t, now, self._links()) for t in tasks]

    def task(self, task_id: str) -> dict[str, Any]:
        """One task's admin view, with its callback attempts."""
        view = admin_task_body(self._admin(lambda: self.emulator.task(task_id)), self.emulator.now(), self._links())
        view["callbacks"] = self.callbacks(task_id)
        return view

    def cancel(self, task_id: str) -> dict[str, Any]:
        """Cancel a running task (``failed`` / ``request_cancelled``, refunded, callback sent)."""
        task = self._admin(lambda: self.emulator.cancel(task_id))
        self._wait(10.0)
        return admin_task_body(task, self.emulator.now(), self._links())

    # -- outcomes and faults ------------------------------------------------------
    def scenario(self, scenario: str, *, times: int | None = None, model: str | None = None,
                 key: str | None = None) -> dict[str, Any]:
        """Upcoming tasks follow ``scenario`` (``X-Mock-Scenario`` syntax), e.g. ``"fail=generation_timeout"``."""
        return self.fault("scenario", scenario=scenario, times=times, model=model, key=key)

    def fault(self, kind: str, **params: Any) -> dict[str, Any]:
        """Add a fault rule (``POST /_mock/faults``): ``kind`` plus route/model/key/times/probability/..."""
        spec = {"kind": kind, **{k: v for k, v in params.items() if v is not None}}
        self._admin(lambda: admin_contract().bodies["addFault"].check(spec))
        rule: FaultRule = self._admin(lambda: self.emulator.add_fault(spec))
        return rule.view()

    def clear_faults(self) -> None:
        """Remove every fault and scenario rule."""
        self.emulator.clear_faults()

    def _links(self) -> str:
        """What links start with, as the admin API shows them to a client of ``base_url``."""
        return link_base(self.emulator.settings, self.base_url)

    @staticmethod
    def _admin(action: Callable[[], Any]) -> Any:
        try:
            return action()
        except ApiError as error:
            raise ValueError(error.message) from None

    # -- contract conformance -----------------------------------------------------
    def record(self, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
        """Check one request the client sent (the fixtures' sink)."""
        report = check_request(method, url, headers, body or None,
                               allow_local_callbacks=self.emulator.settings.allow_local_callbacks)
        with self._lock:
            if report.ok and not report.unknown_fields:
                return
            if self._tolerated and not report.ok:
                return
            self.reports.append(report)

    @contextlib.contextmanager
    def nonconforming(self) -> Iterator[None]:
        """Inside this block, requests that break the contract are expected (testing a client's 400 path)."""
        with self._lock:
            self._tolerated += 1
        try:
            yield
        finally:
            with self._lock:
                self._tolerated -= 1

    @property
    def violations(self) -> list[Report]:
        """Requests that broke the contract (outside :meth:`nonconforming`)."""
        return [r for r in self.reports if not r.ok]

    def finish(self) -> None:
        """At teardown: warn about ignored fields; fail on violations when strict."""
        for report in self.reports:
            if report.unknown_fields:
                warnings.warn(ContractWarning(f"{report.method} {report.path}: fields the EvoLink API ignores: "
                                              + ", ".join(report.unknown_fields)), stacklevel=2)
        if self.strict and self.violations:
            raise ContractViolations(f"{len(self.violations)} request(s) did not conform to openapi.yaml:\n"
                                     + "\n".join(str(r) for r in self.violations))
