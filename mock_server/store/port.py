"""The store interface: what every store (memory, SQLite, Redis) offers the core.

The core decides, the store stores. A store keeps records (tasks, accounts,
ledger entries, callback attempts, fault rules) and the state emulators
sharing it must agree on (the seed, the clock's origin and offset, the draw
counters). It returns immutable records, never live objects.

Every change is one atomic operation. Where a change depends on what is
stored (a balance, a rule's remaining firings), the operation takes the
core's pure transition and applies it to the current records inside its
transaction: the arithmetic and the decisions are the core's, the
atomicity is the store's. A transition may raise; then nothing is written.
The shared store test suite (``tests/test_store.py``) states the guarantees.

Stores: ``memory`` (this process), ``sqlite`` (a file: durable, shared by the
processes of one machine) and ``redis`` (a server: shared by processes on many
machines). A shared store may be used by several emulators at once, each its own
worker; nothing a worker keeps for itself may change what another one sees.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from ..core.callbacks import CallbackAttempt
from ..core.faults import FaultRule
from ..core.ledger import Account, LedgerEntry
from ..core.tasks import Task

#: What finishing a task writes, ``(task, account, entry, callback)``: the settled task, its account, the
#: ledger entry and the first callback (None: none). A plain tuple, as :data:`Snapshot`: one per settlement.
Settlement = tuple[Task, Account, LedgerEntry, CallbackAttempt | None]


#: Reserves a new task's price on its account: raises to refuse (no credits, too many running).
Reserve = Callable[[Account], tuple[Account, LedgerEntry]]
#: Finishes a task (settle or cancel): raises to refuse.
Finish = Callable[[Task, Account], Settlement]
#: Changes one account (None when it does not exist yet).
AccountChange = Callable[[Account | None], tuple[Account, LedgerEntry | None]]
#: Changes one fault rule.
RuleChange = Callable[[FaultRule], FaultRule]
#: Whether a finished task may be forgotten to keep the store within its bound.
Forgettable = Callable[[Task], bool]
#: An in-flight attempt whose lease is over: its final record and its retry, or None to leave it in flight.
Lapse = Callable[[CallbackAttempt], "tuple[CallbackAttempt, CallbackAttempt | None] | None"]


#: What a request needs first, read at once, ``(account, task, offset, faults)``: the caller's account, the
#: task asked for (None: none or unknown), the clock offset (seconds) and whether any fault rule exists.
#: A plain tuple: every request reads one, and a ``NamedTuple`` costs three times as much to build.
Snapshot = tuple[Account | None, Task | None, float, bool]


def first_accepted(newest: Iterable[Task], limit: int, accept: Callable[[Task], bool] | None) -> list[Task]:
    """Up to ``limit`` of ``newest`` that ``accept`` takes, in order (for :meth:`Store.recent_tasks`)."""
    found: list[Task] = []
    for task in newest:
        if accept is None or accept(task):
            found.append(task)
            if len(found) >= limit:
                break
    return found


class NoSuchAccount(LookupError):
    """The operation needs an account that does not exist."""


class NoSuchTask(LookupError):
    """The operation needs a task that does not exist."""


class Conflict(Exception):
    """The record to create exists already (a task id, a callback attempt number)."""


class Store(Protocol):
    """The operations of a store. Times are mock epoch seconds."""

    #: ``memory``, ``sqlite`` or ``redis`` (shown by ``GET /_mock/health``).
    kind: str
    #: Whether other processes may share the state (their changes show up without a word to this one).
    shared: bool

    # -- what emulators sharing the store agree on --------------------------------------------
    def seed(self, proposed: int) -> int:
        """The store's seed: ``proposed`` if it has none yet."""

    def clock_origin(self, proposed: float) -> float:
        """The wall epoch at which the store's mock time began: ``proposed`` if it has none yet."""

    def clock_offset(self) -> float:
        """Seconds the clock was advanced by, in total."""

    def advance_clock(self, seconds: float) -> float:
        """Add ``seconds`` to the offset; the new offset."""

    def clock_state(self) -> tuple[float, float | None]:
        """The clock offset and :meth:`next_due`, read at once (every reading of the time needs both)."""

    def next_number(self, counter: str) -> int:
        """The next value (0, 1, ...) of a named counter: task positions, fault rule ids."""

    def snapshot(self, key: str, task_id: str | None) -> Snapshot:
        """The key's account, the task (if ``task_id``), the clock offset and whether rules exist: one read."""

    # -- accounts -----------------------------------------------------------------------------
    def account(self, key: str) -> Account | None:
        """The account of ``key``, or None."""

    def provision(self, account: Account, entry: LedgerEntry) -> Account:
        """Store ``account`` and its opening ledger entry unless its key has an account; the stored account."""

    def change_account(self, key: str, change: AccountChange) -> Account:
        """Apply ``change`` to the key's account (or None) and store the result and its ledger entry."""

    def accounts(self) -> list[Account]:
        """Every account, in no particular order."""

    def ledger(self, key: str) -> list[LedgerEntry]:
        """The key's ledger entries, oldest first (the newest ones, if the store keeps a bounded log)."""

    # -- tasks --------------------------------------------------------------------------------
    def create_task(self, task: Task, reserve: Reserve) -> Account:
        """Store a new task and reserve its price, atomically; the changed account.

        Raises :class:`NoSuchAccount`, :class:`Conflict` (the id exists), or whatever ``reserve`` raises.
        """

    def task(self, task_id: str) -> Task | None:
        """The task, or None."""

    def tasks(self, key: str | None = None) -> list[Task]:
        """Tasks in creation order, optionally of one key."""

    def recent_tasks(self, limit: int, scan: int, accept: Callable[[Task], bool] | None = None) -> list[Task]:
        """Up to ``limit`` of the newest ``scan`` tasks that ``accept`` takes (all, without it), newest first.

        The cost is bounded by ``scan``, however many tasks are stored (the live dashboard asks every tick).
        """

    def task_count(self) -> int:
        """How many tasks are stored."""

    def settle_due(self, now: float, limit: int, finish: Finish) -> list[Task]:
        """Finish unsettled tasks that ended by ``now`` (at most ``limit``, earliest end first), each once."""

    def due_count(self) -> int:
        """How many tasks wait to be settled."""

    def next_due(self) -> float | None:
        """When the next unsettled task ends, if any does."""

    def cancel_task(self, task_id: str, finish: Finish) -> Task:
        """Finish one task now (the core's ``finish`` refuses a finished one); :class:`NoSuchTask` if unknown."""

    def evict(self, max_tasks: int, forgettable: Forgettable) -> int:
        """Forget the oldest forgettable tasks beyond ``max_tasks`` (a bounded step); how many were forgotten."""

    # -- callbacks ----------------------------------------------------------------------------
    def schedule_callback(self, attempt: CallbackAttempt) -> None:
        """Add an attempt; :class:`Conflict` if its ``(task_id, number)`` exists."""

    def claim_callbacks(self, now: float, claim: Callable[[CallbackAttempt], CallbackAttempt]
                        ) -> list[CallbackAttempt]:
        """Take every attempt due by ``now``, store it as ``claim`` makes it (sent, leased), return those.

        Each attempt is claimed once, whichever worker asks.
        """

    def finish_callback(self, attempt: CallbackAttempt, retry: CallbackAttempt | None) -> bool:
        """Store a finished attempt in place of its in-flight record and schedule ``retry`` (if its task exists).

        False, and nothing written, when the record is no longer that claim's (its lease lapsed and
        another worker recorded it, or a reset forgot it).
        """

    def expire_claims(self, now: float, lapse: Lapse) -> list[CallbackAttempt]:
        """Finish the in-flight attempts whose lease ended by ``now`` as ``lapse`` says, each once; those records."""

    def in_flight(self) -> int:
        """How many attempts are claimed and not finished, by any worker."""

    def callbacks(self, task_id: str | None = None) -> list[CallbackAttempt]:
        """Sent attempts, oldest first (of one task, or all)."""

    def scheduled_callbacks(self, task_id: str) -> list[CallbackAttempt]:
        """A task's attempts not sent yet."""

    def next_callback_due(self) -> float | None:
        """When callback work is next due: an attempt, a lease's end, or the end of a task with a callback."""

    # -- fault rules --------------------------------------------------------------------------
    def add_fault(self, rule: FaultRule) -> None:
        """Add a rule (after the others)."""

    def faults(self) -> list[FaultRule]:
        """Every rule, in the order added."""

    def has_faults(self) -> bool:
        """Whether any rule exists (the hot path skips all fault work otherwise)."""

    def change_fault(self, rule_id: str, change: RuleChange) -> tuple[FaultRule, FaultRule] | None:
        """Apply ``change`` to one rule; ``(before, after)``, or None if the rule no longer exists."""

    def remove_fault(self, rule_id: str) -> FaultRule | None:
        """Remove one rule; the removed rule, or None."""

    def clear_faults(self) -> None:
        """Remove every rule."""

    # -- everything -----------------------------------------------------------------------------
    def reset(self) -> None:
        """Forget every account, task, callback and rule; the seed, clock and counters stay."""

    def close(self) -> None:
        """Release connections and files."""
