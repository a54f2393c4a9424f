"""The SQLite store (``sqlite:///FILE``): state in one file, kept across restarts, shared by local processes.

The standard library's ``sqlite3`` in WAL mode (readers never wait for the writer). Every
operation is one transaction: a change starts with ``BEGIN IMMEDIATE``, which takes the
file's write lock before reading what the core's transition will change, so two workers
never apply a transition to the same record at once; a transition that raises rolls the
whole operation back. ``synchronous=NORMAL``: a committed operation survives the process
being killed (``kill -9``); a power cut may lose the last commits, never consistency.

Records are stored as :mod:`.codec` bytes, next to the few columns the store looks them
up by (due times, leases, creation order). Each thread uses its own connection.
"""
from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..core.callbacks import CallbackAttempt, holds
from ..core.faults import FaultRule
from ..core.ledger import Account, LedgerEntry
from ..core.tasks import Task
from .codec import ACCOUNT, ATTEMPT, ENTRY, RULE, TASK
from .memory import EVICTION_STEP
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
    first_accepted,
)

SCHEMA_VERSION = 1
BUSY_SECONDS = 30.0  # how long an operation waits for another process's write to end
SCHEMA = """
CREATE TABLE IF NOT EXISTS shared (name TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS accounts (key TEXT PRIMARY KEY, record BLOB NOT NULL, entries INTEGER NOT NULL DEFAULT 0)
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (key TEXT NOT NULL, position INTEGER NOT NULL, record BLOB NOT NULL,
    PRIMARY KEY (key, position)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tasks (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, key TEXT NOT NULL, due REAL,
    callback_due REAL, evict INTEGER NOT NULL, record BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS tasks_by_seq ON tasks (seq);
CREATE INDEX IF NOT EXISTS tasks_by_key ON tasks (key, seq);
CREATE INDEX IF NOT EXISTS tasks_by_due ON tasks (due, seq) WHERE due IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_by_callback_due ON tasks (callback_due) WHERE callback_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_by_evict ON tasks (evict);
CREATE TABLE IF NOT EXISTS attempts (task_id TEXT NOT NULL, number INTEGER NOT NULL, due REAL, lease REAL,
    sent INTEGER, record BLOB NOT NULL, PRIMARY KEY (task_id, number));
CREATE INDEX IF NOT EXISTS attempts_by_due ON attempts (due) WHERE due IS NOT NULL;
CREATE INDEX IF NOT EXISTS attempts_by_lease ON attempts (lease) WHERE lease IS NOT NULL;
CREATE INDEX IF NOT EXISTS attempts_by_sent ON attempts (sent) WHERE sent IS NOT NULL;
CREATE TABLE IF NOT EXISTS faults (position INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, record BLOB NOT NULL);
"""
_SNAPSHOT = ("SELECT (SELECT record FROM accounts WHERE key = ?), (SELECT record FROM tasks WHERE id = ?), "
             "(SELECT value FROM shared WHERE name = 'offset'), EXISTS (SELECT 1 FROM faults)")
_CLOCK_STATE = ("SELECT (SELECT value FROM shared WHERE name = 'offset'), "
                "(SELECT min(due) FROM tasks WHERE due IS NOT NULL)")
_NEXT_CALLBACK = ("SELECT min(t) FROM (SELECT min(due) AS t FROM attempts WHERE due IS NOT NULL "
                  "UNION ALL SELECT min(lease) FROM attempts WHERE lease IS NOT NULL "
                  "UNION ALL SELECT min(callback_due) FROM tasks WHERE callback_due IS NOT NULL)")
_COUNTER = "INSERT INTO shared VALUES (?, 0) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
_TASK_COUNT = "task_count"
_COUNT_TASK = "INSERT INTO shared VALUES ('task_count', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1"


class SqliteStore:
    """State in a SQLite file (``path``), opened or created."""

    kind = "sqlite"
    shared = True

    def __init__(self, path: str | Path, max_attempts: int = 100_000, max_ledger: int = 10_000) -> None:
        self.path = Path(path)
        self._max_attempts = max_attempts
        self._max_ledger = max_ledger
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self.close()
            raise ValueError(f"EVOLINK_MOCK_STORE: cannot use {self.path} as a SQLite store: {exc}") from None

    # -- connections and transactions ----------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=BUSY_SECONDS, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA synchronous = NORMAL")
            self._local.db = db
            with self._lock:
                self._connections.append(db)
        return db

    def _prepare(self) -> None:
        db = self._db()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise sqlite3.DatabaseError(f"its schema is version {version}, this emulator writes {SCHEMA_VERSION}")
        if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            db.execute("PRAGMA journal_mode = WAL")
        if version == 0:  # new (or being created by another process: the tables are created if absent)
            db.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}PRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed if the block returns, rolled back if it raises."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise

    def _value(self, sql: str, *params: Any) -> Any:
        row = self._db().execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -- shared state -------------------------------------------------------------------------
    def _first(self, name: str, proposed: Any) -> Any:
        stored = self._value("SELECT value FROM shared WHERE name = ?", name)
        if stored is None:
            with self._write() as db:
                db.execute("INSERT OR IGNORE INTO shared VALUES (?, ?)", (name, proposed))
                stored = db.execute("SELECT value FROM shared WHERE name = ?", (name,)).fetchone()[0]
        return stored

    def seed(self, proposed: int) -> int:
        return int(self._first("seed", str(proposed)))  # text: a seed may be any int

    def clock_origin(self, proposed: float) -> float:
        return float(self._first("origin", proposed))

    def clock_offset(self) -> float:
        return float(self._value("SELECT value FROM shared WHERE name = 'offset'") or 0.0)

    def advance_clock(self, seconds: float) -> float:
        return float(self._value("INSERT INTO shared VALUES ('offset', ?) ON CONFLICT (name) "
                                 "DO UPDATE SET value = value + excluded.value RETURNING value", float(seconds)))

    def clock_state(self) -> tuple[float, float | None]:
        offset, due = self._db().execute(_CLOCK_STATE).fetchone()
        return offset or 0.0, due

    def next_number(self, counter: str) -> int:
        return int(self._value(_COUNTER, f"next:{counter}"))

    def snapshot(self, key: str, task_id: str | None) -> Snapshot:
        account, task, offset, faults = self._db().execute(_SNAPSHOT, (key, task_id)).fetchone()
        return (None if account is None else ACCOUNT.load(account), None if task is None else TASK.load(task),
                offset or 0.0, bool(faults))

    # -- accounts -----------------------------------------------------------------------------
    def account(self, key: str) -> Account | None:
        record = self._value("SELECT record FROM accounts WHERE key = ?", key)
        return None if record is None else ACCOUNT.load(record)

    def provision(self, account: Account, entry: LedgerEntry) -> Account:
        stored = self.account(account.key)
        if stored is not None:
            return stored
        with self._write() as db:
            if db.execute("INSERT OR IGNORE INTO accounts (key, record) VALUES (?, ?)",
                          (account.key, ACCOUNT.dump(account))).rowcount:
                self._log(db, entry)
                return account
            return ACCOUNT.load(db.execute("SELECT record FROM accounts WHERE key = ?", (account.key,)).fetchone()[0])

    def change_account(self, key: str, change: AccountChange) -> Account:
        with self._write() as db:
            account, entry = change(self._account(db, key))
            self._put_account(db, account)
            if entry is not None:
                self._log(db, entry)
            return account

    def accounts(self) -> list[Account]:
        return [ACCOUNT.load(row[0]) for row in self._db().execute("SELECT record FROM accounts")]

    def ledger(self, key: str) -> list[LedgerEntry]:
        rows = self._db().execute("SELECT record FROM ledger WHERE key = ? ORDER BY position", (key,))
        return [ENTRY.load(row[0]) for row in rows]

    @staticmethod
    def _account(db: sqlite3.Connection, key: str) -> Account | None:
        row = db.execute("SELECT record FROM accounts WHERE key = ?", (key,)).fetchone()
        return None if row is None else ACCOUNT.load(row[0])

    @staticmethod
    def _put_account(db: sqlite3.Connection, account: Account) -> None:
        db.execute("INSERT INTO accounts (key, record) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET record = "
                   "excluded.record", (account.key, ACCOUNT.dump(account)))

    def _log(self, db: sqlite3.Connection, entry: LedgerEntry) -> None:
        """Append to the key's ledger (its account row exists), forgetting the entry that falls off its bound."""
        position = db.execute("UPDATE accounts SET entries = entries + 1 WHERE key = ? RETURNING entries",
                              (entry.key,)).fetchone()[0]
        db.execute("INSERT INTO ledger VALUES (?, ?, ?)", (entry.key, position, ENTRY.dump(entry)))
        if position > self._max_ledger:
            db.execute("DELETE FROM ledger WHERE key = ? AND position = ?", (entry.key, position - self._max_ledger))

    # -- tasks --------------------------------------------------------------------------------
    def create_task(self, task: Task, reserve: Reserve) -> Account:
        with self._write() as db:
            account = self._account(db, task.key)
            if account is None:
                raise NoSuchAccount(task.key)
            account, entry = reserve(account)
            ends = task.ends
            try:
                db.execute("INSERT INTO tasks VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (task.id, task.seq, task.key, ends, ends if task.callback_url is not None else None,
                            task.seq, TASK.dump(task)))
            except sqlite3.IntegrityError:
                raise Conflict(f"task {task.id} exists") from None
            self._put_account(db, account)
            self._log(db, entry)
            db.execute(_COUNT_TASK)
            return account

    def task(self, task_id: str) -> Task | None:
        record = self._value("SELECT record FROM tasks WHERE id = ?", task_id)
        return None if record is None else TASK.load(record)

    def tasks(self, key: str | None = None) -> list[Task]:
        if key is None:
            rows = self._db().execute("SELECT record FROM tasks ORDER BY seq")
        else:
            rows = self._db().execute("SELECT record FROM tasks WHERE key = ? ORDER BY seq", (key,))
        return [TASK.load(row[0]) for row in rows]

    def recent_tasks(self, limit: int, scan: int, accept: Callable[[Task], bool] | None = None) -> list[Task]:
        rows = self._db().execute("SELECT record FROM tasks ORDER BY seq DESC LIMIT ?",
                                  (scan if accept is not None else min(limit, scan),))
        return first_accepted((TASK.load(row[0]) for row in rows), limit, accept)

    def task_count(self) -> int:
        return int(self._value("SELECT value FROM shared WHERE name = ?", _TASK_COUNT) or 0)

    def settle_due(self, now: float, limit: int, finish: Finish) -> list[Task]:
        if self._value("SELECT 1 FROM tasks WHERE due <= ? LIMIT 1", now) is None:
            return []
        with self._write() as db:
            rows = db.execute("SELECT record FROM tasks WHERE due <= ? ORDER BY due, seq LIMIT ?",
                              (now, limit)).fetchall()
            return [self._finish(db, TASK.load(row[0]), finish) for row in rows]

    def due_count(self) -> int:
        return int(self._value("SELECT count(*) FROM tasks WHERE due IS NOT NULL"))

    def next_due(self) -> float | None:
        due: float | None = self._value("SELECT min(due) FROM tasks WHERE due IS NOT NULL")
        return due

    def cancel_task(self, task_id: str, finish: Finish) -> Task:
        with self._write() as db:
            row = db.execute("SELECT record FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                raise NoSuchTask(task_id)
            return self._finish(db, TASK.load(row[0]), finish)

    def _finish(self, db: sqlite3.Connection, task: Task, finish: Finish) -> Task:
        account = self._account(db, task.key)
        if account is None:  # a task's account outlives it (a reset forgets both)
            raise NoSuchAccount(task.key)
        done, account, entry, callback = finish(task, account)
        db.execute("UPDATE tasks SET due = NULL, callback_due = NULL, record = ? WHERE id = ?",
                   (TASK.dump(done), task.id))
        self._put_account(db, account)
        self._log(db, entry)
        if callback is not None:
            self._schedule(db, callback)
        return done

    def evict(self, max_tasks: int, forgettable: Forgettable) -> int:
        if self.task_count() <= max_tasks:
            return 0
        forgotten = 0
        with self._write() as db:
            count = int(db.execute("SELECT value FROM shared WHERE name = ?", (_TASK_COUNT,)).fetchone()[0])
            rows = db.execute("SELECT id, record FROM tasks ORDER BY evict LIMIT ?", (EVICTION_STEP,)).fetchall()
            for task_id, record in rows:
                if count - forgotten <= max_tasks:
                    break
                if not forgettable(TASK.load(record)):  # look again later
                    db.execute("UPDATE tasks SET evict = (SELECT max(evict) + 1 FROM tasks) WHERE id = ?", (task_id,))
                    continue
                db.execute("DELETE FROM tasks WHERE id = ?", (task_id,))
                db.execute("DELETE FROM attempts WHERE task_id = ?", (task_id,))
                forgotten += 1
            db.execute("UPDATE shared SET value = value - ? WHERE name = ?", (forgotten, _TASK_COUNT))
        return forgotten

    # -- callbacks ----------------------------------------------------------------------------
    def schedule_callback(self, attempt: CallbackAttempt) -> None:
        try:
            self._db().execute("INSERT INTO attempts (task_id, number, due, record) VALUES (?, ?, ?, ?)",
                               (attempt.task_id, attempt.number, attempt.due, ATTEMPT.dump(attempt)))
        except sqlite3.IntegrityError:
            raise Conflict(f"callback attempt {attempt.number} of {attempt.task_id} exists") from None

    @staticmethod
    def _schedule(db: sqlite3.Connection, attempt: CallbackAttempt) -> None:
        db.execute("INSERT OR IGNORE INTO attempts (task_id, number, due, record) VALUES (?, ?, ?, ?)",
                   (attempt.task_id, attempt.number, attempt.due, ATTEMPT.dump(attempt)))

    def claim_callbacks(self, now: float, claim: Callable[[CallbackAttempt], CallbackAttempt]
                        ) -> list[CallbackAttempt]:
        if self._value("SELECT 1 FROM attempts WHERE due <= ? LIMIT 1", now) is None:
            return []
        claimed = []
        with self._write() as db:
            for (record,) in db.execute("SELECT record FROM attempts WHERE due <= ? ORDER BY due, rowid",
                                        (now,)).fetchall():
                attempt = claim(ATTEMPT.load(record))
                sent = db.execute(_COUNTER, ("next:sent",)).fetchone()[0]
                db.execute("UPDATE attempts SET due = NULL, lease = ?, sent = ?, record = ? WHERE task_id = ? "
                           "AND number = ?", (attempt.lease, sent, ATTEMPT.dump(attempt), attempt.task_id,
                                              attempt.number))
                if sent >= self._max_attempts:  # the log keeps the last max_attempts attempts
                    db.execute("DELETE FROM attempts WHERE sent <= ?", (sent - self._max_attempts,))
                claimed.append(attempt)
        return claimed

    def finish_callback(self, attempt: CallbackAttempt, retry: CallbackAttempt | None) -> bool:
        with self._write() as db:
            row = db.execute("SELECT record FROM attempts WHERE task_id = ? AND number = ?",
                             (attempt.task_id, attempt.number)).fetchone()
            if row is None or not holds(ATTEMPT.load(row[0]), attempt):
                return False
            self._settle_attempt(db, attempt, retry)
            return True

    @classmethod
    def _settle_attempt(cls, db: sqlite3.Connection, attempt: CallbackAttempt, retry: CallbackAttempt | None) -> None:
        db.execute("UPDATE attempts SET lease = NULL, record = ? WHERE task_id = ? AND number = ?",
                   (ATTEMPT.dump(attempt), attempt.task_id, attempt.number))
        if retry is not None and db.execute("SELECT 1 FROM tasks WHERE id = ?", (retry.task_id,)).fetchone():
            cls._schedule(db, retry)

    def expire_claims(self, now: float, lapse: Lapse) -> list[CallbackAttempt]:
        if self._value("SELECT 1 FROM attempts WHERE lease <= ? LIMIT 1", now) is None:
            return []
        lapsed = []
        with self._write() as db:
            for (record,) in db.execute("SELECT record FROM attempts WHERE lease <= ? ORDER BY lease",
                                        (now,)).fetchall():
                outcome = lapse(ATTEMPT.load(record))
                if outcome is not None:
                    self._settle_attempt(db, *outcome)
                    lapsed.append(outcome[0])
        return lapsed

    def in_flight(self) -> int:
        return int(self._value("SELECT count(*) FROM attempts WHERE lease IS NOT NULL"))

    def callbacks(self, task_id: str | None = None) -> list[CallbackAttempt]:
        if task_id is None:
            rows = self._db().execute("SELECT record FROM attempts WHERE sent IS NOT NULL ORDER BY sent")
        else:
            rows = self._db().execute("SELECT record FROM attempts WHERE task_id = ? AND sent IS NOT NULL "
                                      "ORDER BY number", (task_id,))
        return [ATTEMPT.load(row[0]) for row in rows]

    def scheduled_callbacks(self, task_id: str) -> list[CallbackAttempt]:
        rows = self._db().execute("SELECT record FROM attempts WHERE task_id = ? AND due IS NOT NULL ORDER BY number",
                                  (task_id,))
        return [ATTEMPT.load(row[0]) for row in rows]

    def next_callback_due(self) -> float | None:
        due: float | None = self._value(_NEXT_CALLBACK)
        return due

    # -- fault rules --------------------------------------------------------------------------
    def add_fault(self, rule: FaultRule) -> None:
        self._db().execute("INSERT INTO faults (id, record) VALUES (?, ?)", (rule.id, RULE.dump(rule)))

    def faults(self) -> list[FaultRule]:
        return [RULE.load(row[0]) for row in self._db().execute("SELECT record FROM faults ORDER BY position")]

    def has_faults(self) -> bool:
        return bool(self._value("SELECT EXISTS (SELECT 1 FROM faults)"))

    def change_fault(self, rule_id: str, change: RuleChange) -> tuple[FaultRule, FaultRule] | None:
        with self._write() as db:
            row = db.execute("SELECT record FROM faults WHERE id = ?", (rule_id,)).fetchone()
            if row is None:
                return None
            before = RULE.load(row[0])
            after = change(before)
            db.execute("UPDATE faults SET record = ? WHERE id = ?", (RULE.dump(after), rule_id))
            return before, after

    def remove_fault(self, rule_id: str) -> FaultRule | None:
        record = self._value("DELETE FROM faults WHERE id = ? RETURNING record", rule_id)
        return None if record is None else RULE.load(record)

    def clear_faults(self) -> None:
        self._db().execute("DELETE FROM faults")

    # -- everything -----------------------------------------------------------------------------
    def reset(self) -> None:
        with self._write() as db:
            for table in ("accounts", "ledger", "tasks", "attempts", "faults"):
                db.execute(f"DELETE FROM {table}")
            db.execute("DELETE FROM shared WHERE name = ?", (_TASK_COUNT,))

    def close(self) -> None:
        """Close every connection this handle opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
