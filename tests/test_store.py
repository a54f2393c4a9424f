"""The store suite: what every store must guarantee, run on each store the emulator has.

A store keeps immutable records and applies the core's transitions atomically:
each operation happens whole or not at all, a task is settled once, a callback
attempt is claimed once, a rule with ``times: n`` fires n times in total, and
for every key ``balance + reserved + charged == granted``. ``open_store`` opens
another handle onto the same state (the memory store: the same object; shared
stores: a new connection), so a test can play several emulators at once.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest

from mock_server import Emulator, Settings
from mock_server.core import callbacks, faults, ledger
from mock_server.core.callbacks import CallbackAttempt
from mock_server.core.draws import Draws
from mock_server.core.faults import FaultRule
from mock_server.core.ledger import Account, LedgerEntry
from mock_server.core.tasks import Task
from mock_server.core.views import task_body
from mock_server.store.memory import MemoryStore
from mock_server.store.port import Conflict, NoSuchAccount, NoSuchTask, Settlement, Store

Opener = Callable[[], Store]
KEY = "sk-store-suite-0001"
PRICE = Decimal("27.0000")
T0 = 1_800_000_000.0


@pytest.fixture(params=["memory"])
def open_store(request: pytest.FixtureRequest) -> Iterator[Opener]:
    """Opens handles onto one fresh store of the parametrized kind."""
    shared = MemoryStore()
    yield lambda: shared
    shared.close()


@pytest.fixture
def store(open_store: Opener) -> Store:
    return open_store()


# -- helpers: records and transitions as the core makes them ------------------------------------------
def funded(store: Store, key: str = KEY, credits: Decimal = Decimal(1000)) -> Account:
    return store.provision(*ledger.open_account(key, credits, T0))


def task(n: int, *, key: str = KEY, ends_in: float = 100.0, fail: str | None = None, callback: bool = False,
         stuck: bool = False) -> Task:
    return Task(id=f"task-unified-1800000000-{n:08d}", key=key, model="kling-o3-text-to-video", created=T0,
                queue=0.0, processing=ends_in, fail=fail, stuck=stuck, price=PRICE, seconds=5, aspect_ratio="16:9",
                quality="720p", sound=False, estimated_time=250,
                callback_url="https://hooks.example.com/h" if callback else None, base_url="http://127.0.0.1:8000",
                scenario="", seq=n)


def reserve(new: Task) -> Callable[[Account], tuple[Account, LedgerEntry]]:
    return lambda account: ledger.reserve(account, new, T0, None)


def finish(done: Task, account: Account) -> Settlement:
    at = done.ends if done.ends is not None else done.created
    account, done, entry = ledger.settle(account, done, at)
    first = CallbackAttempt(done.id, 1, done.callback_url, at) if done.callback_url else None
    return Settlement(done, account, entry, first)


def refuse(done: Task, account: Account) -> Settlement:
    raise RuntimeError("refused by the core")


def ledger_holds(account: Account) -> bool:
    return account.balance + account.reserved + account.charged == account.granted


# -- shared state: seed, clock, counters ------------------------------------------------------------
def test_the_first_seed_and_clock_origin_win(open_store: Opener) -> None:
    first, second = open_store(), open_store()
    assert first.seed(11) == 11 and second.seed(22) == 11
    assert first.clock_origin(T0) == T0 and second.clock_origin(T0 + 5) == T0


def test_clock_offset_adds_up_and_is_shared(open_store: Opener) -> None:
    first, second = open_store(), open_store()
    assert first.clock_offset() == 0
    assert first.advance_clock(10) == 10 and second.advance_clock(2.5) == 12.5
    assert first.clock_offset() == second.clock_offset() == 12.5


def test_counters_count_from_zero_per_name_and_never_repeat_under_threads(open_store: Opener) -> None:
    assert [open_store().next_number("task") for _ in range(3)] == [0, 1, 2]
    assert open_store().next_number("fault") == 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        drawn = list(pool.map(lambda _: open_store().next_number("task"), range(400)))
    assert sorted(drawn) == list(range(3, 403))


# -- accounts -------------------------------------------------------------------------------------------
def test_provision_creates_an_account_once_with_its_opening_entry(store: Store) -> None:
    first = funded(store)
    again = store.provision(*ledger.open_account(KEY, Decimal(5), T0 + 1))
    assert again == first and again.granted == 1000
    assert [(e.kind, e.amount) for e in store.ledger(KEY)] == [("grant", 1000)]


def test_a_refused_account_change_writes_nothing(store: Store) -> None:
    funded(store)

    def refused(account: Account | None) -> tuple[Account, LedgerEntry | None]:
        raise ledger.GrantBelowReserved("no")

    with pytest.raises(ledger.GrantBelowReserved):
        store.change_account(KEY, refused)
    assert store.account(KEY) == ledger.open_account(KEY, Decimal(1000), T0)[0]
    assert len(store.ledger(KEY)) == 1


def test_records_are_values_not_live_objects(store: Store) -> None:
    before = funded(store)
    store.create_task(task(1), reserve(task(1)))
    assert before.balance == 1000  # the record read earlier did not change under the caller
    assert store.account(KEY).balance == 1000 - PRICE


# -- tasks and the ledger ---------------------------------------------------------------------------------
def test_create_reserves_and_stores_atomically(store: Store) -> None:
    funded(store)
    account = store.create_task(task(1), reserve(task(1)))
    assert (account.balance, account.reserved, account.running) == (1000 - PRICE, PRICE, 1)
    assert store.task(task(1).id) == task(1) and store.task_count() == 1
    assert [e.kind for e in store.ledger(KEY)] == ["grant", "reserve"]


def test_a_refused_reservation_leaves_no_trace(store: Store) -> None:
    funded(store, credits=Decimal(10))
    with pytest.raises(ledger.InsufficientCredits):
        store.create_task(task(1), reserve(task(1)))
    assert store.task(task(1).id) is None and store.task_count() == 0 and store.due_count() == 0
    assert store.account(KEY) == ledger.open_account(KEY, Decimal(10), T0)[0]
    assert [e.kind for e in store.ledger(KEY)] == ["grant"]


def test_create_refuses_an_unknown_account_and_a_duplicate_id(store: Store) -> None:
    with pytest.raises(NoSuchAccount):
        store.create_task(task(1), reserve(task(1)))
    funded(store)
    store.create_task(task(1), reserve(task(1)))
    with pytest.raises(Conflict):
        store.create_task(task(1), reserve(task(1)))
    assert store.account(KEY).reserved == PRICE


def test_the_ledger_stays_exact_under_concurrent_creates(open_store: Opener) -> None:
    keys = [f"sk-store-suite-{k:04d}" for k in range(4)]
    for key in keys:
        funded(open_store(), key, PRICE * 10)

    def create(n: int) -> bool:
        new = task(n, key=keys[n % 4])
        try:
            open_store().create_task(new, reserve(new))
            return True
        except ledger.InsufficientCredits:
            return False

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = list(pool.map(create, range(80)))
    assert created.count(True) == 40
    for key in keys:
        account = open_store().account(key)
        assert ledger_holds(account) and (account.balance, account.running) == (0, 10), account


def test_settle_due_finishes_each_due_task_once_in_order_within_the_limit(store: Store) -> None:
    funded(store)
    for n, ends_in in enumerate((30.0, 10.0, 20.0, 500.0)):
        new = task(n, ends_in=ends_in, fail="generation_timeout" if n == 2 else None)
        store.create_task(new, reserve(new))
    assert store.next_due() == T0 + 10 and store.due_count() == 4
    assert [t.id for t in store.settle_due(T0 + 100, 2, finish)] == [task(1).id, task(2).id]
    assert [t.id for t in store.settle_due(T0 + 100, 10, finish)] == [task(0).id]
    assert store.settle_due(T0 + 100, 10, finish) == []
    assert [store.task(task(n).id).settled for n in range(4)] == ["charged", "charged", "refunded", None]
    account = store.account(KEY)
    assert (account.charged, account.reserved, account.running) == (2 * PRICE, PRICE, 1) and ledger_holds(account)
    assert store.next_due() == T0 + 500


def test_concurrent_settlement_settles_every_task_exactly_once(open_store: Opener) -> None:
    funded(open_store(), credits=PRICE * 200)
    for n in range(200):
        open_store().create_task(task(n, ends_in=float(n % 7)), reserve(task(n, ends_in=float(n % 7))))
    with ThreadPoolExecutor(max_workers=8) as pool:
        batches = list(pool.map(lambda _: open_store().settle_due(T0 + 10, 7, finish), range(60)))
    settled = [t.id for batch in batches for t in batch]
    assert len(settled) == len(set(settled)) == 200
    account = open_store().account(KEY)
    assert account.charged == 200 * PRICE and account.running == 0 and ledger_holds(account)
    assert sum(1 for e in open_store().ledger(KEY) if e.kind == "charge") == 200


def test_a_refused_finish_writes_nothing(store: Store) -> None:
    funded(store)
    store.create_task(task(1), reserve(task(1)))
    with pytest.raises(RuntimeError):
        store.cancel_task(task(1).id, refuse)
    assert store.task(task(1).id).settled is None and store.account(KEY).reserved == PRICE
    with pytest.raises(NoSuchTask):
        store.cancel_task("task-unified-1800000000-nothere0", finish)


def test_cancel_finishes_one_task_and_schedules_its_callback(store: Store) -> None:
    funded(store)
    new = task(1, callback=True, stuck=True)
    store.create_task(new, reserve(new))
    assert store.next_callback_due() is None  # stuck: it never ends by itself
    cancelled = store.cancel_task(new.id, lambda t, a: finish(t._replace(cancelled_at=T0 + 5), a))
    assert cancelled.settled == "refunded" and store.account(KEY).balance == 1000
    assert store.scheduled_callbacks(new.id) == [CallbackAttempt(new.id, 1, new.callback_url, T0 + 5)]
    assert store.next_callback_due() == T0 + 5


def test_recent_tasks_are_the_newest_first_within_the_limit_and_the_scan(store: Store) -> None:
    funded(store)
    for n in range(10):
        store.create_task(task(n), reserve(task(n)))
    assert [t.seq for t in store.recent_tasks(3, 100)] == [9, 8, 7]
    assert [t.seq for t in store.recent_tasks(100, 4)] == [9, 8, 7, 6]
    even = lambda t: t.seq % 2 == 0  # noqa: E731
    assert [t.seq for t in store.recent_tasks(2, 100, even)] == [8, 6]
    assert [t.seq for t in store.recent_tasks(10, 3, even)] == [8]  # only the newest three are looked at
    store.settle_due(T0 + 1000, 100, finish)  # changed records keep their place
    newest = store.recent_tasks(3, 100)
    assert [t.seq for t in newest] == [9, 8, 7] and all(t.settled == "charged" for t in newest)
    assert store.recent_tasks(5, 100, lambda t: False) == []


def test_evict_forgets_the_oldest_forgettable_tasks_only(store: Store) -> None:
    funded(store)
    for n in range(6):
        new = task(n, ends_in=10.0 if n % 2 else 1000.0)
        store.create_task(new, reserve(new))
    store.settle_due(T0 + 20, 10, finish)
    forgotten = store.evict(3, lambda t: t.settled is not None)
    assert forgotten == 3 and store.task_count() == 3
    assert sorted(t.seq for t in store.tasks()) == [0, 2, 4]  # the unfinished ones stay
    assert store.account(KEY).charged == 3 * PRICE  # forgetting moves no credits


# -- callbacks ----------------------------------------------------------------------------------------
def test_a_due_attempt_is_claimed_once_even_by_concurrent_workers(open_store: Opener) -> None:
    for n in range(50):
        open_store().schedule_callback(CallbackAttempt(f"task-{n}", 1, "https://hooks.example.com/h", T0 + n))
    barrier = threading.Barrier(4)

    def claim(worker: int) -> list[CallbackAttempt]:
        barrier.wait()
        return open_store().claim_callbacks(T0 + 100, lambda a: callbacks.claimed(a, T0 + 100, f"w{worker}"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        claimed = [a for batch in pool.map(claim, range(4)) for a in batch]
    assert sorted(a.task_id for a in claimed) == sorted(f"task-{n}" for n in range(50))
    assert all(a.at == T0 + 100 and a.worker for a in claimed)
    assert open_store().claim_callbacks(T0 + 200, lambda a: a) == []


def test_finishing_an_attempt_replaces_its_record_and_schedules_the_retry(store: Store) -> None:
    funded(store)
    new = task(1, callback=True)
    store.create_task(new, reserve(new))
    store.settle_due(T0 + 100, 1, finish)
    [sent] = store.claim_callbacks(T0 + 100, lambda a: callbacks.claimed(a, T0 + 100, "w1"))
    assert store.callbacks(new.id) == [sent] and sent.state == "in_flight"
    done = callbacks.finished(sent, T0 + 101, 12.5, status_code=500)
    store.finish_callback(done, callbacks.retry(done))
    assert store.callbacks(new.id) == [done] and done.state == "failed"
    [retry] = store.scheduled_callbacks(new.id)
    assert (retry.number, retry.due) == (2, T0 + 102) and store.next_callback_due() == T0 + 102
    with pytest.raises(Conflict):
        store.schedule_callback(retry)
    assert store.callbacks() == [done]


# -- fault rules ---------------------------------------------------------------------------------------
def test_rules_keep_their_order_and_can_be_removed(store: Store) -> None:
    assert not store.has_faults()
    for n in range(3):
        store.add_fault(FaultRule(f"fault-{n}", "server_error"))
    assert [r.id for r in store.faults()] == ["fault-0", "fault-1", "fault-2"] and store.has_faults()
    assert store.remove_fault("fault-1").id == "fault-1" and store.remove_fault("fault-1") is None
    assert store.change_fault("fault-1", lambda r: r) is None
    store.clear_faults()
    assert store.faults() == [] and not store.has_faults()


def test_a_rule_with_times_fires_exactly_that_often_under_concurrency(open_store: Opener) -> None:
    open_store().add_fault(FaultRule("fault-1", "rate_limit", times=7))
    draws = Draws(1)

    def fire(_: int) -> bool:
        changed = open_store().change_fault("fault-1", lambda r: faults.draw(r, draws))
        return changed is not None and faults.fired(*changed)

    with ThreadPoolExecutor(max_workers=8) as pool:
        fired = list(pool.map(fire, range(100)))
    assert fired.count(True) == 7
    [rule] = open_store().faults()
    assert (rule.fired, rule.times, rule.spent) == (7, 0, True)


# -- reset ---------------------------------------------------------------------------------------------
def test_reset_forgets_records_but_keeps_seed_clock_and_counters(store: Store) -> None:
    store.seed(5)
    store.clock_origin(T0)
    store.advance_clock(60)
    store.next_number("task")
    funded(store)
    store.create_task(task(1, callback=True), reserve(task(1, callback=True)))
    store.add_fault(FaultRule("fault-1", "drop"))
    store.reset()
    assert (store.account(KEY), store.task_count(), store.faults(), store.callbacks(), store.ledger(KEY)) == (
        None, 0, [], [], [])
    assert store.next_due() is None and store.next_callback_due() is None
    assert (store.seed(9), store.clock_origin(0.0), store.clock_offset()) == (5, T0, 60)
    assert store.next_number("task") == 1


# -- emulators over one store ---------------------------------------------------------------------------
def test_two_emulators_over_one_store_agree(open_store: Opener) -> None:
    one = Emulator(Settings(speed=0, seed=3), store=open_store(), worker="one")
    two = Emulator(Settings(speed=0, seed=99), store=open_store(), worker="two")
    assert one.seed == two.seed == 3 and one.clock.now() == two.clock.now()
    body = {"model": "kling-o3-text-to-video", "prompt": "shared"}
    ids = [emulator.create_task(emulator.authenticate(f"Bearer {KEY}"), dict(body))[0].id
           for _ in range(20) for emulator in (one, two)]
    assert len(set(ids)) == 40
    one.advance(120)
    assert one.clock.now() == two.clock.now()
    for task_id in ids:
        polls = [task_body(e.owned_task(e.authenticate(f"Bearer {KEY}"), task_id), e.clock.now(), "http://x")
                 for e in (one, two)]
        assert polls[0] == polls[1]
    two.advance(3600)
    assert one.account(KEY) == two.account(KEY) and one.account(KEY).charged == 40 * PRICE
