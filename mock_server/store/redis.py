"""The Redis store (``redis://HOST:PORT/DB``): state in a Redis server, shared by workers on any machines.

redis-py against a real ``redis-server`` (with hiredis parsing replies). Every key starts
with ``evolink-mock:``, so the database may hold other things. Records are :mod:`.codec`
bytes in string keys; sorted sets index them by time and order.

Changes are atomic on the server, never a read-modify-write from here: the core's
transitions are Python callables, so a change reads the records it depends on, applies
the transition, and sends one Lua script (:data:`COMPARE_AND_SET`) that writes everything
only if those records still hold the bytes that were read (optimistic locking, as WATCH
and MULTI/EXEC do, in one round trip). When another worker got there first nothing is
written and the change starts again from a fresh read; a transition that raises writes
nothing. Counters are ``INCR``; ``reset`` is one script.

Each thread uses its own connection (redis-py's ``Connection``, without the client's
per-command pool and hooks: a request's read is one round trip and little else). What a poll
reads (the caller's account, the task, the clock offset, whether fault rules exist) stays in
the worker until the server says it changed (:mod:`.tracking`): polling a task that does not
change costs no round trip.
"""
from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, cast

import redis
from redis.connection import AbstractConnection, ConnectionInterface, ConnectionPool

from ..core.callbacks import CallbackAttempt, holds
from ..core.faults import FaultRule
from ..core.ledger import Account, LedgerEntry
from ..core.tasks import Task
from .codec import ACCOUNT, ATTEMPT, ENTRY, TASK, Codec, dump_rules, load_rules
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
from .tracking import TrackedReads

PREFIX = "evolink-mock:"
Command = tuple[Any, ...]

#: KEYS: the keys a change read; ARGV: the bytes each held ('' for none, a record is never empty), then the
#: writes, each as its word count and its words. Returns 0 once written, else the position of a changed key.
COMPARE_AND_SET = """
for i = 1, #KEYS do
  if (redis.call('GET', KEYS[i]) or '') ~= ARGV[i] then return i end
end
local at = #KEYS + 1
while at <= #ARGV do
  local n = tonumber(ARGV[at])
  redis.call(unpack(ARGV, at + 1, at + n))
  at = at + n + 1
end
return 0
"""
#: Forget every record under the prefix ARGV[1]; the seed, the clock and the counters stay.
RESET = """
local cursor = '0'
repeat
  local found = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)
  cursor = found[1]
  for _, key in ipairs(found[2]) do
    local name = string.sub(key, #ARGV[1] + 1)
    if name ~= 'seed' and name ~= 'origin' and name ~= 'offset' and string.sub(name, 1, 5) ~= 'next:' then
      redis.call('DEL', key)
    end
  end
until cursor == '0'
return 0
"""
#: Keep the newest ARGV[1] attempts of the log KEYS[1] (prefix ARGV[2]); forget the older ones' records.
TRIM_LOG = """
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if extra <= 0 then return 0 end
local gone = redis.call('ZPOPMIN', KEYS[1], extra)
for i = 1, #gone, 2 do
  local ident = gone[i]
  local space = string.find(ident, ' ', 1, true)
  local task, number = string.sub(ident, 1, space - 1), string.sub(ident, space + 1)
  redis.call('DEL', ARGV[2] .. 'attempt:' .. task .. ':' .. number)
  redis.call('SREM', ARGV[2] .. 'attempts:' .. task, number)
  redis.call('ZREM', ARGV[2] .. 'leases', ident)
end
return extra
"""

SEED, ORIGIN, OFFSET, FAULTS = (PREFIX + name for name in ("seed", "origin", "offset", "faults"))
ACCOUNTS, TASKS, EVICT, DUE, CALLBACK_DUE = (PREFIX + name for name in (
    "accounts", "tasks", "evict", "due", "callback-due"))
SCHEDULED, LEASES, SENT = (PREFIX + name for name in ("scheduled", "leases", "sent"))


def _account_key(key: str) -> str:
    return f"{PREFIX}account:{key}"


def _ledger_key(key: str) -> str:
    return f"{PREFIX}ledger:{key}"


def _task_key(task_id: str) -> str:
    return f"{PREFIX}task:{task_id}"


def _attempt_key(task_id: str, number: int) -> str:
    return f"{PREFIX}attempt:{task_id}:{number}"


def _numbers_key(task_id: str) -> str:
    return f"{PREFIX}attempts:{task_id}"


def _ident(attempt: CallbackAttempt) -> str:
    return f"{attempt.task_id} {attempt.number}"


class _Script:
    """A Lua script run by its SHA1 (loaded into the server on first use, and again after a restart)."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()


_CAS, _RESET, _TRIM = _Script(COMPARE_AND_SET), _Script(RESET), _Script(TRIM_LOG)


_KEPT_KINDS = (f"{PREFIX}account:", f"{PREFIX}task:")


def _kept(key: str) -> bool:
    """Whether polls keep what ``key`` holds (:meth:`RedisStore.snapshot`): a change to it is fenced."""
    return key.startswith(_KEPT_KINDS) or key in (OFFSET, FAULTS)


def _record(codec: Codec[Any]) -> Callable[[bytes | None], Any]:
    return lambda raw: None if raw is None else codec.load(raw)


def _offset(raw: bytes | None) -> float:
    return 0.0 if raw is None else float(raw)


def _exists(raw: bytes | None) -> bool:
    return raw is not None


#: How a snapshot parses what its keys hold: account, task, clock offset, whether fault rules exist.
_SNAPSHOT = (_record(ACCOUNT), _record(TASK), _offset, _exists)
_SNAPSHOT_ACCOUNT = (_SNAPSHOT[0], *_SNAPSHOT[2:])


class RedisStore:
    """State in the Redis database ``url`` names."""

    kind = "redis"
    shared = True

    def __init__(self, url: str, max_attempts: int = 100_000, max_ledger: int = 10_000) -> None:
        self._pool = ConnectionPool.from_url(url, protocol=3)  # RESP3: scores come back as numbers
        self._max_attempts = max_attempts
        self._max_ledger = max_ledger
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[ConnectionInterface] = []
        self._seen: dict[str, bytes] = {}  # account bytes last read per key: a create's first guess (checked)
        try:
            self._call("PING")
        except redis.RedisError as exc:
            self.close()
            options = self._pool.connection_kwargs  # not the URL: it may carry a password
            where = options.get("path") or f"{options.get('host', 'localhost')}:{options.get('port', 6379)}"
            raise ValueError(f"EVOLINK_MOCK_STORE: cannot use the Redis server at {where}: {exc}") from None

    # -- the wire -----------------------------------------------------------------------------
    def _connection(self) -> ConnectionInterface:
        connection: ConnectionInterface | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._pool.make_connection()
            self._local.connection = connection
            self._local.tracked = TrackedReads(cast(AbstractConnection, connection))  # what the pool makes
            with self._lock:
                self._connections.append(connection)
        return connection

    def _tracked(self) -> TrackedReads:
        self._connection()
        tracked: TrackedReads = self._local.tracked
        return tracked

    def _call(self, *command: Any) -> Any:
        connection = self._connection()
        connection.send_command(*command)  # type: ignore[no-untyped-call]
        return connection.read_response()

    def _calls(self, commands: Sequence[Command]) -> list[Any]:
        """Several commands in one round trip (not atomic: each is)."""
        connection = self._connection()
        connection.send_packed_command(connection.pack_commands(commands))  # type: ignore[no-untyped-call]
        replies, error = [], None
        for _ in commands:
            try:
                replies.append(connection.read_response())
            except redis.ResponseError as exc:  # read every reply before raising: the connection stays usable
                replies.append(None)
                error = error or exc
        if error is not None:
            raise error
        return replies

    def _run(self, script: _Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
        try:
            return self._call("EVALSHA", script.sha, len(keys), *keys, *args)
        except redis.exceptions.NoScriptError:
            self._call("SCRIPT", "LOAD", script.source)
            return self._call("EVALSHA", script.sha, len(keys), *keys, *args)

    def _compare_and_set(self, read: dict[str, bytes | None], writes: Iterable[Command]) -> int:
        """Apply ``writes`` if every key of ``read`` holds what was read: 0, else the (1-based) changed key."""
        args: list[Any] = [value or b"" for value in read.values()]
        for command in writes:
            args.append(len(command))
            args.extend(command)
        changed: int = self._run(_CAS, list(read), args)
        if not changed and any(map(_kept, read)):
            self._fence()
        return changed

    def _fence(self) -> None:
        """Return once Redis has sent every invalidation this connection's last change caused.

        The server writes a change's invalidation pushes to the other connections in the same pass
        over its clients as the change's reply, and reads this PING only in a later pass: once it
        answers, the pushes are on their way to every worker, ahead of anything the caller's answer
        can lead to, and the poll that follows (on any worker) reads them first (:mod:`.tracking`).
        One round trip per change of a kept record.
        """
        self._call("PING")

    def _values(self, keys: Sequence[str]) -> list[bytes | None]:
        values: list[bytes | None] = []
        for start in range(0, len(keys), 1000):
            values.extend(self._call("MGET", *keys[start:start + 1000]))
        return values

    # -- shared state -------------------------------------------------------------------------
    def seed(self, proposed: int) -> int:
        stored = self._call("SET", SEED, str(proposed), "NX", "GET")
        return proposed if stored is None else int(stored)

    def clock_origin(self, proposed: float) -> float:
        stored = self._call("SET", ORIGIN, repr(float(proposed)), "NX", "GET")
        return float(proposed) if stored is None else float(stored)

    def clock_offset(self) -> float:
        offset = self._call("GET", OFFSET)
        return 0.0 if offset is None else float(offset)

    def advance_clock(self, seconds: float) -> float:
        while True:
            raw = self._call("GET", OFFSET)
            offset = (0.0 if raw is None else float(raw)) + seconds
            if not self._compare_and_set({OFFSET: raw}, [("SET", OFFSET, repr(offset))]):
                return offset

    def clock_state(self) -> tuple[float, float | None]:
        offset, first = self._calls([("GET", OFFSET), ("ZRANGE", DUE, 0, 0, "WITHSCORES")])
        return 0.0 if offset is None else float(offset), float(first[0][1]) if first else None

    def next_number(self, counter: str) -> int:
        return int(self._call("INCR", f"{PREFIX}next:{counter}")) - 1

    def snapshot(self, key: str, task_id: str | None) -> Snapshot:
        tracked = self._tracked()
        if task_id is None:
            account, offset, faults = tracked.values((_account_key(key), OFFSET, FAULTS), _SNAPSHOT_ACCOUNT)
            return account, None, offset, faults
        keys = (_account_key(key), _task_key(task_id), OFFSET, FAULTS)
        account, task, offset, faults = tracked.values(keys, _SNAPSHOT)
        return account, task, offset, faults

    def _remember(self, key: str, raw: bytes) -> None:
        seen = self._seen
        if len(seen) >= 4096 and key not in seen:
            seen.clear()
        seen[key] = raw

    # -- accounts -----------------------------------------------------------------------------
    def account(self, key: str) -> Account | None:
        raw = self._call("GET", _account_key(key))
        if raw is None:
            return None
        self._remember(key, raw)
        return ACCOUNT.load(raw)

    def provision(self, account: Account, entry: LedgerEntry) -> Account:
        writes = [("SET", _account_key(account.key), ACCOUNT.dump(account)), ("SADD", ACCOUNTS, account.key),
                  *self._log(entry)]
        if not self._compare_and_set({_account_key(account.key): None}, writes):
            return account
        stored = self.account(account.key)
        return stored if stored is not None else self.provision(account, entry)  # reset meanwhile: again

    def change_account(self, key: str, change: AccountChange) -> Account:
        account_key = _account_key(key)
        while True:
            raw = self._call("GET", account_key)
            account, entry = change(None if raw is None else ACCOUNT.load(raw))
            writes = [("SET", account_key, ACCOUNT.dump(account)), ("SADD", ACCOUNTS, key)]
            if entry is not None:
                writes += self._log(entry)
            if not self._compare_and_set({account_key: raw}, writes):
                return account

    def accounts(self) -> list[Account]:
        keys = sorted(key.decode() for key in self._call("SMEMBERS", ACCOUNTS))
        return [ACCOUNT.load(raw) for raw in self._values([_account_key(key) for key in keys]) if raw is not None]

    def ledger(self, key: str) -> list[LedgerEntry]:
        return [ENTRY.load(raw) for raw in self._call("LRANGE", _ledger_key(key), 0, -1)]

    def _log(self, entry: LedgerEntry) -> list[Command]:
        ledger = _ledger_key(entry.key)
        return [("RPUSH", ledger, ENTRY.dump(entry)), ("LTRIM", ledger, -self._max_ledger, -1)]

    # -- tasks --------------------------------------------------------------------------------
    def create_task(self, task: Task, reserve: Reserve) -> Account:
        account_key, task_key = _account_key(task.key), _task_key(task.id)
        raw = self._seen.get(task.key)
        checked = raw is None  # a remembered value is a guess until the write confirms it
        if checked:
            raw = self._call("GET", account_key)
        while True:
            try:
                if raw is None:
                    raise NoSuchAccount(task.key)
                account, entry = reserve(ACCOUNT.load(raw))
            except Exception:
                if checked:
                    raise
                raw, checked = self._call("GET", account_key), True  # refused on a guess: ask again
                continue
            ends, stored = task.ends, ACCOUNT.dump(account)
            writes: list[Command] = [("SET", account_key, stored), ("SET", task_key, TASK.dump(task)),
                                     ("ZADD", TASKS, task.seq, task.id), ("RPUSH", EVICT, task.id), *self._log(entry)]
            if ends is not None:
                writes.append(("ZADD", DUE, repr(ends), task.id))
                if task.callback_url is not None:
                    writes.append(("ZADD", CALLBACK_DUE, repr(ends), task.id))
            changed = self._compare_and_set({account_key: raw, task_key: None}, writes)
            if changed == 0:
                self._remember(task.key, stored)
                return account
            if changed == 2:
                raise Conflict(f"task {task.id} exists")
            raw, checked = self._call("GET", account_key), True

    def task(self, task_id: str) -> Task | None:
        raw = self._call("GET", _task_key(task_id))
        return None if raw is None else TASK.load(raw)

    def tasks(self, key: str | None = None) -> list[Task]:
        ids = [task_id.decode() for task_id in self._call("ZRANGE", TASKS, 0, -1)]
        tasks = [TASK.load(raw) for raw in self._values([_task_key(task_id) for task_id in ids]) if raw is not None]
        return tasks if key is None else [task for task in tasks if task.key == key]

    def recent_tasks(self, limit: int, scan: int, accept: Callable[[Task], bool] | None = None) -> list[Task]:
        return first_accepted(self._newest(min(scan, limit) if accept is None else scan), limit, accept)

    def _newest(self, count: int, chunk: int = 256) -> Iterator[Task]:
        """The newest ``count`` tasks, newest first, read a chunk at a time."""
        for start in range(0, count, chunk):
            ids = self._call("ZRANGE", TASKS, start, min(count, start + chunk) - 1, "REV")
            if not ids:
                return
            for raw in self._values([_task_key(task_id.decode()) for task_id in ids]):
                if raw is not None:
                    yield TASK.load(raw)

    def task_count(self) -> int:
        return int(self._call("ZCARD", TASKS))

    def settle_due(self, now: float, limit: int, finish: Finish) -> list[Task]:
        settled: list[Task] = []
        while len(settled) < limit:  # tasks another worker settles leave the index: look again past them
            due = self._call("ZRANGE", DUE, "-inf", repr(now), "BYSCORE", "LIMIT", 0, limit - len(settled))
            if not due:
                break
            for task_id in due:
                done = self._finish(task_id.decode(), finish, unsettled_only=True)
                if done is not None:
                    settled.append(done)
        return settled

    def due_count(self) -> int:
        return int(self._call("ZCARD", DUE))

    def next_due(self) -> float | None:
        first = self._call("ZRANGE", DUE, 0, 0, "WITHSCORES")
        return float(first[0][1]) if first else None

    def cancel_task(self, task_id: str, finish: Finish) -> Task:
        done = self._finish(task_id, finish, unsettled_only=False)
        if done is None:
            raise NoSuchTask(task_id)
        return done

    def _finish(self, task_id: str, finish: Finish, *, unsettled_only: bool) -> Task | None:
        """Apply ``finish`` to a task and its account; None if the task is gone (or, if asked, settled)."""
        task_key = _task_key(task_id)
        while True:
            raw_task = self._call("GET", task_key)
            task = None if raw_task is None else TASK.load(raw_task)
            if task is None or (unsettled_only and task.settled is not None):
                self._calls([("ZREM", DUE, task_id), ("ZREM", CALLBACK_DUE, task_id)])  # an index entry left over
                return None
            account_key = _account_key(task.key)
            raw_account = self._call("GET", account_key)
            if raw_account is None:  # a task's account outlives it (a reset forgets both)
                raise NoSuchAccount(task.key)
            done, account, entry, callback = finish(task, ACCOUNT.load(raw_account))
            writes: list[Command] = [("SET", task_key, TASK.dump(done)),
                                     ("SET", account_key, ACCOUNT.dump(account)), ("ZREM", DUE, task_id),
                                     ("ZREM", CALLBACK_DUE, task_id), *self._log(entry)]
            if callback is not None:
                writes += self._schedule(callback)
            if not self._compare_and_set({task_key: raw_task, account_key: raw_account}, writes):
                return done

    def evict(self, max_tasks: int, forgettable: Forgettable) -> int:
        count = self.task_count()
        forgotten = 0
        for _ in range(EVICTION_STEP):
            if count - forgotten <= max_tasks:
                break
            oldest = self._call("LMOVE", EVICT, EVICT, "LEFT", "RIGHT")  # looked at: to the back of the line
            if oldest is None:
                break
            task_id = oldest.decode()
            task_key = _task_key(task_id)
            raw = self._call("GET", task_key)
            if raw is None:
                self._call("LREM", EVICT, -1, task_id)
            elif forgettable(TASK.load(raw)):
                numbers = [int(n) for n in self._call("SMEMBERS", _numbers_key(task_id))]
                writes: list[Command] = [("DEL", task_key), ("ZREM", TASKS, task_id), ("LREM", EVICT, -1, task_id),
                                         ("ZREM", DUE, task_id), ("ZREM", CALLBACK_DUE, task_id),
                                         ("DEL", _numbers_key(task_id))]
                for number in numbers:
                    ident = f"{task_id} {number}"
                    writes += [("DEL", _attempt_key(task_id, number)), ("ZREM", SCHEDULED, ident),
                               ("ZREM", LEASES, ident), ("ZREM", SENT, ident)]
                if not self._compare_and_set({task_key: raw}, writes):
                    forgotten += 1
        return forgotten

    # -- callbacks ----------------------------------------------------------------------------
    @staticmethod
    def _schedule(attempt: CallbackAttempt) -> list[Command]:
        return [("SET", _attempt_key(attempt.task_id, attempt.number), ATTEMPT.dump(attempt)),
                ("SADD", _numbers_key(attempt.task_id), attempt.number),
                ("ZADD", SCHEDULED, repr(attempt.due), _ident(attempt))]

    def schedule_callback(self, attempt: CallbackAttempt) -> None:
        if self._compare_and_set({_attempt_key(attempt.task_id, attempt.number): None}, self._schedule(attempt)):
            raise Conflict(f"callback attempt {attempt.number} of {attempt.task_id} exists")

    def claim_callbacks(self, now: float, claim: Callable[[CallbackAttempt], CallbackAttempt]
                        ) -> list[CallbackAttempt]:
        idents = [ident.decode() for ident in self._call("ZRANGE", SCHEDULED, "-inf", repr(now), "BYSCORE")]
        if not idents:
            return []
        keys = [_attempt_key(*self._parse(ident)) for ident in idents]
        last = int(self._call("INCRBY", f"{PREFIX}next:sent", len(idents)))  # log positions for this batch
        claimed = []
        for position, ident, key, raw in zip(range(last - len(idents), last), idents, keys, self._values(keys)):
            attempt = None if raw is None else ATTEMPT.load(raw)
            if attempt is None or attempt.at is not None:  # forgotten, or claimed meanwhile
                self._call("ZREM", SCHEDULED, ident)
                continue
            attempt = claim(attempt)
            writes: list[Command] = [("SET", key, ATTEMPT.dump(attempt)), ("ZREM", SCHEDULED, ident),
                                     ("ZADD", SENT, position, ident)]
            if attempt.lease is not None:
                writes.append(("ZADD", LEASES, repr(attempt.lease), ident))
            if not self._compare_and_set({key: raw}, writes):
                claimed.append(attempt)
        if last > self._max_attempts:
            self._run(_TRIM, [SENT], [self._max_attempts, PREFIX])
        return claimed

    @staticmethod
    def _parse(ident: str) -> tuple[str, int]:
        task_id, number = ident.rsplit(" ", 1)
        return task_id, int(number)

    def finish_callback(self, attempt: CallbackAttempt, retry: CallbackAttempt | None) -> bool:
        key = _attempt_key(attempt.task_id, attempt.number)
        while True:
            raw = self._call("GET", key)
            if raw is None or not holds(ATTEMPT.load(raw), attempt):
                return False
            if self._settle_attempt(key, raw, attempt, retry):
                return True

    def _settle_attempt(self, key: str, raw: bytes, attempt: CallbackAttempt, retry: CallbackAttempt | None) -> bool:
        """Store a finished attempt in place of ``raw`` and schedule its retry; False if ``raw`` changed meanwhile."""
        read: dict[str, bytes | None] = {key: raw}
        writes: list[Command] = [("SET", key, ATTEMPT.dump(attempt)), ("ZREM", LEASES, _ident(attempt))]
        if retry is not None:
            task_key, retry_key = _task_key(retry.task_id), _attempt_key(retry.task_id, retry.number)
            raw_task, raw_retry = self._call("MGET", task_key, retry_key)
            if raw_task is not None and raw_retry is None:  # the task still exists, the retry does not yet
                read.update({task_key: raw_task, retry_key: None})
                writes += self._schedule(retry)
        return not self._compare_and_set(read, writes)

    def expire_claims(self, now: float, lapse: Lapse) -> list[CallbackAttempt]:
        idents = [ident.decode() for ident in self._call("ZRANGE", LEASES, "-inf", repr(now), "BYSCORE")]
        lapsed = []
        for ident in idents:
            key = _attempt_key(*self._parse(ident))
            while True:
                raw = self._call("GET", key)
                attempt = None if raw is None else ATTEMPT.load(raw)
                if attempt is None or attempt.finished_at is not None:  # finished meanwhile: an index entry left
                    self._call("ZREM", LEASES, ident)
                    break
                outcome = lapse(attempt) if attempt.lease is not None and attempt.lease <= now else None
                if outcome is None:
                    break
                assert raw is not None
                if self._settle_attempt(key, raw, *outcome):
                    lapsed.append(outcome[0])
                    break
        return lapsed

    def in_flight(self) -> int:
        return int(self._call("ZCARD", LEASES))

    def _attempts(self, task_id: str) -> list[CallbackAttempt]:
        numbers = sorted(int(n) for n in self._call("SMEMBERS", _numbers_key(task_id)))
        raws = self._values([_attempt_key(task_id, number) for number in numbers])
        return [ATTEMPT.load(raw) for raw in raws if raw is not None]

    def callbacks(self, task_id: str | None = None) -> list[CallbackAttempt]:
        if task_id is not None:
            return [attempt for attempt in self._attempts(task_id) if attempt.at is not None]
        idents = [ident.decode() for ident in self._call("ZRANGE", SENT, 0, -1)]
        raws = self._values([_attempt_key(*self._parse(ident)) for ident in idents])
        return [attempt for raw in raws if raw is not None and (attempt := ATTEMPT.load(raw)).at is not None]

    def scheduled_callbacks(self, task_id: str) -> list[CallbackAttempt]:
        return [attempt for attempt in self._attempts(task_id) if attempt.at is None]

    def next_callback_due(self) -> float | None:
        firsts = self._calls([("ZRANGE", index, 0, 0, "WITHSCORES") for index in (SCHEDULED, LEASES, CALLBACK_DUE)])
        times = [float(first[0][1]) for first in firsts if first]
        return min(times) if times else None

    # -- fault rules --------------------------------------------------------------------------
    def _change_rules(self, change: Callable[[list[FaultRule]], list[FaultRule] | None]) -> None:
        """Apply ``change`` to the list of rules (None: leave it); empty, the key goes (the hot path asks for it)."""
        while True:
            raw = self._call("GET", FAULTS)
            rules = change([] if raw is None else load_rules(raw))
            if rules is None:
                return
            writes: list[Command] = [("SET", FAULTS, dump_rules(rules))] if rules else [("DEL", FAULTS)]
            if not self._compare_and_set({FAULTS: raw}, writes):
                return

    def add_fault(self, rule: FaultRule) -> None:
        self._change_rules(lambda rules: [*rules, rule])

    def faults(self) -> list[FaultRule]:
        raw = self._call("GET", FAULTS)
        return [] if raw is None else load_rules(raw)

    def has_faults(self) -> bool:
        return bool(self._call("EXISTS", FAULTS))

    def change_fault(self, rule_id: str, change: RuleChange) -> tuple[FaultRule, FaultRule] | None:
        changed: list[tuple[FaultRule, FaultRule] | None] = [None]

        def apply(rules: list[FaultRule]) -> list[FaultRule] | None:
            changed[0] = None
            for index, before in enumerate(rules):
                if before.id == rule_id:
                    after = change(before)
                    changed[0] = before, after
                    return [*rules[:index], after, *rules[index + 1:]]
            return None

        self._change_rules(apply)
        return changed[0]

    def remove_fault(self, rule_id: str) -> FaultRule | None:
        removed: list[FaultRule | None] = [None]

        def apply(rules: list[FaultRule]) -> list[FaultRule] | None:
            removed[0] = next((rule for rule in rules if rule.id == rule_id), None)
            return None if removed[0] is None else [rule for rule in rules if rule.id != rule_id]

        self._change_rules(apply)
        return removed[0]

    def clear_faults(self) -> None:
        self._call("DEL", FAULTS)
        self._fence()

    # -- everything -----------------------------------------------------------------------------
    def reset(self) -> None:
        self._run(_RESET, [], [PREFIX])
        self._fence()
        self._seen.clear()

    def close(self) -> None:
        """Close every connection this handle opened."""
        with self._lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.disconnect()  # type: ignore[no-untyped-call]
        self._pool.disconnect()
