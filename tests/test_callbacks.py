"""Callbacks to a real local receiver: delivery after billing, retries on the mock clock,
timeouts, refusals and resets, failed and cancelled tasks, manual redelivery; on every store."""
from __future__ import annotations

import itertools
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import T2V

from contracts.receiver import CallbackReceiver
from contracts.server import LiveServer
from mock_server import Settings
from mock_server.core import ledger
from mock_server.core.service import Emulator
from mock_server.store import open_store

KEY = "sk-callbacks-0001"


class Harness:
    """A live emulator (manual clock, local callbacks allowed), a receiver and a client."""

    def __init__(self, server: LiveServer, hook: CallbackReceiver) -> None:
        self.server, self.hook = server, hook
        self.http = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30)

    def create(self, url: str | None = None, scenario: str = "queue=0;processing=60") -> dict[str, Any]:
        response = self.http.post("/v1/videos/generations", headers={"X-Mock-Scenario": scenario},
                                  json={"model": T2V, "prompt": "a harbour", "callback_url": url or self.hook.url})
        assert response.status_code == 200, response.text
        return response.json()

    def advance(self, seconds: float, wait: bool = True) -> None:
        """Move the clock; then (by default) wait for the deliveries that became due."""
        assert self.http.post("/_mock/clock/advance", json={"seconds": seconds}).status_code == 200
        if wait:
            self.http.get("/_mock/callbacks", params={"wait": 10})

    def attempts(self, task_id: str, wait: float = 10) -> list[dict[str, Any]]:
        """The task's attempts once nothing is due or in flight (bounded wait, no sleeping)."""
        response = self.http.get("/_mock/callbacks", params={"task_id": task_id, "wait": wait})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    store = {"memory": "memory", "sqlite": f"sqlite:///{tmp_path / 'state.db'}"}.get(request.param) \
        or request.getfixturevalue("redis_url")
    settings = Settings(speed=0, allow_local_callbacks=True, seed=2, store=store)
    with LiveServer(settings) as server, CallbackReceiver() as hook:
        harness = Harness(server, hook)
        yield harness
        harness.http.close()


def test_one_delivery_on_success_with_the_task_body(h: Harness) -> None:
    task = h.create()
    h.advance(59)
    assert h.attempts(task["id"]) == [] and h.hook.received == []
    h.advance(1)
    [attempt] = h.attempts(task["id"])
    assert (attempt["attempt"], attempt["state"], attempt["status_code"]) == (1, "delivered", 200)
    assert attempt["url"] == h.hook.url and "error" not in attempt
    [call] = h.hook.received
    assert call.headers["Content-Type"] == "application/json"
    assert call.json() == h.http.get(f"/v1/tasks/{task['id']}").json()
    assert call.json()["status"] == "completed" and call.json()["results"]
    h.advance(3600)
    assert len(h.attempts(task["id"])) == 1 and len(h.hook.received) == 1  # no duplicate


def test_callback_goes_out_after_billing_is_settled(h: Harness) -> None:
    seen: dict[str, Any] = {}
    original = h.hook._record  # noqa: SLF001 - wrapped to read the ledger at the moment of delivery

    def record_with_ledger(item: Any) -> None:  # a real receiver asking the emulator, as an app would
        seen.update(httpx.get(f"{h.server.base_url}/_mock/accounts/{KEY}").json())
        original(item)

    h.hook._record = record_with_ledger  # type: ignore[method-assign]  # noqa: SLF001
    h.create()
    h.advance(60)
    h.hook.wait_for(1)
    assert seen["charged"] == 27 and seen["reserved"] == 0


def test_500_500_200_gives_three_attempts_one_then_two_seconds_apart(h: Harness) -> None:
    h.hook.script(500, 500, 200)
    task = h.create()
    h.advance(60)
    first = h.attempts(task["id"])
    assert [(a["attempt"], a["status_code"]) for a in first] == [(1, 500)]
    h.advance(0.5)
    assert len(h.attempts(task["id"])) == 1  # the retry is not due before 1 s
    h.advance(0.5)
    h.advance(2)
    attempts = h.attempts(task["id"])
    assert [(a["attempt"], a["state"], a["status_code"]) for a in attempts] == [
        (1, "failed", 500), (2, "failed", 500), (3, "delivered", 200)]
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(attempts)]
    assert gaps == pytest.approx([1.0, 2.0])
    h.advance(100)
    assert len(h.attempts(task["id"])) == 3 and len(h.hook.received) == 3


def test_always_500_gives_four_attempts_and_stops(h: Harness) -> None:
    h.hook.script(*[500] * 10)
    task = h.create()
    h.advance(60)
    for seconds in (1, 2, 4):
        h.advance(seconds)
        h.attempts(task["id"])
    attempts = h.attempts(task["id"])
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4] and {a["status_code"] for a in attempts} == {500}
    assert [b["at"] - a["at"] for a, b in itertools.pairwise(attempts)] == pytest.approx([1.0, 2.0, 4.0])
    h.advance(3600)
    assert len(h.attempts(task["id"])) == 4 and len(h.hook.received) == 4


def test_hanging_receiver_is_cut_after_10_s_of_mock_time_while_the_api_answers(h: Harness) -> None:
    h.hook.script("hang")
    task = h.create()
    h.advance(60, wait=False)
    h.hook.wait_for(1)
    # The attempt is in flight; the API is not blocked by it.
    response = h.http.get("/_mock/callbacks", params={"task_id": task["id"]})
    assert response.headers["X-Mock-Callbacks-Pending"] == "1"
    assert [a["state"] for a in response.json()] == ["in_flight"]
    assert h.http.get(f"/v1/tasks/{task['id']}").json()["status"] == "completed"
    assert h.http.get("/v1/credits").status_code == 200
    h.advance(9.5, wait=False)
    assert h.http.get("/_mock/callbacks", params={"task_id": task["id"]}).json()[0]["state"] == "in_flight"
    h.advance(0.5, wait=False)
    [cut] = h.attempts(task["id"])
    assert cut["state"] == "failed" and cut["error"].startswith("timeout") and "status_code" not in cut
    h.advance(1)
    attempts = h.attempts(task["id"])
    assert [(a["attempt"], a["state"]) for a in attempts] == [(1, "failed"), (2, "delivered")]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("trouble", ["refused", "reset"])
def test_refusing_or_resetting_receivers_are_logged_and_retried(h: Harness, trouble: str) -> None:
    if trouble == "reset":
        h.hook.script("reset", "reset", "reset", "reset")
        url = h.hook.url
    else:
        url = f"http://127.0.0.1:{_closed_port()}/hook"
    task = h.create(url)
    h.advance(60)
    for seconds in (1, 2, 4):
        h.advance(seconds)
        h.attempts(task["id"])
    attempts = h.attempts(task["id"])
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert all(a["state"] == "failed" and a["error"] and "status_code" not in a for a in attempts)
    assert h.http.get("/_mock/health").status_code == 200


@pytest.mark.parametrize(("scenario", "code"), [("queue=0;processing=60;fail=generation_timeout", "generation_timeout"),
                                                ("queue=0;fail=content_policy_violation", "content_policy_violation")])
def test_failed_tasks_deliver_their_error(h: Harness, scenario: str, code: str) -> None:
    task = h.create(scenario=scenario)
    h.advance(60)
    [attempt] = h.attempts(task["id"])
    assert attempt["status_code"] == 200
    body = h.hook.received[0].json()
    assert body["status"] == "failed" and body["error"]["code"] == code and "results" not in body
    assert h.http.get(f"/_mock/accounts/{KEY}").json()["charged"] == 0


def test_cancelled_task_delivers_request_cancelled_at_once(h: Harness) -> None:
    task = h.create()
    h.advance(30)
    assert h.http.post(f"/_mock/tasks/{task['id']}/cancel").status_code == 200
    [attempt] = h.attempts(task["id"])
    body = h.hook.received[0].json()
    assert attempt["status_code"] == 200 and body["error"]["code"] == "request_cancelled"
    line = h.http.get(f"/_mock/tasks/{task['id']}").json()["timeline"]
    frozen = int(100 * (line["cancelled_at"] - line["processing_from"]) / 60)
    assert body["progress"] == frozen and 49 <= frozen <= 51  # where it was: about 30 of 60 s
    ledger = h.http.get(f"/_mock/accounts/{KEY}").json()
    assert (ledger["balance"], ledger["reserved"], ledger["charged"]) == (10000, 0, 0)


def test_manual_redelivery_sends_once_more(h: Harness) -> None:
    task = h.create()
    h.advance(60)
    h.attempts(task["id"])
    response = h.http.post(f"/_mock/callbacks/{task['id']}/redeliver")
    assert response.status_code == 200 and response.json()["manual"] is True
    attempts = h.attempts(task["id"])
    assert [(a["attempt"], a["manual"], a["status_code"]) for a in attempts] == [(1, False, 200), (2, True, 200)]
    assert len(h.hook.received) == 2


def test_manual_redelivery_is_not_retried(h: Harness) -> None:
    task = h.create()
    h.advance(60)
    h.attempts(task["id"])
    h.hook.script(500)
    h.http.post(f"/_mock/callbacks/{task['id']}/redeliver")
    h.attempts(task["id"])
    h.advance(10)
    assert [a["status_code"] for a in h.attempts(task["id"])] == [200, 500]


def test_redelivery_needs_a_finished_task_with_a_callback(h: Harness) -> None:
    running = h.create()
    assert h.http.post(f"/_mock/callbacks/{running['id']}/redeliver").status_code == 409
    plain = h.http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"}).json()
    h.advance(3600)
    response = h.http.post(f"/_mock/callbacks/{plain['id']}/redeliver")
    assert response.status_code == 409 and "no callback_url" in response.json()["error"]["message"]
    assert h.http.post("/_mock/callbacks/task-unified-1234567890-zzzzzzzz/redeliver").status_code == 404


def test_attempts_appear_in_the_tasks_admin_view(h: Harness) -> None:
    task = h.create()
    h.advance(60)
    h.attempts(task["id"])
    view = h.http.get(f"/_mock/tasks/{task['id']}").json()
    assert [(a["attempt"], a["status_code"]) for a in view["callbacks"]] == [(1, 200)]


def test_a_running_clock_delivers_without_anyone_advancing_it() -> None:
    with LiveServer(Settings(speed=1000, allow_local_callbacks=True)) as server, CallbackReceiver() as hook, \
            httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {KEY}"}) as http:
        response = http.post("/v1/videos/generations", headers={"X-Mock-Scenario": "queue=0;processing=2"},
                             json={"model": T2V, "prompt": "p", "callback_url": hook.url})
        assert response.status_code == 200
        [call] = hook.wait_for(1, timeout=10)
        assert call.json()["id"] == response.json()["id"] and call.json()["status"] == "completed"


def test_bad_wait_parameter_is_400(h: Harness) -> None:
    for value in ("-1", "abc", "61"):
        response = h.http.get("/_mock/callbacks", params={"wait": value})
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request"


def test_a_stored_url_no_client_can_send_to_fails_its_attempt_instead_of_hanging(tmp_path: Path) -> None:
    """A task kept from before the create rule refused such hosts (``callback_url`` of a SQLite file):
    its attempts fail with httpx's reason, as a refused connection's do; none stays in flight."""
    settings = Settings(speed=0, allow_local_callbacks=True, seed=3, store=f"sqlite:///{tmp_path / 'old.db'}")
    store = open_store(settings.store)
    emulator = Emulator(settings, store=store)
    account = emulator.ensure_account(KEY)
    task, _ = emulator.create_task(account, {"model": T2V, "prompt": "a harbour"}, "queue=0;processing=60")
    old = task._replace(id=task.id[:-1] + ("a" if task.id[-1] != "a" else "b"), seq=store.next_number("task"),
                        callback_url="https://xn--zz.com/hook")
    store.create_task(old, lambda held: ledger.reserve(held, old, old.created, None))
    emulator.close()
    with LiveServer(settings) as server, CallbackReceiver() as hook:
        h = Harness(server, hook)
        h.advance(60)
        for seconds in (1, 2, 4):
            h.advance(seconds)
        attempts = h.attempts(old.id)
        assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
        assert all(a["state"] == "failed" and "A-label" in a["error"] for a in attempts), attempts
        assert h.http.get("/_mock/callbacks", params={"wait": 5}).headers["x-mock-callbacks-pending"] == "0"
        assert hook.received == []
        h.http.close()
