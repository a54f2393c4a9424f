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
The shared store test suite (``tests/store/``) states the guarantees.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple, Protocol

from ..core.callbacks import CallbackAttempt
from ..core.faults import FaultRule
from ..core.ledger import Account, LedgerEntry
from ..core.tasks import Task


class Settlement(NamedTuple):
    """What finishing a task writes: the settled task, its account, the ledger entry, the first callback."""

    task: Task
    account: Account
    entry: LedgerEntry
    callback: CallbackAttempt | None = None


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

    # -- what emulators sharing the store agree on --------------------------------------------
    def seed(self, proposed: int) -> int:
        """The store's seed: ``proposed`` if it has none yet."""

    def clock_origin(self, proposed: float) -> float:
        """The wall epoch at which the store's mock time began: ``proposed`` if it has none yet."""

    def clock_offset(self) -> float:
        """Seconds the clock was advanced by, in total."""

    def advance_clock(self, seconds: float) -> float:
        """Add ``seconds`` to the offset; the new offset."""

    def next_number(self, counter: str) -> int:
        """The next value (0, 1, ...) of a named counter: task positions, fault rule ids."""

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
        """Take every attempt due by ``now``, store it as ``claim`` makes it (sent), return those."""

    def finish_callback(self, attempt: CallbackAttempt, retry: CallbackAttempt | None) -> None:
        """Store a finished attempt (replacing its in-flight record) and schedule ``retry``."""

    def callbacks(self, task_id: str | None = None) -> list[CallbackAttempt]:
        """Sent attempts, oldest first (of one task, or all)."""

    def scheduled_callbacks(self, task_id: str) -> list[CallbackAttempt]:
        """A task's attempts not sent yet."""

    def next_callback_due(self) -> float | None:
        """When callback work is next due: an attempt, or the end of a task with a callback."""

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
