"""The emulator core: plain, synchronous, deterministic Python.

It takes data and a clock reading and returns data; the Starlette edge, the
respx router and tests all drive this same object. Time-driven side effects
(charging or refunding a finished task) are applied from the store's due
heap whenever the clock is read through :meth:`Emulator.now`.
"""
from __future__ import annotations

import functools
import gc
import itertools
import math
import random
import re
import string
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import billing, rules, scenarios
from .catalog import CATALOG, QUEUE_SECONDS, ModelSpec
from .clock import Clock
from .config import Settings
from .contract import ApiContract, api_contract
from .errors import ApiError, insufficient_quota, invalid_request, model_access_denied, not_found, rate_limited
from .errors import unauthorized
from .faults import FaultRule, FiredFaults, new_rule
from .store import Account, AlreadyFinished, CallbackAttempt, InsufficientCredits, MemoryStore, TooManyRunning
from .tasks import Task
from .views import created_body

KEY_PATTERN = re.compile(r"sk-[A-Za-z0-9_-]{8,}")
_SUFFIX_ALPHABET = (string.ascii_lowercase + string.digits).encode()
#: Random bytes to id characters: 0-251 map evenly onto the 36 characters, 252-255 are dropped.
_TO_SUFFIX = bytes(_SUFFIX_ALPHABET[b % 36] for b in range(252)) + bytes(4)
_UNEVEN = bytes(range(252, 256))
_QUEUE_LOW, _QUEUE_SPAN = QUEUE_SECONDS[0], QUEUE_SECONDS[1] - QUEUE_SECONDS[0]
_JITTER_LOW, _JITTER_SPAN = 0.9, 0.2  # processing: the model's estimate, +-10%


@functools.lru_cache(maxsize=4)
def _id_prefix(second: int) -> str:
    return f"task-unified-{second:010d}-"


class Emulator:
    """The EvoLink API's behaviour over a store and a clock."""

    def __init__(self, settings: Settings | None = None, *, store: MemoryStore | None = None,
                 clock: Clock | None = None, contract: ApiContract | None = None) -> None:
        self.settings = settings or Settings()
        self.store = store or MemoryStore(max_tasks=self.settings.max_tasks)
        self.clock = clock or Clock(self.store, self.settings.speed)
        self.contract = contract or api_contract()
        self._rng = random.Random(self.settings.seed)
        self._rng_lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []
        self._fault_ids = itertools.count(1)
        self._rules = {model: rules.RuleContext(self.settings.allow_local_callbacks,
                                                schema.defaults.get("duration"))
                       for model, schema in self.contract.models.items()}

    # -- change notifications ------------------------------------------------
    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` when time moves or a callback is scheduled (the dispatcher's wake-up)."""
        self._listeners.append(listener)
        self.clock.on_advance(listener)

    def off_change(self, listener: Callable[[], None]) -> None:
        """Stop notifying ``listener``."""
        if listener in self._listeners:
            self._listeners.remove(listener)
        self.clock.off_advance(listener)

    def _changed(self) -> None:
        for listener in tuple(self._listeners):
            listener()

    # -- time --------------------------------------------------------------
    def now(self) -> float:
        """Read the clock and settle every task that finished by then."""
        now = self.clock.now()
        self.store.settle_due(now)
        return now

    def advance(self, seconds: float) -> float:
        """Move mock time forward and settle what became due."""
        self.clock.advance(seconds)
        return self.now()

    # -- accounts ----------------------------------------------------------
    def authenticate(self, authorization: str | None) -> Account:
        """The account behind ``Authorization: Bearer sk-...``; 401 otherwise."""
        if not authorization:
            raise unauthorized("Missing Authorization header: send 'Authorization: Bearer sk-...'")
        scheme, _, key = authorization.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer":
            raise unauthorized()
        account = self.store.account(key)  # a key seen before was valid then: skip the pattern
        if account is None:
            if not KEY_PATTERN.fullmatch(key):
                raise unauthorized()
            account = self.store.provision(key, self.settings.credits)
        if account.revoked:
            raise unauthorized("The API key has been revoked")
        return account

    # -- tasks -------------------------------------------------------------
    def create_task(self, account: Account, body: Any, scenario_header: str | None = None, *,
                    base_url: str = "") -> tuple[dict[str, Any], list[str]]:
        """Validate, price, reserve and store a task; return its body and warnings."""
        schema = self.contract.model_schema(body)
        schema.check(body)
        body, ignored = schema.known_fields(body)
        spec = CATALOG[schema.name]
        rules.check(spec, body, self._rules[spec.name])
        codes = self.contract.task_error_codes
        prompt = body.get("prompt")
        self._scenario(spec, scenarios.from_request(scenario_header, prompt, codes))  # 400s before any rule is drawn
        if account.models is not None and spec.name not in account.models:
            raise model_access_denied(spec.name)
        values = {**schema.defaults, **body}
        quality = sys.intern(values["quality"])  # one string per value, not per task
        aspect_ratio = sys.intern(values.get("aspect_ratio", "16:9"))
        sound = values.get("sound") in ("on", True) and not spec.video_input
        origin = sys.intern(base_url)

        def build(imposed: str | None) -> Task:
            """The task, under the scenario a fault rule imposes (the request's own items win)."""
            base = scenarios.parse(imposed, codes) if imposed else scenarios.NONE
            scenario = self._scenario(spec, scenarios.from_request(scenario_header, prompt, codes, base))
            seconds = billing.billed_seconds(spec, values.get("duration"), scenario.input_seconds)
            nominal, estimated = spec.timing(seconds, quality)
            now = math.floor(self.now())  # whole seconds, as the public ``created`` shows it
            with self._rng_lock:
                task_id = self._new_id(now)
                draw = self._rng.random
                queue = scenario.queue if scenario.queue is not None else _QUEUE_LOW + _QUEUE_SPAN * draw()
                processing = scenario.processing or nominal * (_JITTER_LOW + _JITTER_SPAN * draw())
            return Task(
                id=task_id, key=account.key, model=spec.name, created=now, queue=queue, processing=processing,
                fail=scenario.fail, stuck=scenario.stuck, price=billing.price(spec, seconds, quality, sound),
                seconds=seconds, aspect_ratio=aspect_ratio, quality=quality, sound=sound, estimated_time=estimated,
                callback_url=body.get("callback_url"), base_url=origin,
                scenario="" if scenario is scenarios.NONE else scenario.describe(),
            )

        try:
            task = self.store.create_task(build, account.key, spec.name, self.settings.max_concurrent)
        except InsufficientCredits as short:
            raise insufficient_quota(
                f"Insufficient quota: the task costs {billing.as_number(short.price)} credits and "
                f"{billing.as_number(short.balance)} remain. Please top up your account.") from None
        except TooManyRunning as busy:
            raise rate_limited(f"Too many running tasks for this key ({busy.running}); "
                               "wait for one to finish", retry_after=5) from None
        if task.callback_url is not None:
            self._changed()
        return created_body(task), ignored

    @staticmethod
    def _scenario(spec: ModelSpec, scenario: scenarios.Scenario) -> scenarios.Scenario:
        if scenario.input_seconds is not None and spec.max_billed_seconds is None:
            raise invalid_request(f"scenario item input_seconds applies only to video edit, not {spec.name}")
        return scenario

    def _new_id(self, now: float) -> str:
        while True:
            drawn = self._rng.getrandbits(96).to_bytes(12, "little").translate(_TO_SUFFIX, _UNEVEN)  # [a-z0-9]
            if len(drawn) < 8:
                continue
            task_id = _id_prefix(int(now)) + drawn[:8].decode()
            if self.store.task(task_id) is None:
                return task_id

    def owned_task(self, account: Account, task_id: str) -> Task:
        """The task for a poll: 400 malformed id, 404 unknown, 403 another key's."""
        task = self.store.task(task_id)
        if task is None:  # stored ids are well formed: only an unknown one needs the pattern
            self.contract.check_task_id(task_id)
            raise not_found("task_not_found", f"task {task_id} not found")
        if task.key != account.key:
            raise ApiError(403, "permission_denied", "The task belongs to another API key",
                           "invalid_request_error")
        return task

    def task(self, task_id: str) -> Task:
        """Any task by id (admin); 404 when unknown."""
        task = self.store.task(task_id)
        if task is None:
            raise not_found("task_not_found", f"task {task_id} not found")
        return task

    def cancel(self, task_id: str) -> Task:
        """Cancel an unfinished task (admin): it fails ``request_cancelled``, refunded."""
        task = self.task(task_id)
        try:
            cancelled = self.store.cancel(task_id, self.now())
        except AlreadyFinished:
            status = task.state_at(self.now())[0]
            raise ApiError(409, "task_finished", f"task {task_id} is already {status} and cannot be cancelled",
                           "invalid_request_error") from None
        self._changed()
        return cancelled

    def redeliver(self, task_id: str) -> CallbackAttempt:
        """Schedule one more (manual) delivery of a finished task's callback, due now."""
        task = self.task(task_id)
        try:
            attempt = self.store.redeliver(task_id, self.now())
        except AlreadyFinished:
            reason = "has no callback_url" if task.callback_url is None else "has not finished"
            raise ApiError(409, "no_callback", f"task {task_id} {reason}", "invalid_request_error") from None
        self._changed()
        return attempt

    # -- faults ------------------------------------------------------------
    def add_fault(self, spec: dict[str, Any]) -> FaultRule:
        """Add a fault rule (a body checked against the admin contract, which has the enums)."""
        if "scenario" in spec:
            try:
                scenarios.parse(spec["scenario"], self.contract.task_error_codes)
            except ApiError as error:  # item syntax: no schema can say it
                raise invalid_request(error.message, rule="scenario_syntax") from None
        if spec.get("times") is not None:
            spec = {**spec, "times": int(spec["times"])}
        rule = new_rule(f"fault-{next(self._fault_ids)}", spec, self.settings.seed)
        self.store.add_fault(rule)
        return rule

    def faults_for(self, route: str, model: str | None, key: str | None) -> FiredFaults | None:
        """The rules firing for this request (None, cheaply, when there are none)."""
        return self.store.fire_faults(route, model, key)

    def put_account(self, key: str, granted: Decimal, models: list[str] | None) -> Account:
        """(Re)create an account with ``granted`` credits, optionally limited to ``models``."""
        if not KEY_PATTERN.fullmatch(key):
            raise invalid_request(f"{key!r} is not a valid key: use sk- and at least 8 of [A-Za-z0-9_-]")
        unknown = sorted(set(models or ()) - set(CATALOG))
        if unknown:
            raise invalid_request(f"models: unknown model(s) {', '.join(unknown)}")
        try:
            return self.store.put_account(key, billing.credits(granted),
                                          frozenset(models) if models is not None else None)
        except ValueError as exc:
            raise ApiError(409, "account_busy", str(exc), "invalid_request_error") from None

    def reset(self) -> None:
        """Forget every task and account (and let the collector see what a server froze)."""
        self.store.reset()
        gc.unfreeze()

