"""State: accounts, tasks, the due-events heap and the clock offset.

Every state change is one atomic store operation (create a task and reserve
its price; settle due tasks; cancel and refund; ...), so a durable or shared
store can replace this in-memory one without touching the core. Invariant,
per account, always: ``balance + reserved + charged == granted``.
"""
from __future__ import annotations

import heapq
import itertools
import operator
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

from .faults import TASK_KINDS, TERMINAL, FaultRule, FiredFaults
from .tasks import Task

ZERO = Decimal(0)


class TaskTable:
    """Tasks by id, in many small dicts: growing never stalls on one huge dict's resize.

    A single dict of a million entries copies itself in one go when it grows (tens of
    milliseconds, during which every request waits); 256 shards grow a little at a time.
    """

    SHARDS = 256

    def __init__(self) -> None:
        self._shards: list[dict[str, Task]] = [{} for _ in range(self.SHARDS)]
        self._count = 0

    def get(self, task_id: str) -> Task | None:
        return self._shards[hash(task_id) % self.SHARDS].get(task_id)

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._shards[hash(task_id) % self.SHARDS]

    def put(self, task: Task) -> None:
        shard = self._shards[hash(task.id) % self.SHARDS]
        if task.id not in shard:
            self._count += 1
        shard[task.id] = task

    def pop(self, task_id: str) -> None:
        if self._shards[hash(task_id) % self.SHARDS].pop(task_id, None) is not None:
            self._count -= 1

    def all(self) -> list[Task]:
        """Every task, in creation order."""
        tasks = [task for shard in self._shards for task in shard.values()]
        tasks.sort(key=_SEQ)
        return tasks

    def __len__(self) -> int:
        return self._count


_SEQ = operator.attrgetter("seq")


class InsufficientCredits(Exception):
    """The balance cannot cover a reservation."""

    def __init__(self, balance: Decimal, price: Decimal) -> None:
        super().__init__(f"balance {balance} < price {price}")
        self.balance = balance
        self.price = price


class TooManyRunning(Exception):
    """The key already runs its maximum number of unfinished tasks."""

    def __init__(self, running: int) -> None:
        super().__init__(f"{running} tasks running")
        self.running = running


class AlreadyFinished(Exception):
    """The task reached a final state before the operation."""


@dataclass(slots=True)
class CallbackAttempt:
    """One delivery attempt of a task's callback (mock times, wall duration)."""

    task_id: str
    url: str
    attempt: int
    due: float
    manual: bool = False
    at: float | None = None  # when it was sent
    finished_at: float | None = None
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None

    @property
    def state(self) -> str:
        """``scheduled``, ``in_flight``, ``delivered`` (2xx) or ``failed``."""
        if self.at is None:
            return "scheduled"
        if self.finished_at is None:
            return "in_flight"
        return "delivered" if self.status_code is not None and 200 <= self.status_code < 300 else "failed"


@dataclass(slots=True)
class Account:
    """One API key's ledger."""

    key: str
    granted: Decimal
    balance: Decimal
    reserved: Decimal = ZERO
    charged: Decimal = ZERO
    running: int = 0  # unfinished tasks
    revoked: bool = False
    models: frozenset[str] | None = None  # None: every model


class MemoryStore:
    """The default store: plain dicts and a heap behind one lock.

    Memory is bounded: beyond ``max_tasks`` the oldest finished tasks are forgotten (a
    running task never is: its credits are reserved), and the callback log keeps the
    last ``max_attempts`` attempts.
    """

    def __init__(self, max_tasks: int | None = None, max_attempts: int = 100_000) -> None:
        self.max_tasks = max_tasks
        self._max_attempts = max_attempts
        self._lock = threading.RLock()
        self._offset = 0.0
        self._seq = itertools.count()
        self._clear()

    def _clear(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._tasks = TaskTable()
        self._order: deque[str] = deque()  # ids in creation order: eviction candidates
        self._due: list[tuple[float, int, str]] = []
        self._ends_with_callback: list[tuple[float, int, str]] = []  # the dispatcher wakes for these only
        self._callbacks_due: list[tuple[float, int, CallbackAttempt]] = []
        self._callback_log: deque[CallbackAttempt] = deque(maxlen=self._max_attempts)
        self._callbacks_by_task: dict[str, list[CallbackAttempt]] = {}
        self._faults: list[FaultRule] = []

    # -- clock -------------------------------------------------------------
    def clock_offset(self) -> float:
        return self._offset

    def add_clock_offset(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            return self._offset

    # -- accounts ----------------------------------------------------------
    def account(self, key: str) -> Account | None:
        """The account of ``key``, or None if never seen."""
        return self._accounts.get(key)

    def provision(self, key: str, granted: Decimal) -> Account:
        """The account of ``key``, created with ``granted`` credits on first sight."""
        account = self._accounts.get(key)
        if account is None:
            with self._lock:
                account = self._accounts.setdefault(key, Account(key, granted, granted))
        return account

    def put_account(self, key: str, granted: Decimal, models: frozenset[str] | None) -> Account:
        """(Re)create an account: ``granted`` credits, nothing charged, un-revoked.

        Reservations of unfinished tasks stay, so they settle correctly.
        """
        with self._lock:
            old = self._accounts.get(key)
            reserved, running = (old.reserved, old.running) if old else (ZERO, 0)
            if granted < reserved:
                raise ValueError(f"granted {granted} is less than the {reserved} credits reserved by running tasks")
            account = Account(key, granted, granted - reserved, reserved, ZERO, running, False, models)
            self._accounts[key] = account
            return account

    def revoke(self, key: str) -> Account | None:
        """Mark the key revoked (its requests then get 401)."""
        with self._lock:
            account = self._accounts.get(key)
            if account is not None:
                account.revoked = True
            return account

    def accounts(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())

    # -- tasks -------------------------------------------------------------
    def create_task(self, build: Callable[[str | None], Task], key: str, model: str,
                    max_running: int | None = None) -> Task:
        """Draw the task rules, build the task, reserve its price and store it, atomically.

        ``build`` gets the scenario the firing task rules impose (or None). When the
        task is refused (no credits, too many running, a bad imposed scenario) the
        rules' firings are given back: a rule is spent only by a task that exists.
        """
        with self._lock:
            fired = [rule for rule in self._faults
                     if rule.kind in TASK_KINDS and rule.matches("create", model, key) and rule.fire()
                     ] if self._faults else []
            try:
                task = build(";".join([rule.imposed() for rule in fired]) if fired else None)
                account = self._accounts[task.key]
                if max_running is not None and account.running >= max_running:
                    raise TooManyRunning(account.running)
                if account.balance < task.price:
                    raise InsufficientCredits(account.balance, task.price)
            except BaseException:
                for rule in fired:
                    rule.unfire()
                raise
            account.balance -= task.price
            account.reserved += task.price
            account.running += 1
            task.seq = next(self._seq)
            self._tasks.put(task)
            self._order.append(task.id)
            if self.max_tasks is not None and len(self._tasks) > self.max_tasks:
                self._forget_oldest_finished()
            ends = task.ends
            if ends is not None:
                entry = (ends, next(self._seq), task.id)
                heapq.heappush(self._due, entry)
                if task.callback_url is not None:
                    heapq.heappush(self._ends_with_callback, entry)
            return task

    def _forget_oldest_finished(self) -> None:
        """Drop finished tasks from the front until within ``max_tasks`` (a bounded step per create)."""
        for _ in range(8):
            if len(self._tasks) <= self.max_tasks or not self._order:
                return
            task_id = self._order.popleft()
            task = self.task(task_id)
            if task is None:
                continue
            if task.settled is None:  # still running: look again later
                self._order.append(task_id)
                continue
            self._tasks.pop(task_id)
            self._callbacks_by_task.pop(task_id, None)

    def task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def tasks(self, key: str | None = None) -> Iterator[Task]:
        """Tasks in creation order, optionally of one key."""
        with self._lock:
            snapshot = self._tasks.all()
        return (task for task in snapshot if key is None or task.key == key)

    def task_count(self) -> int:
        return len(self._tasks)

    def due_count(self) -> int:
        """How many settlements are scheduled."""
        return len(self._due)

    def next_due(self) -> float | None:
        """The mock time of the next settlement, if any."""
        due = self._due
        return due[0][0] if due else None

    def settle_due(self, now: float, limit: int | None = None) -> list[Task]:
        """Charge completed and refund failed tasks whose end is ``<= now``, in order (at most ``limit``)."""
        if not self._due or self._due[0][0] > now:
            return []
        settled: list[Task] = []
        with self._lock:
            while self._due and self._due[0][0] <= now and (limit is None or len(settled) < limit):
                _, _, task_id = heapq.heappop(self._due)
                task = self.task(task_id)
                if task is not None and task.settled is None:
                    settled.append(self._settle(task, charge=task.fail is None))
        return settled

    def cancel(self, task_id: str, now: float) -> Task:
        """Cancel an unfinished task: it fails ``request_cancelled`` and is refunded."""
        with self._lock:
            task = self.task(task_id)
            if task is None:
                raise KeyError(task_id)
            ends = task.ends
            if task.settled is not None or (ends is not None and ends <= now):
                raise AlreadyFinished(task_id)
            task.cancelled_at = now
            return self._settle(task, charge=False)

    def _settle(self, task: Task, *, charge: bool) -> Task:
        """Final billing, then (after it, as the API does) the callback is scheduled; the settled task."""
        account = self._accounts[task.key]
        account.reserved -= task.price
        account.running -= 1
        if charge:
            account.charged += task.price
        else:
            account.balance += task.price
        task.settled = "charged" if charge else "refunded"
        if task.callback_url is not None:
            self._schedule(CallbackAttempt(task.id, task.callback_url, 1, task.ends or task.created))
        return task

    # -- callbacks -------------------------------------------------------------
    def _schedule(self, attempt: CallbackAttempt) -> None:
        heapq.heappush(self._callbacks_due, (attempt.due, next(self._seq), attempt))

    def next_callback_due(self) -> float | None:
        """The mock time of the next callback work: an attempt due, or the end of a task with a callback.

        Tasks without a callback never wake the dispatcher: their billing settles on the next read.
        """
        with self._lock:
            ends = self._ends_with_callback
            while ends and ((task := self.task(ends[0][2])) is None or task.settled is not None):
                heapq.heappop(ends)  # settled (or cancelled, or forgotten) since
            times = [heap[0][0] for heap in (ends, self._callbacks_due) if heap]
            return min(times) if times else None

    def claim_callbacks(self, now: float) -> list[CallbackAttempt]:
        """Take every attempt due by ``now``: it is marked sent at ``now`` and logged."""
        if not self._callbacks_due or self._callbacks_due[0][0] > now:
            return []
        claimed = []
        with self._lock:
            while self._callbacks_due and self._callbacks_due[0][0] <= now:
                attempt = heapq.heappop(self._callbacks_due)[2]
                attempt.at = now
                self._callback_log.append(attempt)
                self._callbacks_by_task.setdefault(attempt.task_id, []).append(attempt)
                claimed.append(attempt)
        return claimed

    def finish_callback(self, attempt: CallbackAttempt, *, now: float, duration_ms: float,
                        status_code: int | None = None, error: str | None = None,
                        retry_at: float | None = None) -> None:
        """Record an attempt's result; schedule the next attempt at ``retry_at``."""
        with self._lock:
            attempt.finished_at, attempt.duration_ms = now, duration_ms
            attempt.status_code, attempt.error = status_code, error
            if retry_at is not None and attempt.task_id in self._tasks:
                self._schedule(CallbackAttempt(attempt.task_id, attempt.url, attempt.attempt + 1, retry_at))

    def redeliver(self, task_id: str, now: float) -> CallbackAttempt:
        """Schedule one manual attempt of a finished task's callback, due now."""
        with self._lock:
            task = self.task(task_id)
            if task is None:
                raise KeyError(task_id)
            if task.callback_url is None or task.settled is None:
                raise AlreadyFinished(task_id)
            done = self._callbacks_by_task.get(task_id, [])
            attempt = CallbackAttempt(task_id, task.callback_url, len(done) + 1, now, manual=True)
            self._schedule(attempt)
            return attempt

    def callback_log(self, task_id: str | None = None) -> list[CallbackAttempt]:
        """Sent attempts, oldest first (of one task, or all)."""
        with self._lock:
            return list(self._callbacks_by_task.get(task_id, ()) if task_id else self._callback_log)

    # -- faults ----------------------------------------------------------------
    def has_faults(self) -> bool:
        """Whether any fault or scenario rule exists (the hot path skips all fault work otherwise)."""
        return bool(self._faults)

    def add_fault(self, rule: FaultRule) -> None:
        with self._lock:
            self._faults.append(rule)

    def faults(self) -> list[FaultRule]:
        with self._lock:
            return list(self._faults)

    def remove_fault(self, rule_id: str) -> FaultRule | None:
        with self._lock:
            for rule in self._faults:
                if rule.id == rule_id:
                    self._faults.remove(rule)
                    return rule
            return None

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def fire_faults(self, route: str, model: str | None, key: str | None) -> FiredFaults | None:
        """Draw the matching latency and error rules once, atomically; None when nothing fires.

        Task rules (``task_failure``, ``scenario``) are drawn by :meth:`create_task`.
        """
        if not self._faults:
            return None
        latency, terminal = 0.0, None
        with self._lock:
            for rule in self._faults:
                if rule.kind in TASK_KINDS or not rule.matches(route, model, key):
                    continue
                if rule.kind in TERMINAL and terminal is not None:
                    continue
                if not rule.fire():
                    continue
                if rule.kind == "latency":
                    latency += rule.latency_ms
                else:
                    terminal = rule
        if not (latency or terminal):
            return None
        return FiredFaults(latency, terminal)

    def reset(self) -> None:
        """Forget every account, task, callback and fault (the clock keeps its time)."""
        with self._lock:
            self._clear()
