"""The store suite: what every store must guarantee, run on each store the emulator has.

A store keeps immutable records and applies the core's transitions atomically:
each operation happens whole or not at all, a task is settled once, a callback
attempt is claimed once, a rule with ``times: n`` fires n times in total, and
for every key ``balance + reserved + charged == granted``. ``open_store`` opens
another handle onto the same state (the memory store: the same object; shared
stores: a new connection), so a test can play several emulators at once. The suite
runs on memory, on a SQLite file and on a private redis-server (see conftest.py).
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pytest

from mock_server import Emulator, Settings
from mock_server.core import callbacks, faults, ledger
from mock_server.core.callbacks import CallbackAttempt
from mock_server.core.draws import Draws
from mock_server.core.faults import FaultRule
from mock_server.core.ledger import Account, LedgerEntry
from mock_server.core.tasks import Task
from mock_server.core.views import task_body
from mock_server.store import open_store as open_url
from mock_server.store.codec import RULE
from mock_server.store.memory import MemoryStore
from mock_server.store.port import Conflict, NoSuchAccount, NoSuchTask, Settlement, Snapshot, Store

Opener = Callable[[], Store]
KEY = "sk-store-suite-0001"
PRICE = Decimal("27.0000")
T0 = 1_800_000_000.0


@pytest.fixture(params=["memory", "sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens handles onto one fresh store of the parametrized kind."""
    if request.param == "memory":
        shared = MemoryStore()
        yield lambda: shared
        shared.close()
        return
    url = f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite" else request.getfixturevalue("redis_url")
    handles: list[Store] = []

    def opener() -> Store:
        handles.append(open_url(url))
        return handles[-1]

    yield opener
    for handle in handles:
        handle.close()


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
    return done, account, entry, first


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
    assert second.clock_state() == (12.5, None)  # nothing is due


def test_counters_count_from_zero_per_name_and_never_repeat_under_threads(open_store: Opener) -> None:
    assert [open_store().next_number("task") for _ in range(3)] == [0, 1, 2]
    assert open_store().next_number("fault") == 0
    with ThreadPoolExecutor(max_workers=8) as pool:
        drawn = list(pool.map(lambda _: open_store().next_number("task"), range(400)))
    assert sorted(drawn) == list(range(3, 403))


def test_a_snapshot_reads_account_task_clock_and_rules_together(store: Store) -> None:
    assert store.snapshot(KEY, None) == (None, None, 0.0, False)
    funded(store)
    store.create_task(task(1), reserve(task(1)))
    store.advance_clock(7.5)
    store.add_fault(FaultRule("fault-1", "latency", latency_ms=5.0))
    assert store.snapshot(KEY, task(1).id) == (store.account(KEY), task(1), 7.5, True)
    assert store.snapshot(KEY, "task-unified-1800000000-nothere0")[1] is None  # no such task


def test_a_snapshot_shows_every_change_another_handle_made_since_the_last(open_store: Opener) -> None:
    """A store may keep what a poll read (Redis does); the next poll still sees each change, from any worker."""
    writer, poller = open_store(), open_store()
    funded(writer)
    new = task(1, callback=True)
    writer.create_task(new, reserve(new))

    def polled() -> Snapshot:
        return poller.snapshot(KEY, new.id)

    assert polled() == polled() == (writer.account(KEY), new, 0.0, False)  # the second read may be a kept one
    writer.advance_clock(30)
    assert polled()[2] == 30  # the offset
    writer.add_fault(FaultRule("fault-1", "latency", latency_ms=5.0))
    assert polled()[3]  # fault rules exist
    writer.clear_faults()
    assert not polled()[3]
    writer.settle_due(T0 + 100, 10, finish)
    account, settled, _, _ = polled()
    assert settled is not None and settled.settled == "charged" and account is not None and account.charged == PRICE
    writer.change_account(KEY, lambda old: ledger.regrant(old, KEY, Decimal(5), None, None, T0 + 200))
    account = polled()[0]
    assert account == writer.account(KEY) and account is not None and account.granted == 5
    writer.reset()
    assert polled() == (None, None, 30.0, False)


# -- records come back exactly as they were stored ------------------------------------------------------
def test_records_round_trip_exactly(open_store: Opener) -> None:
    """Money stays Decimal with its exponent, None stays None, bools and floats keep type and every bit."""
    store = open_store()
    account = Account(KEY, Decimal("1E+3"), Decimal("987.6543"), Decimal("12.0084"), Decimal("0.2373"), 1, False,
                      frozenset({"kling-o3-video-edit", "kling-o3-text-to-video"}), "vip")
    entry = LedgerEntry(T0 + 0.1 + 0.2, KEY, "grant", Decimal("1E+3"), Decimal("987.6543"))
    store.provision(account, entry)
    odd = task(1)._replace(queue=0.1 + 0.2, processing=1 / 3, price=Decimal("12.0084"), quality=None, sound=True,
                           callback_url="https://hooks.example.com/h?a=1&b=%C3%A9", scenario="queue=0.3;stuck",
                           stuck=True, fail="generation_timeout", seq=2**40)
    store.create_task(odd, lambda a: (a._replace(balance=a.balance - odd.price, reserved=a.reserved + odd.price),
                                      entry._replace(kind="reserve", task_id=odd.id)))
    attempt = CallbackAttempt(odd.id, 1, odd.callback_url, T0 + 1e-6, manual=True)
    store.schedule_callback(attempt)
    rule = FaultRule("fault-1", "rate_limit", route="create", times=None, probability=0.3, retry_after=2.5,
                     seed=-(2**70))
    store.add_fault(rule)
    again = open_store()  # another handle: what was written, not what this one remembers
    stored = again.account(KEY)
    assert stored == account._replace(balance=account.balance - odd.price, reserved=account.reserved + odd.price)
    assert str(stored.granted) == "1E+3" and str(stored.reserved) == "24.0168" and stored.models == account.models
    assert again.ledger(KEY)[0] == entry and again.ledger(KEY)[0].at == T0 + 0.1 + 0.2
    loaded = again.task(odd.id)
    assert loaded == odd and (loaded.quality, loaded.cancelled_at, loaded.settled) == (None, None, None)
    assert [type(v) for v in loaded] == [type(v) for v in odd]
    assert loaded.processing == 1 / 3 and str(loaded.price) == "12.0084"
    assert again.scheduled_callbacks(odd.id) == [attempt]
    assert again.faults() == [rule] and again.faults()[0].times is None
    assert again.seed(2**80) == 2**80 and open_store().seed(1) == 2**80  # any int


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
    assert store.next_due() == T0 + 10 and store.due_count() == 4 and store.clock_state() == (0.0, T0 + 10)
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


def claim_all(store: Store, now: float, worker: str, lease: float = 15.0) -> list[CallbackAttempt]:
    return store.claim_callbacks(now, lambda a: callbacks.claimed(a, now, worker, lease))


def lapse_unless(held: str) -> Callable[[CallbackAttempt], tuple[CallbackAttempt, CallbackAttempt | None] | None]:
    """The core's lapse, by a worker that holds its own claims (``held``)."""
    def lapse(attempt: CallbackAttempt) -> tuple[CallbackAttempt, CallbackAttempt | None] | None:
        if attempt.worker == held:
            return None
        lost = callbacks.lapsed(attempt)
        return lost, callbacks.retry(lost)
    return lapse


def test_a_claim_is_leased_and_counted_in_flight_until_finished(store: Store) -> None:
    funded(store)
    new = task(1, callback=True)
    store.create_task(new, reserve(new))
    store.settle_due(T0 + 100, 1, finish)
    assert store.in_flight() == 0
    [sent] = claim_all(store, T0 + 100, "w1")
    assert sent.lease == T0 + 115 and store.in_flight() == 1
    assert store.next_callback_due() == T0 + 115  # the lease's end is callback work too
    assert store.expire_claims(T0 + 114, lapse_unless("nobody")) == []
    assert store.finish_callback(callbacks.finished(sent, T0 + 101, 3.0, status_code=200), None)
    assert store.in_flight() == 0 and store.next_callback_due() is None
    assert store.expire_claims(T0 + 1000, lapse_unless("nobody")) == []


def test_a_lapsed_claim_is_logged_once_and_retried_and_its_late_result_is_dropped(open_store: Opener) -> None:
    funded(open_store())
    new = task(1, callback=True)
    open_store().create_task(new, reserve(new))
    open_store().settle_due(T0 + 100, 1, finish)
    [sent] = claim_all(open_store(), T0 + 100, "dead-worker")
    assert open_store().expire_claims(T0 + 200, lapse_unless("dead-worker")) == []  # its own: never lapses
    barrier = threading.Barrier(4)

    def expire(_: int) -> list[CallbackAttempt]:
        barrier.wait()
        return open_store().expire_claims(T0 + 200, lapse_unless("live-worker"))

    with ThreadPoolExecutor(max_workers=4) as pool:
        [lost] = [a for batch in pool.map(expire, range(4)) for a in batch]
    assert (lost.number, lost.state, lost.finished_at, lost.worker) == (1, "failed", T0 + 115, "dead-worker")
    assert "lapsed" in lost.error and open_store().in_flight() == 0
    [retry] = open_store().scheduled_callbacks(new.id)
    assert (retry.number, retry.due) == (2, T0 + 116)
    late = callbacks.finished(sent, T0 + 300, 9.0, status_code=200)  # the first worker answers after all
    assert not open_store().finish_callback(late, callbacks.retry(late))
    assert open_store().callbacks(new.id) == [lost]
    [again] = claim_all(open_store(), T0 + 200, "live-worker")
    assert (again.number, again.worker) == (2, "live-worker")
    assert open_store().finish_callback(callbacks.finished(again, T0 + 201, 2.0, status_code=204), None)
    assert [(a.number, a.state) for a in open_store().callbacks(new.id)] == [(1, "failed"), (2, "delivered")]


def test_only_the_claim_itself_can_finish_an_attempt(store: Store) -> None:
    store.schedule_callback(CallbackAttempt("task-1", 1, "https://hooks.example.com/h", T0))
    [sent] = claim_all(store, T0, "w1")
    impostor = callbacks.finished(sent._replace(worker="w2"), T0 + 1, 1.0, status_code=200)
    assert not store.finish_callback(impostor, None)
    assert store.callbacks("task-1") == [sent] and store.in_flight() == 1
    store.reset()
    assert not store.finish_callback(callbacks.finished(sent, T0 + 1, 1.0, status_code=200), None)
    assert store.callbacks() == [] and store.in_flight() == 0


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


def test_a_rules_status_and_when_round_trip_and_older_records_read_with_their_defaults(store: Store) -> None:
    """A 503 rule and a drop-after rule come back as stored; a record written before ``status`` and ``when``
    existed (its fields end at ``draws``) reads back as a 500 and a drop before."""
    store.add_fault(FaultRule("fault-1", "server_error", status=503))
    store.add_fault(FaultRule("fault-2", "drop", when="after"))
    assert [(r.status, r.when) for r in store.faults()] == [(503, "before"), (500, "after")]
    rule = FaultRule("fault-3", "drop", seed=9, fired=2, draws=4)
    older = json.dumps(json.loads(RULE.dump(rule))[:-2])  # without the last two fields
    assert RULE.load(older) == rule


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


# -- opening a store by its URL ---------------------------------------------------------------------------
def test_store_urls_open_their_store(tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    relative = open_url("sqlite:///state.db")  # SQLAlchemy's spelling: three slashes, then the path
    absolute = open_url(f"sqlite:///{tmp_path / 'other.db'}")  # ... an absolute path adds the fourth
    shared = open_url(redis_url)
    try:
        assert [store.kind for store in (open_url("memory"), relative, absolute, shared)] == [
            "memory", "sqlite", "sqlite", "redis"]
        assert (tmp_path / "state.db").is_file() and (tmp_path / "other.db").is_file()
    finally:
        for store in (relative, absolute, shared):
            store.close()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://host/x.db", "postgres://localhost/x",
                                 "redis://127.0.0.1:1/0", "state.db"])
def test_a_store_url_that_cannot_be_used_is_refused_naming_the_setting(url: str) -> None:
    with pytest.raises(ValueError, match="EVOLINK_MOCK_STORE"):
        open_url(url)


def test_a_file_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a database, " * 100)
    with pytest.raises(ValueError, match=r"EVOLINK_MOCK_STORE: cannot use .*notes\.txt"):
        open_url(f"sqlite:///{tmp_path / 'notes.txt'}")


def test_settings_go_to_worker_processes_through_the_environment() -> None:
    settings = Settings(port=0, speed=0.5, seed=-(2**70), admin_token="t", store="redis://h:1/2", workers=3,
                        credits=Decimal("12.5"), allow_local_callbacks=True, max_concurrent=4)
    assert Settings.from_env(settings.to_env()) == settings
    with pytest.raises(ValueError, match=r"EVOLINK_MOCK_WORKERS=2 .*EVOLINK_MOCK_STORE"):
        Settings(workers=2).checked()
