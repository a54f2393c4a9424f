"""Accounts and their ledger: records and the pure transitions that move credits.

Per API key, always: ``balance + reserved + charged == granted`` (credits,
exact decimals). Creating a task reserves its price; completion charges it;
failure and cancellation refund it. Every move is a :class:`LedgerEntry`.
The transitions here take records and return new ones; a store applies them
atomically (see :mod:`mock_server.store.port`).

Credits: https://docs.evolink.ai/en/api-manual/account-management/get-credits
"""
from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple

from .records import builder, setter
from .tasks import CHARGED, REFUNDED, Task

ZERO = Decimal(0)
DEFAULT_GROUP = "default"
GRANT, RESERVE, CHARGE, REFUND = "grant", "reserve", "charge", "refund"


class Account(NamedTuple):
    """One API key's ledger totals (credits)."""

    key: str
    granted: Decimal
    balance: Decimal  # spendable: not reserved, not charged
    reserved: Decimal = ZERO
    charged: Decimal = ZERO
    running: int = 0  # unfinished tasks
    revoked: bool = False
    models: frozenset[str] | None = None  # None: every model
    user_group: str = DEFAULT_GROUP


class LedgerEntry(NamedTuple):
    """One move of credits: ``kind`` is grant, reserve, charge or refund; ``balance`` is the balance after it."""

    at: float  # mock epoch seconds
    key: str
    kind: str
    amount: Decimal
    balance: Decimal
    task_id: str | None = None


_account = builder(Account)
_entry = builder(LedgerEntry)
_settled = setter(Task, "settled")


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


class GrantBelowReserved(Exception):
    """A new grant would not cover the credits reserved by running tasks."""


def open_account(key: str, granted: Decimal, at: float) -> tuple[Account, LedgerEntry]:
    """A key seen for the first time: ``granted`` credits, all spendable."""
    return Account(key, granted, granted), LedgerEntry(at, key, GRANT, granted, granted)


def regrant(old: Account | None, key: str, granted: Decimal, models: frozenset[str] | None,
            user_group: str | None, at: float) -> tuple[Account, LedgerEntry]:
    """(Re)create an account: ``granted`` credits, nothing charged, not revoked.

    Reservations of unfinished tasks stay, so they settle correctly; a grant
    below them raises :class:`GrantBelowReserved`.
    """
    reserved, running = (old.reserved, old.running) if old else (ZERO, 0)
    if granted < reserved:
        raise GrantBelowReserved(f"granted {granted} is less than the {reserved} credits reserved by running tasks")
    group = user_group or (old.user_group if old else DEFAULT_GROUP)
    account = Account(key, granted, granted - reserved, reserved, ZERO, running, False, models, group)
    return account, LedgerEntry(at, key, GRANT, granted, account.balance)


def revoke(account: Account) -> Account:
    """The key's requests get 401 from now on."""
    return account._replace(revoked=True)


def reserve(account: Account, task: Task, at: float, max_running: int | None) -> tuple[Account, LedgerEntry]:
    """Reserve a new task's whole price; raises when too many run or the balance is short."""
    key, granted, balance, reserved, charged, running, revoked, models, group = account  # every create: one read
    if max_running is not None and running >= max_running:
        raise TooManyRunning(running)
    price = task.price
    if balance < price:
        raise InsufficientCredits(balance, price)
    balance -= price
    changed = _account((key, granted, balance, reserved + price, charged, running + 1, revoked, models, group))
    return changed, _entry((at, key, RESERVE, price, balance, task.id))


def settle(account: Account, task: Task, at: float) -> tuple[Account, Task, LedgerEntry]:
    """A finished task's final billing: charge a completed one, refund a failed or cancelled one."""
    key, granted, balance, reserved, charged, running, revoked, models, group = account  # every settlement
    price = task.price
    if task.charges:
        kind, settled, charged = CHARGE, CHARGED, charged + price
    else:
        kind, settled, balance = REFUND, REFUNDED, balance + price
    changed = _account((key, granted, balance, reserved - price, charged, running - 1, revoked, models, group))
    return changed, _settled(task, settled), _entry((at, key, kind, price, balance, task.id))
