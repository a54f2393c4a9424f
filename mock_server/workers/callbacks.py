"""Callback delivery (and background settlement): POST the task body to ``callback_url``
when a task ends.

Runs on the server's event loop and never blocks a request. It sleeps until
the next thing on the mock clock (a task's end, a retry, a timeout) and wakes
early when the clock is advanced or a callback is scheduled. Every attempt is
logged in the store (``GET /_mock/callbacks``). After each failure it retries
1 s, 2 s and 4 s later (mock time); only a 2xx answer counts.

On a running clock it also settles finished tasks in the background, in small
chunks between requests, so no request meets a backlog of thousands of
settlements after a quiet spell (reads still settle whatever is due, so
billing is always exact when observed).

Timeouts: 10 s. On a running clock that is wall time (a slow receiver is
never cut sooner than the real API would cut it); on a manual clock it is
mock time, so a test cuts a hanging receiver by advancing the clock, but
never sooner than ``MANUAL_GRACE`` wall seconds after the attempt was sent
(a clock jump while a fast receiver is answering does not cut it).

Over a shared store (SQLite, Redis) several workers run a dispatcher each:
every attempt is claimed by one of them, with a lease; a worker that finds
another's lease over (that worker died) records the attempt as lapsed and its
retry follows. Other workers move the clock and schedule callbacks without a
word to this one, so it also looks at the store every ``SHARED_POLL`` seconds.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

import httpx
import orjson

from .. import __version__
from ..core.callbacks import TIMEOUT, CallbackAttempt
from ..core.views import task_body
from .feed import wake

if TYPE_CHECKING:
    from ..core.service import Emulator

MANUAL_GRACE = 1.0
SETTLE_CHUNK = 256  # settlements between two yields to the event loop
SETTLE_EVERY = 0.05  # wall seconds: background settlement is batched at most this often
SETTLE_IDLE = 0.5  # wall seconds between looks at the due tasks when nothing else wakes the loop
SHARED_POLL = 0.05  # wall seconds between looks at a shared store (the clock, callbacks of other workers)
HEADERS = {"Content-Type": "application/json", "User-Agent": f"evolink-mock/{__version__} (callback)"}


class CallbackDispatcher:
    """Delivers due callbacks; one per running emulator, on its event loop."""

    def __init__(self, emulator: Emulator, client: httpx.AsyncClient | None = None) -> None:
        self.emulator = emulator
        self._client = client
        self._wake = asyncio.Event()
        self._pass_done = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: asyncio.Task[None] | None = None
        self._in_flight: dict[asyncio.Task[None], tuple[CallbackAttempt, float, float]] = {}  # deadline, wall start
        self._timed_out: set[asyncio.Task[None]] = set()

    # -- life ----------------------------------------------------------------
    async def start(self) -> None:
        """Start the delivery loop on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self.emulator.on_change(self.poke)
        self._runner = asyncio.create_task(self._run(), name="evolink-mock callbacks")

    async def stop(self, grace: float = 2.0) -> None:
        """Stop; let attempts in flight finish for ``grace`` seconds, then log them cut."""
        self.emulator.off_change(self.poke)
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=grace)
            cut = list(self._in_flight)
            for task in cut:
                task.cancel()  # its delivery logs the attempt as cut
            await asyncio.gather(*cut, return_exceptions=True)
            self._in_flight.clear()
        if self._client is not None:
            await self._client.aclose()

    def poke(self) -> None:
        """Wake the loop (thread-safe): the clock moved or a callback was scheduled."""
        wake(self._loop, self._wake)

    # -- waiting ---------------------------------------------------------------
    def pending(self) -> int:
        """Attempts in flight (by any worker) plus callback work already due (what a waiter waits for)."""
        in_flight, due = self._work()
        return in_flight + due

    def _work(self) -> tuple[int, bool]:
        emulator = self.emulator
        now = emulator.now()
        due = emulator.next_callback_due()
        return max(len(self._in_flight), emulator.callbacks_in_flight()), due is not None and due <= now

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no attempt is due or in flight; False if ``timeout`` (wall) passed first."""
        deadline = time.monotonic() + timeout
        poked = -SHARED_POLL
        while True:
            in_flight, due = self._work()
            if not in_flight and not due:
                return True
            now = time.monotonic()
            if now >= deadline:
                return False
            self._pass_done.clear()
            if due and now - poked >= SHARED_POLL:  # work this worker may do (at most so often: the work may be
                self.poke()                          # a lease this very worker holds, ending when its attempt does)
                poked = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._pass_done.wait(), min(deadline - now, SHARED_POLL) if due else
                                       deadline - now)

    # -- the loop --------------------------------------------------------------
    async def _run(self) -> None:
        emulator = self.emulator
        while True:
            self._wake.clear()
            while emulator.settle_due(SETTLE_CHUNK) == SETTLE_CHUNK:
                await asyncio.sleep(0)  # a backlog: settle it in chunks, let requests in between
            now = emulator.now()  # settles the rest, which schedules their callbacks
            grace_left = self._cut_overdue(now) if emulator.clock.manual else None
            emulator.expire_claims(now, self._held())
            for attempt in emulator.claim_callbacks(now):
                task = asyncio.create_task(self._deliver(attempt))
                self._in_flight[task] = (attempt, now + TIMEOUT, time.monotonic())
                task.add_done_callback(self._done)
            self._pass_done.set()
            await self._sleep(now, grace_left)

    def _held(self) -> set[tuple[str, int]]:
        return {(attempt.task_id, attempt.number) for attempt, _, _ in self._in_flight.values()}

    def _cut_overdue(self, now: float) -> float | None:
        """Manual clock: cut attempts past their mock deadline and grace; wall seconds until the next grace ends."""
        wall, soonest = time.monotonic(), None
        for task, (_, deadline, started) in list(self._in_flight.items()):
            if deadline > now or task in self._timed_out:
                continue
            left = started + MANUAL_GRACE - wall
            if left <= 0:
                self._timed_out.add(task)
                task.cancel()
            else:
                soonest = left if soonest is None else min(soonest, left)
        return soonest

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._timed_out.discard(task)
        self._pass_done.set()
        self._wake.set()

    async def _sleep(self, now: float, grace_left: float | None) -> None:
        emulator = self.emulator
        clock = emulator.clock
        if clock.manual:
            delay = grace_left
            if emulator.shared:
                delay = SHARED_POLL if delay is None else min(delay, SHARED_POLL)
        else:
            waits = [SHARED_POLL if emulator.shared else SETTLE_IDLE]  # new tasks do not wake the loop: look again
            callback = emulator.next_callback_due()
            if callback is not None:
                waits.append(clock.wall_seconds(callback - now) or 0.0)
            settlement = emulator.next_due()
            if settlement is not None:
                waits.append(max(SETTLE_EVERY, clock.wall_seconds(settlement - now) or 0.0))
            delay = min(waits)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _deliver(self, attempt: CallbackAttempt) -> None:
        emulator = self.emulator
        task = emulator.callback_task(attempt)
        started = time.monotonic()
        if task is None:  # forgotten by a reset
            return
        body = orjson.dumps(task_body(task, emulator.clock.now(), task.base_url,
                                      emulator.registry[task.model].cancellable))
        timeout = None if emulator.clock.manual else TIMEOUT * max(1.0, 1.0 / emulator.clock.speed)
        if self._client is None:  # made on first use: emulators that never call back stay cheap
            self._client = httpx.AsyncClient(timeout=None, follow_redirects=False, trust_env=False)
        try:
            response = await asyncio.wait_for(
                self._client.post(attempt.url, content=body, headers=HEADERS), timeout)
        except TimeoutError:
            self._finish(attempt, started, error=f"timeout: no answer within {TIMEOUT:g} s")
        except asyncio.CancelledError:
            if asyncio.current_task() in self._timed_out:  # the manual clock passed the deadline
                self._finish(attempt, started, error=f"timeout: no answer within {TIMEOUT:g} s of mock time")
            else:  # over a shared store another worker (or this one, restarted) delivers the retry
                self._finish(attempt, started, error="cut: the emulator shut down", retry=emulator.shared)
        except Exception as exc:  # refused, reset, a URL httpx cannot read...: a failed attempt, never a stuck one
            self._finish(attempt, started, error=f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        else:
            self._finish(attempt, started, status_code=response.status_code)

    def _finish(self, attempt: CallbackAttempt, started: float, *, status_code: int | None = None,
                error: str | None = None, retry: bool = True) -> None:
        self.emulator.finish_callback(attempt, round((time.monotonic() - started) * 1000, 3),
                                      status_code=status_code, error=error, may_retry=retry)
