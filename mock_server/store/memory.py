"""The default store: records in plain dicts, queues, heaps and deques behind one lock.

Memory is bounded: the core asks to forget the oldest finished tasks beyond
``EVOLINK_MOCK_MAX_TASKS``, the callback log keeps the last ``max_attempts``
attempts and each key's ledger its last ``max_ledger`` entries.
"""
from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..core.callbacks import CallbackAttempt, holds
from ..core.faults import FaultRule
from ..core.ledger import Account, LedgerEntry
from ..core.records import builder
from ..core.tasks import Task
from .due import DueQueue
from .port import (
    AccountChange,
    Conflict,
    Finish,
    Forgettable,
    Lapse,
    NoSuchAccount,
    NoSuchTask,
    Reserve,
    RuleChange,
    Snapshot,
)

EVICTION_STEP = 8  # tasks looked at per eviction call: the cost of a create stays bounded
_task, _entry = builder(Task), builder(LedgerEntry)


class _Shard(dict):  # type: ignore[type-arg]
    """A dict the collector never stops tracking (it untracks a plain dict that holds only untracked values).

    Untracked, a shard would be tracked again, as a new object, by the next task put in it, and
    the next young collection would walk all its tasks; tracked for good, it grows old (and
    frozen, under ``serve``) and is not walked.
    """

    __slots__ = ()


class TaskTable:
    """Tasks by id, in many small dicts: growing never stalls on one huge dict's resize.

    A single dict of a million entries copies itself in one go when it grows (tens of
    milliseconds, during which every request waits); 256 shards grow a little at a time.

    Each task is kept as a plain tuple of its fields and handed out as a :class:`Task`.
    The fields are all strings, numbers and None, so the garbage collector stops tracking
    such a tuple the first time it sees it: stored tasks cost a collection nothing, however
    many there are. (A ``Task``, a tuple subclass, stays tracked for life, and every
    collection of an older generation would walk each one stored.)
    """

    SHARDS = 256

    def __init__(self) -> None:
        self._shards: list[dict[str, tuple[Any, ...]]] = [_Shard() for _ in range(self.SHARDS)]
        self.count = 0

    def get(self, task_id: str) -> Task | None:
        fields = self._shards[hash(task_id) % self.SHARDS].get(task_id)
        return None if fields is None else _task(fields)

    def __contains__(self, task_id: str) -> bool:
        return task_id in self._shards[hash(task_id) % self.SHARDS]

    def replace(self, task: Task) -> None:
        """Store a changed record of a task this table holds."""
        task_id = task.id
        self._shards[hash(task_id) % self.SHARDS][task_id] = task[:]  # a plain tuple (see above)

    def add(self, task: Task) -> bool:
        """Store a new task; False (and nothing stored) if its id exists."""
        fields = task[:]  # a plain tuple (see above)
        if self._shards[hash(task.id) % self.SHARDS].setdefault(task.id, fields) is not fields:
            return False  # one probe of the (large, cache-cold) shard, not a lookup and then an insert
        self.count += 1
        return True

    def pop(self, task_id: str) -> None:
        if self._shards[hash(task_id) % self.SHARDS].pop(task_id, None) is not None:
            self.count -= 1

    def all(self) -> list[Task]:
        """Every task, in creation order."""
        tasks = [_task(fields) for shard in self._shards for fields in shard.values()]
        tasks.sort(key=_seq)
        return tasks

    def newest(self, limit: int, scan: int, accept: Callable[[Task], bool] | None) -> list[Task]:
        """Up to ``limit`` of the newest ``scan`` tasks that ``accept`` takes, newest first.

        Each shard keeps its tasks in creation order (a changed record keeps its place), so a
        merge of the shards walked backwards yields the newest first without sorting them all.
        """
        found: list[Task] = []
        walk = heapq.merge(*(map(_task, reversed(shard.values())) for shard in self._shards), key=_newest_first)
        for task in itertools.islice(walk, scan):
            if accept is None or accept(task):
                found.append(task)
                if len(found) >= limit:
                    break
        return found

    def __len__(self) -> int:
        return self.count


def _seq(task: Task) -> int:
    return task.seq


def _newest_first(task: Task) -> int:
    return -task.seq


class MemoryStore:
    """State in this process's memory (lost when it stops)."""

    kind = "memory"
    shared = False

    def __init__(self, max_attempts: int = 100_000, max_ledger: int = 10_000) -> None:
        self._max_attempts = max_attempts
        self._max_ledger = max_ledger
        self._lock = threading.RLock()
        self._seed: int | None = None
        self._origin: float | None = None
        self._offset = 0.0
        self.counters: dict[str, itertools.count[int]] = {}
        self._heap_order = itertools.count()  # ties in the heaps
        self._clear()

    def _clear(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._ledgers: dict[str, deque[tuple[Any, ...]]] = {}  # LedgerEntry fields: untracked, as TaskTable's
        self._tasks = TaskTable()
        self._order: deque[str] = deque()  # ids in creation order: eviction candidates
        self._due = DueQueue()
        self._ends_with_callback: list[tuple[float, int, str]] = []  # the dispatcher wakes for these only
        self._callbacks_due: list[tuple[float, int, tuple[str, int]]] = []
        self._leases: list[tuple[float, int, tuple[str, int]]] = []  # in-flight attempts by the end of their lease
        self._claimed: set[tuple[str, int]] = set()  # attempts in flight
        self._attempts: dict[tuple[str, int], CallbackAttempt] = {}
        self._sent: deque[tuple[str, int]] = deque()  # the log: sent attempts, oldest first
        self._by_task: dict[str, list[tuple[str, int]]] = {}
        self._faults: dict[str, FaultRule] = {}

    # -- shared state -------------------------------------------------------------------------
    def seed(self, proposed: int) -> int:
        with self._lock:
            if self._seed is None:
                self._seed = proposed
            return self._seed

    def clock_origin(self, proposed: float) -> float:
        with self._lock:
            if self._origin is None:
                self._origin = proposed
            return self._origin

    def clock_offset(self) -> float:
        return self._offset

    def advance_clock(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            return self._offset

    def clock_state(self) -> tuple[float, float | None]:
        return self._offset, self._due.first()

    def next_number(self, counter: str) -> int:
        numbers = self.counters.get(counter)
        if numbers is None:
            with self._lock:
                numbers = self.counters.setdefault(counter, itertools.count())
        return next(numbers)  # itertools.count is atomic under the GIL

    def snapshot(self, key: str, task_id: str | None) -> Snapshot:
        return (self._accounts.get(key), None if task_id is None else self._tasks.get(task_id), self._offset,
                bool(self._faults))

    # -- accounts -----------------------------------------------------------------------------
    def account(self, key: str) -> Account | None:
        return self._accounts.get(key)

    def provision(self, account: Account, entry: LedgerEntry) -> Account:
        with self._lock:
            stored = self._accounts.setdefault(account.key, account)
            if stored is account:
                self._log(entry)
            return stored

    def change_account(self, key: str, change: AccountChange) -> Account:
        with self._lock:
            account, entry = change(self._accounts.get(key))
            self._accounts[key] = account
            if entry is not None:
                self._log(entry)
            return account

    def accounts(self) -> list[Account]:
        with self._lock:
            return list(self._accounts.values())

    def ledger(self, key: str) -> list[LedgerEntry]:
        with self._lock:
            return list(map(_entry, self._ledgers.get(key, ())))

    def _log(self, entry: LedgerEntry) -> None:
        ledger = self._ledgers.get(entry.key)
        if ledger is None:
            ledger = self._ledgers[entry.key] = deque(maxlen=self._max_ledger)
        ledger.append(entry[:])  # a plain tuple, as TaskTable keeps tasks

    # -- tasks --------------------------------------------------------------------------------
    def create_task(self, task: Task, reserve: Reserve) -> Account:
        with self._lock:
            account = self._accounts.get(task.key)
            if account is None:
                raise NoSuchAccount(task.key)
            account, entry = reserve(account)
            if not self._tasks.add(task):
                raise Conflict(f"task {task.id} exists")
            self._accounts[task.key] = account
            self._log(entry)
            self._order.append(task.id)
            ends = task.ends
            if ends is not None:
                self._due.push(ends, task.id)
                if task.callback_url is not None:
                    heapq.heappush(self._ends_with_callback, (ends, next(self._heap_order), task.id))
            return account

    def task(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def tasks(self, key: str | None = None) -> list[Task]:
        with self._lock:
            snapshot = self._tasks.all()
        return snapshot if key is None else [task for task in snapshot if task.key == key]

    def recent_tasks(self, limit: int, scan: int, accept: Callable[[Task], bool] | None = None) -> list[Task]:
        with self._lock:
            return self._tasks.newest(limit, scan, accept)

    def task_count(self) -> int:
        return self._tasks.count

    def settle_due(self, now: float, limit: int, finish: Finish) -> list[Task]:
        due = self._due
        first = due.first()
        if first is None or first > now:
            return []
        settled: list[Task] = []
        with self._lock:
            while True:
                wanted = limit - len(settled)
                ids = due.take(now, wanted)
                for task_id in ids:
                    task = self._tasks.get(task_id)
                    if task is not None and task.settled is None:  # not cancelled (or forgotten) since
                        settled.append(self._finish(task, finish))
                if len(ids) < wanted or len(settled) >= limit:  # nothing more is due, or enough was settled
                    return settled

    def due_count(self) -> int:
        return len(self._due)

    def next_due(self) -> float | None:
        return self._due.first()

    def cancel_task(self, task_id: str, finish: Finish) -> Task:
        with self._lock:
            task = self._tasks.get(task_id)
            if task is None:
                raise NoSuchTask(task_id)
            return self._finish(task, finish)

    def _finish(self, task: Task, finish: Finish) -> Task:
        key = task.key
        task, account, entry, callback = finish(task, self._accounts[key])
        self._accounts[key] = account
        self._tasks.replace(task)
        self._log(entry)
        if callback is not None:
            self._schedule(callback)
        return task

    def evict(self, max_tasks: int, forgettable: Forgettable) -> int:
        if len(self._tasks) <= max_tasks:
            return 0
        forgotten = 0
        with self._lock:
            for _ in range(EVICTION_STEP):
                if len(self._tasks) <= max_tasks or not self._order:
                    break
                task_id = self._order.popleft()
                task = self._tasks.get(task_id)
                if task is None:
                    continue
                if not forgettable(task):  # look again later
                    self._order.append(task_id)
                    continue
                self._tasks.pop(task_id)
                for ident in self._by_task.pop(task_id, ()):
                    self._attempts.pop(ident, None)
                    self._claimed.discard(ident)
                forgotten += 1
        return forgotten

    # -- callbacks ----------------------------------------------------------------------------
    def schedule_callback(self, attempt: CallbackAttempt) -> None:
        with self._lock:
            if (attempt.task_id, attempt.number) in self._attempts:
                raise Conflict(f"callback attempt {attempt.number} of {attempt.task_id} exists")
            self._schedule(attempt)

    def _schedule(self, attempt: CallbackAttempt) -> None:
        ident = (attempt.task_id, attempt.number)
        self._attempts[ident] = attempt
        self._by_task.setdefault(attempt.task_id, []).append(ident)
        heapq.heappush(self._callbacks_due, (attempt.due, next(self._heap_order), ident))

    def claim_callbacks(self, now: float, claim: Callable[[CallbackAttempt], CallbackAttempt]
                        ) -> list[CallbackAttempt]:
        heap = self._callbacks_due
        if not heap or heap[0][0] > now:
            return []
        claimed = []
        with self._lock:
            while heap and heap[0][0] <= now:
                ident = heapq.heappop(heap)[2]
                attempt = self._attempts.get(ident)
                if attempt is None or attempt.at is not None:
                    continue
                attempt = self._attempts[ident] = claim(attempt)
                if attempt.lease is not None:
                    heapq.heappush(self._leases, (attempt.lease, next(self._heap_order), ident))
                self._claimed.add(ident)
                self._sent.append(ident)
                if len(self._sent) > self._max_attempts:
                    self._forget_attempt(self._sent.popleft())
                claimed.append(attempt)
        return claimed

    def _forget_attempt(self, ident: tuple[str, int]) -> None:
        self._attempts.pop(ident, None)
        self._claimed.discard(ident)
        numbers = self._by_task.get(ident[0])
        if numbers is not None and ident in numbers:
            numbers.remove(ident)

    def finish_callback(self, attempt: CallbackAttempt, retry: CallbackAttempt | None) -> bool:
        with self._lock:
            ident = (attempt.task_id, attempt.number)
            stored = self._attempts.get(ident)
            if stored is None or not holds(stored, attempt):
                return False
            self._settle_attempt(ident, attempt, retry)
            return True

    def _settle_attempt(self, ident: tuple[str, int], attempt: CallbackAttempt, retry: CallbackAttempt | None) -> None:
        self._attempts[ident] = attempt
        self._claimed.discard(ident)
        if retry is not None and retry.task_id in self._tasks and (retry.task_id, retry.number) not in self._attempts:
            self._schedule(retry)

    def expire_claims(self, now: float, lapse: Lapse) -> list[CallbackAttempt]:
        leases = self._leases
        if not leases or leases[0][0] > now:
            return []
        lapsed, kept = [], []
        with self._lock:
            while leases and leases[0][0] <= now:
                item = heapq.heappop(leases)
                attempt = self._attempts.get(item[2])
                if attempt is None or attempt.finished_at is not None or attempt.lease != item[0]:
                    continue
                outcome = lapse(attempt)
                if outcome is None:
                    kept.append(item)
                    continue
                self._settle_attempt(item[2], *outcome)
                lapsed.append(outcome[0])
            for item in kept:  # still held by a live delivery: looked at again after the next lease ends
                heapq.heappush(leases, item)
        return lapsed

    def in_flight(self) -> int:
        return len(self._claimed)

    def callbacks(self, task_id: str | None = None) -> list[CallbackAttempt]:
        with self._lock:
            idents = self._sent if task_id is None else self._by_task.get(task_id, ())
            attempts = [self._attempts.get(ident) for ident in idents]
            return [a for a in attempts if a is not None and a.at is not None]

    def scheduled_callbacks(self, task_id: str) -> list[CallbackAttempt]:
        with self._lock:
            attempts = [self._attempts.get(ident) for ident in self._by_task.get(task_id, ())]
            return [a for a in attempts if a is not None and a.at is None]

    def next_callback_due(self) -> float | None:
        with self._lock:
            ends = self._ends_with_callback
            while ends and ((task := self._tasks.get(ends[0][2])) is None or task.settled is not None):
                heapq.heappop(ends)  # settled (or cancelled, or forgotten) since
            leases = self._leases
            while leases and ((attempt := self._attempts.get(leases[0][2])) is None
                              or attempt.finished_at is not None):
                heapq.heappop(leases)  # finished (or forgotten) since
            times = [heap[0][0] for heap in (ends, self._callbacks_due, leases) if heap]
            return min(times) if times else None

    # -- fault rules --------------------------------------------------------------------------
    def add_fault(self, rule: FaultRule) -> None:
        with self._lock:
            self._faults[rule.id] = rule

    def faults(self) -> list[FaultRule]:
        with self._lock:
            return list(self._faults.values())

    def has_faults(self) -> bool:
        return bool(self._faults)

    def change_fault(self, rule_id: str, change: RuleChange) -> tuple[FaultRule, FaultRule] | None:
        with self._lock:
            before = self._faults.get(rule_id)
            if before is None:
                return None
            after = self._faults[rule_id] = change(before)
            return before, after

    def remove_fault(self, rule_id: str) -> FaultRule | None:
        with self._lock:
            return self._faults.pop(rule_id, None)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # -- everything -----------------------------------------------------------------------------
    def reset(self) -> None:
        with self._lock:
            self._clear()

    def close(self) -> None:
        """Nothing to release."""
