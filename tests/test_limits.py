"""Bounds and shutdown: memory stays bounded, and stopping the server finishes or logs callbacks."""
from __future__ import annotations

import httpx
from conftest import T2V

from contracts.receiver import CallbackReceiver
from contracts.server import LiveServer
from mock_server import Emulator, Settings
from mock_server.core.callbacks import CallbackAttempt
from mock_server.store.memory import MemoryStore

BODY = {"model": T2V, "prompt": "bounded"}


def test_the_oldest_finished_tasks_are_forgotten_beyond_max_tasks() -> None:
    emulator = Emulator(Settings(speed=0, seed=1, max_tasks=5))
    account = emulator.authenticate("Bearer sk-limits-00000001")
    first = [emulator.create_task(account, dict(BODY))[0].id for _ in range(5)]
    emulator.advance(3600)  # all five finish
    later = [emulator.create_task(account, dict(BODY))[0].id for _ in range(3)]
    assert emulator.task_count() == 5
    assert [emulator.find_task(i) is None for i in first] == [True, True, True, False, False]
    assert all(emulator.find_task(i) is not None for i in later)
    account = emulator.account(account.key)
    assert account.charged == 5 * 27 and account.reserved == 3 * 27  # forgetting moves no credits


def test_running_tasks_are_never_forgotten() -> None:
    emulator = Emulator(Settings(speed=0, seed=1, max_tasks=2))
    account = emulator.authenticate("Bearer sk-limits-00000002")
    stuck = [emulator.create_task(account, dict(BODY), "stuck")[0].id for _ in range(4)]
    assert emulator.task_count() == 4  # over the bound: their credits are still reserved
    assert all(emulator.find_task(i) is not None for i in stuck)


def test_a_forgotten_task_is_404_over_http() -> None:
    with LiveServer(Settings(speed=0, max_tasks=1)) as server, httpx.Client(
            base_url=server.base_url, headers={"Authorization": "Bearer sk-limits-00000003"}) as http:
        old = http.post("/v1/videos/generations", json=BODY).json()["id"]
        http.post("/_mock/clock/advance", json={"seconds": 3600})
        http.post("/v1/videos/generations", json=BODY)
        gone = http.get(f"/v1/tasks/{old}")
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "task_not_found"


def test_the_callback_log_keeps_the_last_attempts() -> None:
    store = MemoryStore(max_attempts=3)
    for n in range(5):
        store.schedule_callback(CallbackAttempt(f"task-{n}", 1, "https://hooks.example.com/x", float(n)))
    store.claim_callbacks(10.0, lambda attempt: attempt._replace(at=10.0))
    assert [a.task_id for a in store.callbacks()] == ["task-2", "task-3", "task-4"]


def _stop_with_one_attempt_in_flight(answer: str) -> dict:
    """Create a task whose callback gets ``answer``, stop the server while it is in flight."""
    settings = Settings(speed=0, allow_local_callbacks=True)
    with CallbackReceiver() as hook:
        hook.script(answer)
        server = LiveServer(settings).start()
        with httpx.Client(base_url=server.base_url, headers={"Authorization": "Bearer sk-limits-00000004"}) as http:
            task = http.post("/v1/videos/generations", headers={"X-Mock-Scenario": "queue=0;processing=1"},
                             json={**BODY, "callback_url": hook.url}).json()
            http.post("/_mock/clock/advance", json={"seconds": 2})
        hook.wait_for(1)  # the attempt reached the receiver: it is in flight
        server.stop()
        [attempt] = server.emulator.callbacks(task["id"])
    return {"state": attempt.state, "status_code": attempt.status_code, "error": attempt.error}


def test_shutdown_lets_an_attempt_in_flight_finish() -> None:
    assert _stop_with_one_attempt_in_flight("slow") == {"state": "delivered", "status_code": 200, "error": None}


def test_shutdown_logs_an_attempt_that_does_not_finish_in_time() -> None:
    result = _stop_with_one_attempt_in_flight("hang")
    assert result["state"] == "failed" and result["error"] == "cut: the emulator shut down"
