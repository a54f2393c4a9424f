"""The emulator core's one entry point: plain, synchronous, deterministic Python.

The public routes, the admin routes, the pytest handle and the drift oracle
all call :class:`Emulator`; nothing else touches the store. It takes data and
a clock reading and returns immutable records; the decisions (validation,
prices, ledger moves, fault firings, scenarios, what to forget) are made
here and in the pure modules it calls, and each change is one atomic store
operation. Time-driven side effects (charging or refunding a finished task)
are applied from the store's due index whenever the clock is read through
:meth:`Emulator.now`, and by the background worker.

API reference: https://docs.evolink.ai/en/api-manual/video-series/kling/kling-o3-text-to-video
"""
from __future__ import annotations

import functools
import gc
import math
import os
import re
import socket
import sys
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any

from .. import __version__, media
from ..config import Settings
from ..contract import ApiContract, api_contract
from ..errors import (
    ApiError,
    excerpt,
    insufficient_quota,
    invalid_request,
    model_access_denied,
    not_found,
    rate_limited,
    unauthorized,
)
from ..families import ModelSpec, Registry, registry
from ..families.prices import PriceBook
from ..families.prices import load as load_prices
from ..families.registry import QUEUE_SECONDS
from ..redaction import KEY_ID, key_id, redact
from ..store import Store, open_store
from ..store.port import Conflict, NoSuchTask, Settlement
from . import callbacks, faults, ledger, pricing, rules, scenarios
from .callbacks import CallbackAttempt
from .clock import Clock
from .draws import Draws, fresh_seed
from .faults import FaultRule, FiredFaults
from .ledger import Account, LedgerEntry
from .records import builder
from .tasks import Task

#: An API key: ``sk-`` and 8 to 197 of ``[A-Za-z0-9_-]``, at most :data:`MAX_KEY_LENGTH` characters in all. Real
#: keys are ``sk-`` and a few dozen; the bound (admin_openapi.yaml's ``ApiKey`` has said ``maxLength: 200`` from the
#: start) makes an absurd key a 401, not a new account.
MAX_KEY_LENGTH = 200
KEY_PATTERN = re.compile(rf"sk-[A-Za-z0-9_-]{{8,{MAX_KEY_LENGTH - 3}}}")
KEY_RULE = f"sk- followed by 8 to {MAX_KEY_LENGTH - 3} of [A-Za-z0-9_-]"
DEFAULT_ASPECT_RATIO = "16:9"  # the result video's shape when the request names none (or adaptive, auto...)
TASK_DRAWS = "task"
_JITTER_LOW, _JITTER_SPAN = 0.9, 0.2  # processing: the model's estimate, +-10%
_EVERYTHING = sys.maxsize
RECENT_SCAN = 10_000  # how far back a filtered listing of the newest tasks looks


class AlreadyFinished(Exception):
    """The task reached its final state before the operation."""


#: A request's caller and what it asks about, read at once: ``(account, task, mock time, whether any fault or
#: scenario rule exists)``. A plain tuple, unpacked where it is read: every request builds one.
Visit = tuple[Account, Task | None, float, bool]
_task = builder(Task)


@functools.lru_cache(maxsize=256)  # every request; clients send a few distinct headers (a 401 is not cached)
def _bearer_key(authorization: str | None) -> str:
    """The key of ``Authorization: Bearer sk-...`` (401 without one; the key itself is checked by the caller)."""
    if not authorization:
        raise unauthorized("Missing Authorization header: send 'Authorization: Bearer sk-...'")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer":
        raise unauthorized()
    return key.strip()


@functools.lru_cache(maxsize=4)
def _id_prefix(second: int) -> str:
    return f"task-unified-{second:010d}-"


_OUTPUT_ASPECT_RATIOS: dict[str, str] = {}  # requested -> rendered (the schemas' enums keep this small)


def _output_aspect_ratio(requested: object) -> str:
    """The result video's shape: the requested ``W:H`` (or a ``WxH`` size), else (none, ``auto``,
    ``adaptive``, ``keep_ratio``: the input's shape, unknown here) 16:9."""
    if not isinstance(requested, str):
        return DEFAULT_ASPECT_RATIO
    known = _OUTPUT_ASPECT_RATIOS.get(requested)
    if known is None:
        ratio = requested.replace("x", ":", 1) if requested.count("x") == 1 else requested
        known = sys.intern(ratio) if media.is_aspect_ratio(ratio) else DEFAULT_ASPECT_RATIO
        if len(_OUTPUT_ASPECT_RATIOS) < 256:
            _OUTPUT_ASPECT_RATIOS[requested] = known
    return known


def _output(spec: ModelSpec, values: Mapping[str, Any]) -> str:
    """What the task makes: ``mp4`` or ``mov`` (``output_format``), or ``element``."""
    if spec.result_kind != "video":
        return spec.result_kind
    chosen = values.get(spec.format_field) if spec.format_field else None
    return "mov" if chosen == "mov" else "mp4"


def _late_failure(spec: ModelSpec, values: Mapping[str, Any]) -> scenarios.Scenario:
    """The scenario of a request accepted now that fails later (a ``late_failures`` entry), else none."""
    prompt = values.get("prompt")
    if not spec.late_failures or not isinstance(prompt, str):
        return scenarios.NONE
    for failure in spec.late_failures:
        if failure.prompt.search(prompt) and any(values.get(k) != v for k, v in failure.requires.items()):
            return scenarios.Scenario(fail=failure.fail)
    return scenarios.NONE


def _forgettable(task: Task) -> bool:
    """A task may be forgotten once its billing is final (a running task's credits are reserved)."""
    return task.settled is not None


def _finish(task: Task, account: Account) -> Settlement:
    """A task that ended: its final billing, then (after it, as the API does) its first callback."""
    ends = task.ends
    at = ends if ends is not None else task.created
    account, task, entry = ledger.settle(account, task, at)
    callback = CallbackAttempt(task.id, 1, task.callback_url, at) if task.callback_url is not None else None
    return task, account, entry, callback


def _canceller(now: float) -> Callable[[Task, Account], Settlement]:
    """The cancel transition at ``now``: refuse a finished task, else fail it ``request_cancelled``."""
    def cancel(task: Task, account: Account) -> Settlement:
        if task.finished_by(now):
            raise AlreadyFinished(task.id)
        return _finish(task._replace(cancelled_at=now), account)
    return cancel


class Emulator:
    """The EvoLink API's behaviour over a store and a clock."""

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None,
                 contract: ApiContract | None = None, worker: str | None = None) -> None:
        self.settings = settings or Settings()
        self._store = store if store is not None else open_store(self.settings.store)
        self.contract = contract or api_contract()
        self.registry: Registry = Registry(self.contract) if contract is not None else registry()
        self.seed = self._store.seed(self.settings.seed if self.settings.seed is not None else fresh_seed())
        self._draws = Draws(self.seed)
        self.clock = Clock(self._store, self.settings.speed)
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self._listeners: list[Callable[[], None]] = []
        self._rules = {spec.id: rules.RuleContext(self.settings.allow_local_callbacks, spec.defaults.get("duration"))
                       for spec in self.registry.values()}
        self.prices: PriceBook = load_prices(self.settings.prices, self.registry)

    @property
    def store_kind(self) -> str:
        """``memory``, ``sqlite`` or ``redis``."""
        return self._store.kind

    @property
    def shared(self) -> bool:
        """Whether other processes may change the state (a SQLite or Redis store): watch it, nobody will call."""
        return self._store.shared

    # -- change notifications ------------------------------------------------------------------
    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when time moves or callback work is scheduled (the dispatcher's wake-up)."""
        self._listeners.append(listener)

    def off_change(self, listener: Callable[[], None]) -> None:
        """Stop notifying ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    def _changed(self) -> None:
        for listener in tuple(self._listeners):
            listener()

    # -- time ----------------------------------------------------------------------------------
    def now(self) -> float:
        """Read the clock and settle every task that finished by then."""
        offset, due = self._store.clock_state()
        now = self.clock.at(offset)
        if due is not None and due <= now:
            self._store.settle_due(now, _EVERYTHING, _finish)
        return now

    def advance(self, seconds: float) -> float:
        """Move mock time forward and settle what became due."""
        self.clock.advance(seconds)
        now = self.now()
        self._changed()
        return now

    def settle_due(self, limit: int) -> int:
        """Settle at most ``limit`` tasks that finished by now (the background worker's step); how many."""
        return len(self._store.settle_due(self.clock.now(), limit, _finish))

    def next_due(self) -> float | None:
        """When the next unsettled task ends."""
        return self._store.next_due()

    def due_count(self) -> int:
        """How many tasks wait to be settled."""
        return self._store.due_count()

    # -- accounts ------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Account:
        """The account behind ``Authorization: Bearer sk-...``; 401 otherwise."""
        key = _bearer_key(authorization)
        return self._caller(key, self._store.account(key))

    def _caller(self, key: str, account: Account | None) -> Account:
        """The account of a key just read from the store: 401 unless the key is valid and not revoked."""
        if account is None:  # a key seen before was valid then: only a new one needs the pattern
            if not KEY_PATTERN.fullmatch(key):
                raise unauthorized()
            account = self._provision(key)
        if account.revoked:
            raise unauthorized("The API key has been revoked")
        return account

    def visit(self, authorization: str | None, task_id: str | None = None) -> Visit:
        """The caller's account (401 unless the key is valid), the task ``task_id`` (if any), mock time and
        whether fault rules exist, in one read of the store (the hot path's)."""
        key = _bearer_key(authorization)
        account, task, offset, faults = self._store.snapshot(key, task_id)
        return self._caller(key, account), task, self.clock.at(offset), faults

    def _provision(self, key: str) -> Account:
        return self._store.provision(*ledger.open_account(key, self.settings.credits, self.clock.now()))

    def account(self, key: str) -> Account | None:
        """A key's settled ledger totals, or None if the key was never seen."""
        self.now()
        return self._store.account(key)

    def ensure_account(self, key: str) -> Account:
        """A key's settled ledger totals; a key never seen starts with the default grant."""
        self.now()
        return self._store.account(key) or self._provision(key)

    def accounts(self) -> list[Account]:
        """Every account."""
        self.now()
        return self._store.accounts()

    def key_of(self, reference: str) -> str:
        """The API key a reference names: the key itself, or the ``key_id`` admin views show for it
        (404 for an id no account has)."""
        if not KEY_ID.fullmatch(reference):
            return reference
        found = next((account.key for account in self._store.accounts() if key_id(account.key) == reference), None)
        if found is None:
            raise not_found("account_not_found", f"no account has the key id {reference}")
        return found

    def ledger(self, key: str) -> list[LedgerEntry]:
        """The key's ledger entries, oldest first."""
        self.now()
        return self._store.ledger(key)

    def put_account(self, key: str, granted: Decimal, models: list[str] | None,
                    user_group: str | None = None) -> Account:
        """(Re)create an account with ``granted`` credits, optionally limited to ``models``."""
        if not KEY_PATTERN.fullmatch(key):
            raise invalid_request(f"{excerpt(redact(key))!r} is not a valid key: use {KEY_RULE}")
        unknown = sorted(set(models or ()) - set(self.registry))
        if unknown:
            raise invalid_request(f"models: unknown model(s) {', '.join(unknown)}")
        allowed = frozenset(models) if models is not None else None
        at = self.now()
        try:
            return self._store.change_account(
                key, lambda old: ledger.regrant(old, key, pricing.credits(granted), allowed, user_group, at))
        except ledger.GrantBelowReserved as exc:
            raise ApiError(409, "account_busy", str(exc), "invalid_request_error") from None

    def revoke(self, key: str) -> Account:
        """Revoke a known key: its requests get 401 (404 if the key was never seen)."""
        if self._store.account(key) is None:
            raise not_found("account_not_found",
                            f"no account for {redact(key)}: it has made no request and was not PUT")
        def revoke(old: Account | None) -> tuple[Account, LedgerEntry | None]:
            if old is None:
                raise not_found("account_not_found", f"no account for {redact(key)}")
            return ledger.revoke(old), None
        return self._store.change_account(key, revoke)

    # -- tasks ---------------------------------------------------------------------------------
    def create_task(self, account: Account, body: Any, scenario_header: str | None = None, *,
                    base_url: str = "", has_faults: bool | None = None) -> tuple[Task, list[str]]:
        """Validate, price, reserve and store a task; the new task and the ignored fields.

        ``has_faults``: whether rules exist, if the caller read it already (:meth:`visit`).
        """
        schema = self.contract.model_schema(body)
        schema.check(body)
        body, ignored = schema.known_fields(body)
        spec = self.registry.by_id[schema.name]
        rules.check(spec, body, self._rules[spec.id])
        codes = self.contract.task_error_codes
        prompt = body.get("prompt")
        values = spec.defaults | body  # a copy of the defaults, then the body: the quickest merge
        late = _late_failure(spec, values) if spec.late_failures else scenarios.NONE
        requested = self._scenario(spec, scenarios.from_request(scenario_header, prompt, codes, late))
        if account.models is not None and spec.id not in account.models:
            raise model_access_denied(spec.id)
        if has_faults is None:
            has_faults = self._store.has_faults()
        fired = self._fire_task_rules(spec.id, account.key) if has_faults else []
        try:
            scenario = requested
            if fired:  # the request's own items win over the rules'
                imposed = scenarios.parse(";".join(rule.imposed() for rule in fired), codes, late)
                scenario = self._scenario(spec, scenarios.from_request(scenario_header, prompt, codes, imposed))
            task = self._new_task(spec, account, values, scenario, base_url)
            most = self.settings.max_concurrent
            self._store.create_task(task, lambda account: ledger.reserve(account, task, task.created, most))
        except BaseException as refused:
            for rule in fired:
                self._store.change_fault(rule.id, faults.give_back)
            if isinstance(refused, ledger.InsufficientCredits):
                raise insufficient_quota(
                    f"Insufficient quota: the task costs {pricing.as_number(refused.price)} credits and "
                    f"{pricing.as_number(refused.balance)} remain. Please top up your account.") from None
            if isinstance(refused, ledger.TooManyRunning):
                raise rate_limited(f"Too many running tasks for this key ({refused.running}); "
                                   "wait for one to finish", retry_after=5) from None
            raise
        if task.callback_url is not None:
            self._changed()
        if self._store.task_count() > self.settings.max_tasks:
            self._store.evict(self.settings.max_tasks, _forgettable)
        return task, ignored

    def _new_task(self, spec: ModelSpec, account: Account, values: Mapping[str, Any], scenario: scenarios.Scenario,
                  base_url: str) -> Task:
        """The task record: price, timeline and id from the request, the scenario and this task's draws."""
        quality = spec.tier(values)
        sound = spec.sound(values)
        rates = self.prices.rates(account.user_group, spec) if self.prices.overridden else None
        seconds, price, assumed = pricing.quote(spec, values, scenario.input_seconds, rates, tier=quality, sound=sound)
        nominal, estimated = spec.timing(seconds, quality)
        now = math.floor(self.now())  # whole seconds, as the public ``created`` shows it
        position = self._store.next_number(TASK_DRAWS)
        suffix, queue_draw, processing_draw = self._draws.task(position)
        low, high = QUEUE_SECONDS
        queue = scenario.queue if scenario.queue is not None else low + (high - low) * queue_draw
        processing = scenario.processing or nominal * (_JITTER_LOW + _JITTER_SPAN * processing_draw)
        return _task((  # every field, in order: this is every create
            _id_prefix(now) + suffix, account.key, spec.id, now, queue, processing, scenario.fail,
            scenario.stuck, price, seconds,
            _output_aspect_ratio(values.get("aspect_ratio")), sys.intern(quality) if isinstance(quality, str) else None,
            sound, estimated, values.get("callback_url"), sys.intern(base_url),
            "" if scenario is scenarios.NONE else scenario.describe(), position, None, None,
            _output(spec, values) if spec.format_field or spec.result_kind != "video" else "mp4", assumed))

    @staticmethod
    def _scenario(spec: ModelSpec, scenario: scenarios.Scenario) -> scenarios.Scenario:
        if scenario.input_seconds is not None and not spec.reads_input_length:
            raise invalid_request(f"scenario item input_seconds applies only to models whose output or bill follows "
                                  f"their input media's length, not {spec.id}")
        return scenario

    def owned_task(self, account: Account, task_id: str) -> Task:
        """The task for a poll: 400 malformed id, 404 unknown, 403 another key's."""
        return self.owned(account, self._store.task(task_id), task_id)

    def owned(self, account: Account, task: Task | None, task_id: str) -> Task:
        """``task`` (looked up by ``task_id``) if ``account`` may see it: 400 malformed id, 404 unknown, 403."""
        if task is None:  # stored ids are well formed: only an unknown one needs the pattern
            self.contract.check_task_id(task_id)
            raise not_found("task_not_found", f"task {excerpt(task_id)} not found")
        if task.key != account.key:
            raise ApiError(403, "permission_denied", "The task belongs to another API key",
                           "invalid_request_error")
        return task

    def find_task(self, task_id: str) -> Task | None:
        """A task by id, or None."""
        return self._store.task(task_id)

    def task(self, task_id: str) -> Task:
        """Any task by id (admin); 404 when unknown."""
        self.now()
        task = self._store.task(task_id)
        if task is None:
            raise not_found("task_not_found", f"task {excerpt(task_id)} not found")
        return task

    def tasks(self, key: str | None = None) -> list[Task]:
        """Tasks in creation order (of one key if given), settled up to now."""
        self.now()
        return self._store.tasks(key)

    def recent_tasks(self, limit: int, *, key: str | None = None, model: str | None = None,
                     status: str | None = None) -> list[Task]:
        """Up to ``limit`` tasks, newest first, settled up to now, among the newest :data:`RECENT_SCAN`.

        Optionally only those of one key, one model and one status (``pending``, ``processing``,
        ``completed`` or ``failed``) at the current mock time. The cost is bounded however many
        tasks are stored.
        """
        now = self.now()

        def accept(task: Task) -> bool:
            return ((key is None or task.key == key) and (model is None or task.model == model)
                    and (status is None or task.state_at(now)[0] == status))

        return self._store.recent_tasks(limit, RECENT_SCAN, accept if key or model or status else None)

    def task_count(self) -> int:
        """How many tasks are stored."""
        return self._store.task_count()

    def result_task(self, task_id: str, now: float) -> Task:
        """The completed task whose result video is asked for: 404 unless completed, 410 once expired."""
        task = self._store.task(task_id)
        if task is None or task.state_at(now)[0] != "completed":
            raise not_found("file_not_found", f"no result video for {excerpt(task_id)}")
        expires = task.expires_at()
        if expires is not None and now >= expires:
            raise ApiError(410, "file_expired", "the result link expired 24 hours after the task completed",
                           "invalid_request_error")
        return task

    def cancel(self, task_id: str) -> Task:
        """Cancel an unfinished task (admin): it fails ``request_cancelled``, refunded, callback sent.

        409 for a model whose tasks cannot be cancelled (``can_cancel`` is always false there).
        """
        now = self.now()
        known = self._store.task(task_id)
        if known is not None and not self.registry[known.model].cancellable:
            raise ApiError(409, "task_not_cancellable", f"{known.model} tasks cannot be cancelled",
                           "invalid_request_error")
        try:
            cancelled = self._store.cancel_task(task_id, _canceller(now))
        except NoSuchTask:
            raise not_found("task_not_found", f"task {excerpt(task_id)} not found") from None
        except AlreadyFinished:
            status = self.task(task_id).state_at(now)[0]
            raise ApiError(409, "task_finished", f"task {task_id} is already {status} and cannot be cancelled",
                           "invalid_request_error") from None
        self._changed()
        return cancelled

    # -- callbacks -----------------------------------------------------------------------------
    def callbacks(self, task_id: str | None = None) -> list[CallbackAttempt]:
        """Sent delivery attempts, oldest first (of one task, or all)."""
        return self._store.callbacks(task_id)

    def redeliver(self, task_id: str) -> CallbackAttempt:
        """Schedule one more (manual) delivery of a finished task's callback, due now."""
        task = self.task(task_id)
        if task.callback_url is None or task.settled is None:
            reason = "has no callback_url" if task.callback_url is None else "has not finished"
            raise ApiError(409, "no_callback", f"task {task_id} {reason}", "invalid_request_error")
        now = self.now()
        while True:
            known = self._store.callbacks(task_id) + self._store.scheduled_callbacks(task_id)
            attempt = CallbackAttempt(task_id, max((a.number for a in known), default=0) + 1, task.callback_url,
                                      now, manual=True)
            try:
                self._store.schedule_callback(attempt)
            except Conflict:  # another worker numbered one at the same time
                continue
            self._changed()
            return attempt

    def next_callback_due(self) -> float | None:
        """When callback work is next due (an attempt, or the end of a task with a callback)."""
        return self._store.next_callback_due()

    def claim_callbacks(self, now: float) -> list[CallbackAttempt]:
        """Take the attempts due by ``now`` for delivery by this worker, each leased to it."""
        lease = callbacks.lease_seconds(self.clock.speed)
        return self._store.claim_callbacks(now, lambda attempt: callbacks.claimed(attempt, now, self.worker, lease))

    def expire_claims(self, now: float, held: Collection[tuple[str, int]]) -> list[CallbackAttempt]:
        """Record as lapsed the attempts whose lease ended by ``now`` and schedule their retries.

        ``held``: the ``(task_id, number)`` this worker is delivering; those never lapse (a worker
        that died and a new one with the same name do not hold the same attempts).
        """
        def lapse(attempt: CallbackAttempt) -> tuple[CallbackAttempt, CallbackAttempt | None] | None:
            if attempt.worker == self.worker and (attempt.task_id, attempt.number) in held:
                return None
            lost = callbacks.lapsed(attempt)
            return lost, callbacks.retry(lost)
        return self._store.expire_claims(now, lapse)

    def callbacks_in_flight(self) -> int:
        """Attempts being delivered now, by any worker."""
        return self._store.in_flight()

    def finish_callback(self, attempt: CallbackAttempt, duration_ms: float, *, status_code: int | None = None,
                        error: str | None = None, may_retry: bool = True) -> CallbackAttempt | None:
        """Record an attempt's result and schedule its retry when one is due; the finished record.

        None when the claim had lapsed and another worker recorded the attempt (nothing is written).
        """
        done = callbacks.finished(attempt, self.clock.now(), duration_ms, status_code=status_code, error=error)
        return done if self._store.finish_callback(done, callbacks.retry(done, may_retry=may_retry)) else None

    def callback_task(self, attempt: CallbackAttempt) -> Task | None:
        """The task a callback attempt delivers (None once forgotten)."""
        return self._store.task(attempt.task_id)

    # -- faults --------------------------------------------------------------------------------
    def add_fault(self, spec: Mapping[str, Any]) -> FaultRule:
        """Add a fault rule (a body checked against the admin contract, which has the enums)."""
        if "scenario" in spec:
            try:
                scenarios.parse(spec["scenario"], self.contract.task_error_codes)
            except ApiError as error:  # item syntax: no schema can say it
                raise invalid_request(error.message, rule="scenario_syntax") from None
        if spec.get("key") is not None:
            spec = {**spec, "key": self.key_of(spec["key"])}
        try:
            rule = faults.new_rule(f"fault-{self._store.next_number('fault') + 1}", spec)
        except faults.UnknownFaultKind as exc:
            raise invalid_request(str(exc)) from None
        self._store.add_fault(rule)
        return rule

    def faults(self) -> list[FaultRule]:
        """Every fault and scenario rule, with how often each fired."""
        return self._store.faults()

    def fault(self, rule_id: str) -> FaultRule:
        """One rule; 404 when unknown."""
        found = next((rule for rule in self._store.faults() if rule.id == rule_id), None)
        if found is None:
            raise not_found("fault_not_found", f"no fault rule {excerpt(rule_id)}")
        return found

    def remove_fault(self, rule_id: str) -> FaultRule:
        """Remove one rule; 404 when unknown."""
        removed = self._store.remove_fault(rule_id)
        if removed is None:
            raise not_found("fault_not_found", f"no fault rule {excerpt(rule_id)}")
        return removed

    def clear_faults(self) -> None:
        """Remove every fault and scenario rule."""
        self._store.clear_faults()

    def has_faults(self) -> bool:
        """Whether any rule exists (cheap: the hot path asks on every request)."""
        return self._store.has_faults()

    def _draw(self, rule: FaultRule) -> FaultRule | None:
        """Draw one rule, atomically; the fired rule, or None."""
        changed = self._store.change_fault(rule.id, functools.partial(faults.draw, draws=self._draws))
        return changed[1] if changed is not None and faults.fired(*changed) else None

    def _fire_task_rules(self, model: str, key: str) -> list[FaultRule]:
        return [fired for rule in self._store.faults()
                if rule.kind in faults.TASK_KINDS and rule.matches("create", model, key)
                and (fired := self._draw(rule)) is not None]

    def faults_for(self, route: str, model: str | None, key: str | None) -> FiredFaults | None:
        """Draw the latency and error rules matching this request; None, cheaply, when none fires."""
        if not self._store.has_faults():
            return None
        latency, terminal = 0.0, None
        for rule in self._store.faults():
            if rule.kind in faults.TASK_KINDS or not rule.matches(route, model, key):
                continue
            if rule.kind in faults.TERMINAL and terminal is not None:
                continue
            fired = self._draw(rule)
            if fired is None:
                continue
            if fired.kind == faults.LATENCY:
                latency += fired.latency_ms
            else:
                terminal = fired
        return FiredFaults(latency, terminal) if latency or terminal else None

    # -- everything ----------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """Liveness and a summary: version, clock, task count, store and worker."""
        return {"status": "ok", "version": __version__, "now": self.now(), "speed": self.clock.speed,
                "tasks": self._store.task_count(), "store": self._store.kind, "worker": self.worker}

    def reset(self) -> None:
        """Forget every task, account, callback and rule (and let the collector see what a server froze)."""
        self._store.reset()
        gc.unfreeze()

    def close(self) -> None:
        """Release the store."""
        self._store.close()
