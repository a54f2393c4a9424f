"""Faults and scripted outcomes as data (the README's "Testing the unhappy paths").

Fault rules are global to an emulator, so no test here touches the session
server: the ``mock`` fixture is this module's own ``LiveServer`` (manual clock,
fixed seed), emptied by ``POST /_mock/reset`` before each test, and tests that
need other settings or a fresh random state start their own with ``private``.

The only timing assertion is a lower bound on a ``latency`` rule's delay.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from conftest import I2V, T2V, assert_error

from contracts.server import LiveServer
from mock_server import Settings
from mock_server.contract import api_contract

KEY = "sk-faults-aaaaaaaa"
OTHER_KEY = "sk-faults-bbbbbbbb"
SEED = 11
ROUTES = ("create", "task", "credits", "files")
TERMINAL_KINDS = ("rate_limit", "server_error", "drop")
#: Far beyond any default task's queue + processing (a few minutes of mock time).
LONG_AFTER = 3600.0
CREATE = "/v1/videos/generations"
SCENARIO = "X-Mock-Scenario"
ROUNDS = 30  # draws for the probability tests


def t2v(**extra: Any) -> dict[str, Any]:
    """A valid, cheap text-to-video body (3 s, 720p, silent: 16.2 credits)."""
    return {"model": T2V, "prompt": "a lighthouse at dusk", "duration": 3, **extra}


def i2v() -> dict[str, Any]:
    """A valid image-to-video body."""
    return {"model": I2V, "prompt": "the boat drifts", "duration": 3, "image_start": "https://example.com/a.jpg"}


def error_of(response: httpx.Response, status: int, *fragments: str) -> dict[str, str]:
    """The answer is the API's error shape with ``status`` and a message naming every fragment."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "type"}, body
    for fragment in fragments:
        assert fragment in body["error"]["message"], (fragment, body)
    return body["error"]


class Mock:
    """A client of one private emulator; requests use ``KEY`` unless told otherwise."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.base_url, timeout=10)

    def close(self) -> None:
        self.http.close()

    def call(self, method: str, path: str, *, key: str = KEY, **kwargs: Any) -> httpx.Response:
        """A public-API request with ``key``'s bearer token."""
        headers = {"Authorization": f"Bearer {key}", **kwargs.pop("headers", {})}
        return self.http.request(method, path, headers=headers, **kwargs)

    def create(self, body: dict[str, Any] | None = None, *, key: str = KEY, scenario: str | None = None
               ) -> httpx.Response:
        headers = {SCENARIO: scenario} if scenario else {}
        return self.call("POST", CREATE, key=key, json=body or t2v(), headers=headers)

    def created(self, body: dict[str, Any] | None = None, *, key: str = KEY, scenario: str | None = None
                ) -> dict[str, Any]:
        """Create and insist on a 200."""
        response = self.create(body, key=key, scenario=scenario)
        assert response.status_code == 200, response.text
        return response.json()

    def credits(self, key: str = KEY) -> httpx.Response:
        return self.call("GET", "/v1/credits", key=key)

    def task(self, task_id: str, key: str = KEY) -> dict[str, Any]:
        response = self.call("GET", f"/v1/tasks/{task_id}", key=key)
        assert response.status_code == 200, response.text
        return response.json()

    def admin(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """An admin request that must answer ``status``; its JSON."""
        response = self.http.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        return response.json()

    def fault(self, **spec: Any) -> dict[str, Any]:
        """Add a fault rule; its admin view."""
        return self.admin("POST", "/_mock/faults", json=spec)

    def scenario(self, **spec: Any) -> dict[str, Any]:
        """Add a scenario rule through ``POST /_mock/scenarios``; its admin view."""
        return self.admin("POST", "/_mock/scenarios", json=spec)

    def faults(self) -> list[dict[str, Any]]:
        return self.admin("GET", "/_mock/faults")

    def rule(self, rule_id: str) -> dict[str, Any]:
        """One rule as ``GET /_mock/faults`` lists it."""
        (found,) = [rule for rule in self.faults() if rule["id"] == rule_id]
        return found

    def advance(self, seconds: float) -> None:
        self.admin("POST", "/_mock/clock/advance", json={"seconds": seconds})

    def account(self, key: str = KEY) -> dict[str, Any]:
        return self.admin("GET", f"/_mock/accounts/{key}")

    def tasks_of(self, key: str = KEY) -> int:
        return self.admin("GET", "/_mock/tasks", params={"key": key})["total"]

    def admin_task(self, task_id: str) -> dict[str, Any]:
        return self.admin("GET", f"/_mock/tasks/{task_id}")

    def completed_task(self) -> str:
        """A task that completed (so its result file downloads); its id."""
        task_id = self.created(scenario="queue=0;processing=1")["id"]
        self.advance(5)
        assert self.task(task_id)["status"] == "completed"
        return task_id


@contextlib.contextmanager
def private(**settings: Any) -> Iterator[Mock]:
    """A fresh emulator of its own (manual clock, seed ``SEED`` unless given) and a client."""
    with LiveServer(Settings(**{"speed": 0, "seed": SEED, **settings})) as server:
        mock = Mock(server)
        try:
            yield mock
        finally:
            mock.close()


@pytest.fixture(scope="module")
def _module_server() -> Iterator[Mock]:
    """One private emulator per module and xdist worker (never the session server)."""
    with private() as fresh:
        yield fresh


@pytest.fixture
def mock(_module_server: Mock) -> Mock:
    """This module's private emulator, emptied for the test: no rule, task or account of another test.

    (One server per module and worker, reset per test: a ``LiveServer`` starts fast but takes
    ~0.2 s to stop, which a server per test would pay some forty times.)
    """
    _module_server.admin("POST", "/_mock/reset")
    assert _module_server.faults() == []
    return _module_server


# -- helpers that express a fault's visible effect -----------------------------------------------
def hit(mock: Mock, route: str, task_id: str, key: str = KEY) -> httpx.Response:
    """One request on a public ``route``; ``task_id`` is a completed task of ``KEY``."""
    if route == "create":
        return mock.create(key=key)
    if route == "task":
        return mock.call("GET", f"/v1/tasks/{task_id}", key=key)
    if route == "credits":
        return mock.credits(key)
    return mock.http.get(f"/files/{task_id}.mp4")


def assert_faulted(kind: str, request: Callable[[], httpx.Response], retry_after: str = "1") -> None:
    """``request`` shows the effect of a terminal fault of ``kind``."""
    if kind == "drop":
        with pytest.raises(httpx.TransportError):
            request()
        return
    response = request()
    if kind == "rate_limit":
        assert_error(response, 429, "rate_limit_exceeded", "rate_limit_error")
        assert response.headers.get("Retry-After") == retry_after, response.headers
    else:
        assert_error(response, 500, "internal_error", "api_error")


def assert_no_money_moved(mock: Mock, key: str = KEY) -> None:
    """The key's ledger is untouched: nothing reserved, charged or running, no task stored."""
    account = mock.account(key)
    assert (account["balance"], account["reserved"], account["charged"]) == (account["granted"], 0, 0), account
    assert account["running"] == 0, account
    assert mock.tasks_of(key) == 0


def settle(mock: Mock, task_id: str) -> dict[str, Any]:
    """Advance far past the task's planned end; its public body."""
    mock.advance(LONG_AFTER)
    return mock.task(task_id)


# -- each kind, and how it stops -----------------------------------------------------------------
@pytest.mark.parametrize("stop", ["delete_rule", "delete_all", "times"])
@pytest.mark.parametrize("kind", TERMINAL_KINDS)
def test_terminal_fault_fires_until_removed_or_spent(mock: Mock, kind: str, stop: str) -> None:
    """A rate_limit/server_error/drop rule answers every matching request until it is removed or spent."""
    rule = mock.fault(kind=kind, route="credits", **({"times": 2} if stop == "times" else {}))
    assert (rule["kind"], rule["fired"], rule["spent"]) == (kind, 0, False), rule
    assert_faulted(kind, mock.credits)
    assert mock.rule(rule["id"])["spent"] is False
    assert_faulted(kind, mock.credits)
    if stop == "delete_rule":
        removed = mock.admin("DELETE", f"/_mock/faults/{rule['id']}")
        assert (removed["id"], removed["fired"]) == (rule["id"], 2), removed
        assert mock.faults() == []
    elif stop == "delete_all":
        assert mock.admin("DELETE", "/_mock/faults") == []
        assert mock.faults() == []
    else:
        listed = mock.rule(rule["id"])
        assert (listed["fired"], listed["times"], listed["spent"]) == (2, 0, True), listed
    for _ in range(2):
        response = mock.credits()
        assert response.status_code == 200, response.text
        assert response.json()["success"] is True


@pytest.mark.parametrize(("spec", "header"), [({}, "1"), ({"retry_after": 7}, "7"), ({"retry_after": 0}, "0")])
def test_rate_limit_answers_retry_after_of_the_rule(mock: Mock, spec: dict[str, Any], header: str) -> None:
    """429 rate_limit_exceeded carries Retry-After equal to the rule's retry_after (default 1)."""
    rule = mock.fault(kind="rate_limit", route="create", **spec)
    assert_faulted("rate_limit", mock.create, retry_after=header)
    assert rule.get("retry_after") == (spec.get("retry_after", 1)), rule


def test_drop_cuts_the_answer_and_the_server_stays_healthy(mock: Mock) -> None:
    """A drop gives the client a transport error, no JSON; the next request and /_mock/health work."""
    mock.fault(kind="drop", route="credits", times=1)
    with pytest.raises(httpx.TransportError):
        mock.credits().json()
    assert mock.http.get("/_mock/health").json()["status"] == "ok"
    assert mock.credits().status_code == 200


def test_latency_delays_a_normal_answer(mock: Mock) -> None:
    """latency_ms: 200 -> the answer comes at least 200 ms later and is otherwise normal."""
    rule = mock.fault(kind="latency", route="credits", latency_ms=200)
    assert rule["latency_ms"] == 200
    started = time.monotonic()
    response = mock.credits()
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["success"] is True
    assert elapsed >= 0.2, elapsed
    assert mock.rule(rule["id"])["fired"] == 1


def test_latency_and_rate_limit_rules_both_apply(mock: Mock) -> None:
    """Several matching rules combine: a latency rule plus a rate_limit rule make a slow 429."""
    slow = mock.fault(kind="latency", route="create", latency_ms=150)
    limit = mock.fault(kind="rate_limit", route="create", retry_after=3)
    started = time.monotonic()
    response = mock.create()
    elapsed = time.monotonic() - started
    assert_error(response, 429, "rate_limit_exceeded", "rate_limit_error")
    assert response.headers["Retry-After"] == "3"
    assert elapsed >= 0.15, elapsed
    assert [mock.rule(r["id"])["fired"] for r in (slow, limit)] == [1, 1]


@pytest.mark.parametrize("kind", TERMINAL_KINDS)
def test_refused_create_moves_no_credits(mock: Mock, kind: str) -> None:
    """After a 429, 500 or dropped create the account shows no reservation and no task."""
    mock.fault(kind=kind, route="create")
    assert_faulted(kind, mock.create)
    assert_no_money_moved(mock)


# -- server_error statuses and lost responses (issue 15, failures 5 and 6) -------------------------
#: What each status answers: the API's documented bodies (README, compatibility notes).
DOCUMENTED_5XX = {500: ("internal_error", "api_error"), 502: ("upstream_error", "upstream_error"),
                  503: ("service_unavailable", "api_error"), 504: ("gateway_timeout", "api_error")}


def test_issue_input_a_503_can_be_injected(mock: Mock) -> None:
    """Issue 15, failure 5: ``{"kind": "server_error", "status": 503}`` was refused."""
    rule = mock.fault(kind="server_error", status=503, route="create", times=1)
    assert (rule["kind"], rule["status"]) == ("server_error", 503), rule
    error = error_of(mock.create(), 503)
    assert (error["code"], error["type"]) == ("service_unavailable", "api_error"), error
    assert_no_money_moved(mock)
    assert mock.create().status_code == 200


@pytest.mark.parametrize("status", sorted(DOCUMENTED_5XX))
@pytest.mark.parametrize("route", ROUTES)
def test_server_error_answers_each_status_with_its_documented_body(mock: Mock, route: str, status: int) -> None:
    """Every documented 5xx on every public route, in the API's error shape with that status's code and type."""
    task_id = mock.completed_task()
    spec = {"status": status} if status != 500 else {}  # 500 is the default
    mock.fault(kind="server_error", route=route, **spec)
    code, type_ = DOCUMENTED_5XX[status]
    assert_error(hit(mock, route, task_id), status, code, type_)


@pytest.mark.parametrize(("body", "named"), [
    ({"kind": "server_error", "status": 501}, "status"),
    ({"kind": "server_error", "status": "503"}, "status"),
    ({"kind": "rate_limit", "status": 503}, "kind"),
    ({"kind": "drop", "when": "later"}, "when"),
    ({"kind": "server_error", "when": "after"}, "kind"),
])
def test_status_and_when_are_refused_outside_their_kind_and_values(mock: Mock, body: dict[str, Any],
                                                                   named: str) -> None:
    assert_error(mock.http.post("/_mock/faults", json=body), 400, "invalid_request", "invalid_request_error", named)
    assert mock.faults() == []


def test_issue_input_a_lost_response_stores_and_reserves_the_task(mock: Mock) -> None:
    """Issue 15, failure 6: ``drop`` with ``when: after`` cuts the connection once the task is stored and
    reserved, so a client that retries the POST after the network error can see it pays twice."""
    rule = mock.fault(kind="drop", when="after", route="create", times=1)
    assert (rule["kind"], rule["when"]) == ("drop", "after"), rule
    with pytest.raises(httpx.TransportError):
        mock.create()
    lost = mock.account()
    assert (lost["running"], lost["reserved"]) == (1, 16.2), lost
    assert mock.tasks_of() == 1
    retried = mock.created()  # the retry succeeds: a second task, a second reservation
    paid_twice = mock.account()
    assert (paid_twice["running"], paid_twice["reserved"]) == (2, 32.4), paid_twice
    tasks = mock.admin("GET", "/_mock/tasks", params={"key": KEY})["tasks"]
    assert [t["id"] for t in tasks][-1] == retried["id"] and len(tasks) == 2


def test_drop_before_is_the_default_and_stores_nothing(mock: Mock) -> None:
    rule = mock.fault(kind="drop", route="create", times=1)
    assert rule["when"] == "before", rule
    with pytest.raises(httpx.TransportError):
        mock.create()
    assert_no_money_moved(mock)


@pytest.mark.parametrize("route", ["task", "credits"])
def test_drop_after_on_reads_cuts_a_complete_answer(mock: Mock, route: str) -> None:
    """On a read, ``after`` answers (settling what became due) and then cuts: the client sees a transport error."""
    task_id = mock.completed_task()
    mock.fault(kind="drop", when="after", route=route, times=1)
    with pytest.raises(httpx.TransportError):
        hit(mock, route, task_id).json()
    assert hit(mock, route, task_id).status_code == 200


# -- task kinds: task_failure and scenario ---------------------------------------------------------
@pytest.mark.parametrize("code", ["content_policy_violation", "generation_timeout"])
def test_task_failure_rule_fails_the_task_and_refunds_it(mock: Mock, code: str) -> None:
    """The created task fails with the rule's error_code once the clock moves, and is refunded."""
    mock.fault(kind="task_failure", error_code=code)
    created = mock.created()
    assert created["status"] == "pending"
    assert mock.account()["reserved"] > 0
    task = settle(mock, created["id"])
    assert task["status"] == "failed", task
    assert task["error"]["code"] == code and task["error"]["type"] == "task_error", task
    assert "results" not in task
    assert mock.admin_task(created["id"])["billing"]["state"] == "refunded"
    account = mock.account()
    assert (account["balance"], account["reserved"], account["charged"]) == (account["granted"], 0, 0), account


@pytest.mark.parametrize("stop", ["delete_rule", "times"])
def test_task_failure_rule_stops_when_removed_or_spent(mock: Mock, stop: str) -> None:
    """Once the rule is deleted or has fired ``times`` times, new tasks complete normally."""
    rule = mock.fault(kind="task_failure", error_code="service_error", **({"times": 1} if stop == "times" else {}))
    first = mock.created()["id"]
    if stop == "delete_rule":
        mock.admin("DELETE", f"/_mock/faults/{rule['id']}")
    else:
        assert (mock.rule(rule["id"])["fired"], mock.rule(rule["id"])["spent"]) == (1, True)
    second = mock.created()["id"]
    mock.advance(LONG_AFTER)
    assert mock.task(first)["status"] == "failed"
    assert mock.task(second)["status"] == "completed", mock.task(second)


def test_scenario_rule_stuck_keeps_the_task_running(mock: Mock) -> None:
    """A ``stuck`` scenario rule: the next task never finishes and stays reserved."""
    mock.scenario(scenario="stuck", times=1)
    stuck = mock.created()["id"]
    normal = mock.created()["id"]
    mock.advance(2 * 86400)
    assert mock.task(stuck)["status"] in ("pending", "processing"), mock.task(stuck)
    assert mock.admin_task(stuck)["billing"]["state"] == "reserved"
    assert mock.task(normal)["status"] == "completed"


def test_scenario_rule_sets_the_timeline(mock: Mock) -> None:
    """``queue=0;processing=5`` makes the next task finish after 5 s instead of minutes."""
    shaped = mock.scenario(scenario="queue=0;processing=5", times=1)
    assert shaped["kind"] == "scenario" and shaped["scenario"] == "queue=0;processing=5", shaped
    fast = mock.created()["id"]
    slow = mock.created()["id"]
    timeline = mock.admin_task(fast)["timeline"]
    assert timeline["ends"] - timeline["processing_from"] == pytest.approx(5)
    assert timeline["processing_from"] == pytest.approx(timeline["created"])
    mock.advance(6)
    assert mock.task(fast)["status"] == "completed"
    assert mock.task(slow)["status"] != "completed"


def test_scenario_rule_fail_item(mock: Mock) -> None:
    """A ``fail=<code>`` scenario rule fails the task like a task_failure rule."""
    mock.scenario(scenario="fail=resource_exhausted")
    task = settle(mock, mock.created()["id"])
    assert (task["status"], task["error"]["code"]) == ("failed", "resource_exhausted"), task


def test_request_header_wins_over_a_rule_item_by_item(mock: Mock) -> None:
    """X-Mock-Scenario is applied on top of the rule's scenario: the header's items win."""
    mock.scenario(scenario="fail=service_error;queue=0;processing=5")
    by_header = mock.created(scenario="fail=content_policy_violation")["id"]
    longer = mock.created(scenario="processing=400")["id"]
    timeline = mock.admin_task(longer)["timeline"]
    assert timeline["ends"] - timeline["processing_from"] == pytest.approx(400)
    assert mock.admin_task(longer)["outcome"]["fail"] == "service_error"  # the rule's other items stay
    mock.advance(LONG_AFTER)
    assert mock.task(by_header)["error"]["code"] == "content_policy_violation"
    assert mock.task(longer)["error"]["code"] == "service_error"


@pytest.mark.parametrize("refusal", ["rate_limit_on_the_same_request", "invalid_body", "insufficient_quota"])
def test_times_limited_task_rule_is_spent_only_by_a_created_task(mock: Mock, refusal: str) -> None:
    """``task_failure`` with ``times: 1`` fails the next *created* task, even after a refused create."""
    rule = mock.fault(kind="task_failure", error_code="generation_timeout", times=1)
    if refusal == "rate_limit_on_the_same_request":
        mock.fault(kind="rate_limit", route="create", times=1)
        assert mock.create().status_code == 429
    elif refusal == "invalid_body":
        assert mock.create(t2v(prompt="")).status_code == 400
    else:
        assert mock.http.put(f"/_mock/accounts/{KEY}", json={"granted": 1}).status_code == 200
        assert mock.create().status_code == 402
        assert mock.http.put(f"/_mock/accounts/{KEY}", json={"granted": 10000}).status_code == 200
    assert (mock.rule(rule["id"])["fired"], mock.rule(rule["id"])["spent"]) == (0, False)
    task = settle(mock, mock.created()["id"])
    assert task["status"] == "failed" and task["error"]["code"] == "generation_timeout", task


# -- matching --------------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_rule_on_one_route_leaves_the_other_routes_alone(mock: Mock, route: str) -> None:
    """A server_error rule scoped to ``route`` answers 500 there and nowhere else."""
    task_id = mock.completed_task()
    assert {r: hit(mock, r, task_id).status_code for r in ROUTES} == dict.fromkeys(ROUTES, 200)
    rule = mock.fault(kind="server_error", route=route)
    statuses = {r: hit(mock, r, task_id).status_code for r in ROUTES}
    assert statuses == {r: 500 if r == route else 200 for r in ROUTES}
    assert mock.rule(rule["id"])["fired"] == 1


def test_rule_scoped_to_a_model_affects_only_that_models_creates(mock: Mock) -> None:
    """``model: I2V`` on create: image-to-video creates fail, text-to-video and credits do not."""
    rule = mock.fault(kind="server_error", model=I2V)
    assert_error(mock.create(i2v()), 500, "internal_error", "api_error")
    assert mock.create(t2v()).status_code == 200
    assert mock.credits().status_code == 200
    assert mock.rule(rule["id"])["fired"] == 1


def test_rule_scoped_to_a_key_leaves_other_keys_alone(mock: Mock) -> None:
    """``key: KEY``: that key is rate limited on every route, another key is not."""
    mock.fault(kind="rate_limit", key=KEY)
    assert_faulted("rate_limit", mock.create)
    assert_faulted("rate_limit", mock.credits)
    assert mock.create(key=OTHER_KEY).status_code == 200
    assert mock.credits(OTHER_KEY).status_code == 200


def test_task_kinds_act_only_on_create(mock: Mock) -> None:
    """A task_failure rule without a route is not drawn by polls or credits, only by creates."""
    task_id = mock.created()["id"]
    rule = mock.fault(kind="task_failure", error_code="quota_exceeded")
    assert mock.credits().status_code == 200
    assert mock.task(task_id)["status"] in ("pending", "processing")
    assert mock.rule(rule["id"])["fired"] == 0
    failing = mock.created()["id"]
    assert mock.rule(rule["id"])["fired"] == 1
    mock.advance(LONG_AFTER)
    assert mock.task(task_id)["status"] == "completed"
    assert mock.task(failing)["error"]["code"] == "quota_exceeded"


# -- probability ---------------------------------------------------------------------------------
def draw_statuses(emulator_seed: int, **rule: Any) -> list[int]:
    """On a fresh emulator seeded ``emulator_seed``, the statuses of ``ROUNDS`` credits reads under a 50 % rule."""
    with private(seed=emulator_seed) as fresh:
        added = fresh.fault(kind="server_error", route="credits", probability=0.5, **rule)
        statuses = [fresh.credits().status_code for _ in range(ROUNDS)]
        assert set(statuses) <= {200, 500}
        assert fresh.rule(added["id"])["fired"] == statuses.count(500)
        return statuses


def test_probability_is_seeded_and_reproducible() -> None:
    """Same emulator seed and rule -> the same outcomes; another seed or rule seed -> others; about half fire."""
    first = draw_statuses(SEED)
    assert draw_statuses(SEED) == first
    assert draw_statuses(SEED + 1) != first
    assert draw_statuses(SEED, seed=1) != first
    assert 0.2 <= first.count(500) / ROUNDS <= 0.8, first


# -- validation of rule bodies -------------------------------------------------------------------
BAD_RULES = [
    pytest.param("/_mock/faults", {"kind": "explode"}, "kind", id="unknown-kind"),
    pytest.param("/_mock/faults", {"kind": "rate_limit", "colour": "red"}, "colour", id="unknown-field"),
    pytest.param("/_mock/faults", {"kind": "latency"}, "latency_ms", id="latency-without-latency_ms"),
    pytest.param("/_mock/faults", {"kind": "task_failure"}, "error_code", id="task_failure-without-error_code"),
    pytest.param("/_mock/faults", {"kind": "task_failure", "error_code": "not_a_code"}, "not_a_code",
                 id="unknown-error_code"),
    pytest.param("/_mock/faults", {"kind": "scenario", "scenario": "bogus"}, "bogus", id="unknown-scenario-item"),
    pytest.param("/_mock/faults", {"kind": "rate_limit", "probability": 0}, "probability", id="probability-0"),
    pytest.param("/_mock/faults", {"kind": "rate_limit", "probability": 1.5}, "probability", id="probability-1.5"),
    pytest.param("/_mock/faults", {"kind": "rate_limit", "times": 0}, "times", id="times-0"),
    pytest.param("/_mock/faults", {"kind": "server_error", "model": "kling-o9"}, "kling-o9", id="unknown-model"),
    pytest.param("/_mock/faults", {"kind": "task_failure", "error_code": "service_error", "route": "task"},
                 "route", id="task_failure-on-task-route"),
    pytest.param("/_mock/faults", {"kind": "latency", "latency_ms": 10, "route": "nowhere"}, "route",
                 id="unknown-route"),
    pytest.param("/_mock/scenarios", {"scenario": "bogus"}, "bogus", id="scenarios-unknown-item"),
    pytest.param("/_mock/scenarios", {"scenario": "fail=not_a_code"}, "not_a_code", id="scenarios-unknown-code"),
    pytest.param("/_mock/scenarios", {"scenario": "queue=-1"}, "queue", id="scenarios-negative-queue"),
    pytest.param("/_mock/scenarios", {"scenario": "stuck", "route": "task"}, "route", id="scenarios-task-route"),
    pytest.param("/_mock/scenarios", {"scenario": "stuck", "kind": "drop"}, "kind", id="scenarios-unknown-field"),
]


@pytest.mark.parametrize(("path", "body", "named"), BAD_RULES)
def test_invalid_rule_is_a_400_naming_the_problem_and_adds_nothing(mock: Mock, path: str, body: dict[str, Any],
                                                                      named: str) -> None:
    """A bad rule body answers 400 invalid_request naming the field or value, and no rule appears."""
    assert_error(mock.http.post(path, json=body), 400, "invalid_request", "invalid_request_error", named)
    assert mock.faults() == []


def test_deleting_an_unknown_rule_is_a_404(mock: Mock) -> None:
    """``DELETE /_mock/faults/nope`` -> 404 in the error shape, naming the id."""
    error = error_of(mock.http.delete("/_mock/faults/nope"), 404, "nope")
    assert error["code"] == "fault_not_found", error


# -- the scenarios help --------------------------------------------------------------------------
def test_scenarios_help_lists_items_codes_and_active_task_rules(mock: Mock) -> None:
    """GET /_mock/scenarios: every item, every TaskErrorCode of openapi.yaml, the scenario/task_failure rules."""
    mock.fault(kind="rate_limit", route="credits")
    failing = mock.fault(kind="task_failure", error_code="unknown_error", model=T2V)
    scripted = mock.scenario(scenario="stuck", times=2)
    help_ = mock.admin("GET", "/_mock/scenarios")
    assert {item.split("=")[0] for item in help_["items"]} == {"fail", "stuck", "queue", "processing",
                                                               "input_seconds"}
    assert help_["error_codes"] == list(api_contract().task_error_codes)
    assert {rule["id"]: rule["kind"] for rule in help_["rules"]} == {failing["id"]: "task_failure",
                                                                     scripted["id"]: "scenario"}
    mock.admin("DELETE", "/_mock/faults")
    assert mock.admin("GET", "/_mock/scenarios")["rules"] == []


# -- EVOLINK_MOCK_MAX_CONCURRENT -------------------------------------------------------------------
def test_max_concurrent_limits_unfinished_tasks_per_key() -> None:
    """With max_concurrent=2 a key's 3rd unfinished task is a 429 with Retry-After, free of charge."""
    with private(max_concurrent=2) as mock:
        mock.created()
        mock.created()
        before = mock.account()
        refused = mock.create()
        assert_error(refused, 429, "rate_limit_exceeded", "rate_limit_error")
        assert refused.headers.get("Retry-After", "").isdigit(), refused.headers
        assert mock.account() == before
        assert mock.tasks_of() == 2
        assert mock.create(key=OTHER_KEY).status_code == 200
        mock.advance(LONG_AFTER)
        assert mock.create().status_code == 200


# -- admin token -----------------------------------------------------------------------------------
def test_fault_routes_need_the_admin_token_when_one_is_set() -> None:
    """With an admin token, adding or listing rules without the header is a 401 and adds nothing."""
    with private(admin_token="t") as mock:
        for headers in ({}, {"X-Mock-Admin-Token": "wrong"}):
            assert_error(mock.http.post("/_mock/faults", json={"kind": "drop"}, headers=headers), 401,
                         "admin_token_required", "authentication_error", "X-Mock-Admin-Token")
        assert mock.http.post("/_mock/scenarios", json={"scenario": "stuck"}).status_code == 401
        assert mock.http.get("/_mock/faults").status_code == 401
        token = {"X-Mock-Admin-Token": "t"}
        assert mock.http.get("/_mock/faults", headers=token).json() == []
        added = mock.http.post("/_mock/faults", json={"kind": "server_error", "route": "credits"}, headers=token)
        assert added.status_code == 200, added.text
        assert mock.credits().status_code == 500
