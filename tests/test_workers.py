"""Several server processes over one store, and a server killed with SIGKILL: real processes, real signals.

``evolink-mock serve`` runs as a subprocess (uvicorn's multi-process mode for ``--workers``), over a
SQLite file or the suite's private redis-server. A connection stays with the worker that accepted it,
so a test reaches every worker by opening connections until each has answered ``/_mock/health``.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import T2V, free_port

from contracts.receiver import CallbackReceiver
from contracts.server import LiveServer
from mock_server import Settings

PRICE = 27  # a default text-to-video task: 5 s at 720p
BODY = {"model": T2V, "prompt": "a lighthouse at dusk"}


class Served:
    """``evolink-mock serve`` in a subprocess, started and stopped; ``connect()`` opens a connection to it."""

    def __init__(self, store: str, workers: int = 1, *, cwd: Path | None = None, **env: str) -> None:
        self.port = free_port()
        self.workers = workers
        environment = {**os.environ, "EVOLINK_MOCK_SPEED": "0", "EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS": "1", **env}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mock_server", "--store", store, "--workers", str(workers), "--port",
             str(self.port)], env=environment, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log: list[str] = []
        assert self.process.stdout is not None
        started = listening = 0
        for line in self.process.stdout:  # wait until it listens and every worker is up (ends if it exits)
            self.log.append(line)
            started += "Application startup complete" in line
            listening += "Uvicorn running on" in line
            if started == workers and listening:
                break
        else:
            raise RuntimeError("the server did not start:\n" + "".join(self.log))
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.log.append(line)

    def connect(self) -> Connection:
        return Connection(self.port)

    def by_worker(self, per_worker: int = 1, tries: int = 4000) -> dict[str, list[Connection]]:
        """``per_worker`` open connections to each worker (the kernel hands each new one to some worker)."""
        found: dict[str, list[Connection]] = {}
        for _ in range(tries):
            connection = self.connect()
            worker = connection.json("GET", "/_mock/health")[1]["worker"]
            if len(found.setdefault(worker, [])) < per_worker:
                found[worker].append(connection)
            else:
                connection.close()
            if len(found) == self.workers and all(len(c) == per_worker for c in found.values()):
                return found
        raise AssertionError(f"reached only {sorted(found)} in {tries} connections")

    def kill(self) -> None:
        """SIGKILL the server (a single process: no supervisor to restart it)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def __enter__(self) -> Served:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Connection:
    """One keep-alive HTTP connection (so one worker answers all its requests)."""

    def __init__(self, port: int) -> None:
        self.http = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def json(self, method: str, path: str, body: Any = None, key: str | None = None,
             headers: dict[str, str] | None = None) -> tuple[int, Any]:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        if body is not None:
            sent["Content-Type"] = "application/json"
        self.http.request(method, path, body=None if body is None else json.dumps(body), headers=sent)
        response = self.http.getresponse()
        return response.status, json.loads(response.read() or b"null")

    def close(self) -> None:
        self.http.close()


def ledger_is_exact(account: dict[str, Any]) -> bool:
    return account["balance"] + account["reserved"] + account["charged"] == account["granted"]


# -- four workers on Redis ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def four_workers(redis_server: str) -> Iterator[Served]:
    import redis

    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
    with Served(f"{redis_server}/1", workers=4) as served:
        yield served


@pytest.fixture
def workers(four_workers: Served) -> Iterator[dict[str, list[Connection]]]:
    """Four connections to each of the four workers, after a reset."""
    connections = four_workers.by_worker(per_worker=4)
    any_one = next(iter(connections.values()))[0]
    assert any_one.json("POST", "/_mock/reset")[0] == 200
    yield connections
    for group in connections.values():
        for connection in group:
            connection.close()


def test_400_concurrent_creates_over_8_keys_on_four_workers_keep_every_ledger_exact(
        four_workers: Served, workers: dict[str, list[Connection]]) -> None:
    admin = next(iter(workers.values()))[0]
    keys = [f"sk-workers-{k:04d}" for k in range(8)]
    for key in keys:  # credits for 40 tasks each; 50 creates each: 10 must be refused
        assert admin.json("PUT", f"/_mock/accounts/{key}", {"granted": 40 * PRICE})[0] == 200
    lanes = [connection for group in workers.values() for connection in group]  # 4 through each worker
    lanes += [four_workers.connect() for _ in range(16)]  # and 16 to whichever worker takes each
    barrier = threading.Barrier(len(lanes))

    def create(lane: int) -> list[tuple[str, int, Any]]:
        barrier.wait()
        answers = []
        for n in range(lane, 400, len(lanes)):
            key = keys[n % 8]
            answers.append((key, *lanes[lane].json("POST", "/v1/videos/generations", BODY, key)))
        return answers

    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        answers = [a for batch in pool.map(create, range(len(lanes))) for a in batch]
    for lane in lanes[16:]:
        lane.close()
    assert len(answers) == 400
    assert Counter((key, status) for key, status, _ in answers) == Counter(
        {**{(key, 200): 40 for key in keys}, **{(key, 402): 10 for key in keys}})
    assert {body["error"]["code"] for _, status, body in answers if status == 402} == {"insufficient_quota"}
    created = {(body["id"], key) for key, status, body in answers if status == 200}
    assert len(created) == 320 and len({task_id for task_id, _ in created}) == 320  # ids never collide
    for key in keys:
        account = admin.json("GET", f"/_mock/accounts/{key}")[1]
        assert ledger_is_exact(account) and (account["reserved"], account["balance"], account["running"]) == (
            40 * PRICE, 0, 40), account
        ledger = admin.json("GET", f"/_mock/accounts/{key}/ledger")[1]
        reserved = {entry["task_id"] for entry in ledger if entry["kind"] == "reserve"}
        assert reserved == {task_id for task_id, owner in created if owner == key}  # no task unfunded

    def sees_every_task(connection: Connection) -> bool:
        for task_id, key in created:
            status, body = connection.json("GET", f"/v1/tasks/{task_id}", key=key)
            if (status, body["id"], body["status"]) != (200, task_id, "pending"):
                return False
        return True

    with ThreadPoolExecutor(max_workers=4) as pool:
        assert all(pool.map(sees_every_task, [group[0] for group in workers.values()]))


def test_the_clock_a_times_1_fault_settlement_and_reset_are_one_for_all_four_workers(
        workers: dict[str, list[Connection]]) -> None:
    first, *others = [group[0] for group in workers.values()]
    key = "sk-workers-clock"
    tasks = [conn.json("POST", "/v1/videos/generations", BODY, key, {"X-Mock-Scenario": "queue=0;processing=100"})[1]
             for conn in (first, *others) for _ in range(3)]
    assert first.json("POST", "/_mock/clock/advance", {"seconds": 50})[0] == 200
    clocks = {conn.json("GET", "/_mock/clock")[1]["now"] for conn in (first, *others)}
    assert len(clocks) == 1
    for conn in others:  # advanced on the first worker: every worker answers from the same time
        assert {conn.json("GET", f"/v1/tasks/{t['id']}", key=key)[1]["progress"] for t in tasks} == {50}
    assert first.json("POST", "/_mock/faults", {"kind": "server_error", "route": "task", "times": 1})[0] == 200
    statuses = [conn.json("GET", f"/v1/tasks/{t['id']}", key=key)[0] for t in tasks for conn in (first, *others)]
    assert sorted(statuses) == [200] * (len(statuses) - 1) + [500]  # fired once in all
    assert [rule["fired"] for rule in others[-1].json("GET", "/_mock/faults")[1]] == [1]
    assert others[0].json("POST", "/_mock/clock/advance", {"seconds": 60})[0] == 200
    for conn in (first, *others):
        assert {conn.json("GET", f"/v1/tasks/{t['id']}", key=key)[1]["status"] for t in tasks} == {"completed"}
        account = conn.json("GET", f"/_mock/accounts/{key}")[1]
        assert (account["charged"], account["reserved"], account["running"]) == (12 * PRICE, 0, 0), account
    ledger = first.json("GET", f"/_mock/accounts/{key}/ledger")[1]
    assert Counter(entry["kind"] for entry in ledger) == {"grant": 1, "reserve": 12, "charge": 12}  # settled once
    assert others[1].json("POST", "/_mock/reset")[0] == 200
    for conn in (first, *others):
        assert conn.json("GET", "/_mock/health")[1]["tasks"] == 0
        assert conn.json("GET", f"/_mock/accounts/{key}")[0] == 404
        assert conn.json("GET", "/_mock/faults")[1] == []
    for conn in (first, *others):  # (a request with the key opens its account again)
        assert conn.json("GET", f"/v1/tasks/{tasks[0]['id']}", key=key)[0] == 404


# -- a delivering worker killed ------------------------------------------------------------------------------
def test_a_killed_workers_callback_attempt_lapses_and_another_worker_retries_it_once(redis_url: str) -> None:
    key = "sk-workers-lease"
    with Served(redis_url, workers=2) as served, CallbackReceiver() as hook:
        hook.script("hang")  # the first delivery never gets an answer; later ones get 200
        connections = served.by_worker()
        client = next(iter(connections.values()))[0]
        status, task = client.json("POST", "/v1/videos/generations", {**BODY, "callback_url": hook.url}, key,
                                   {"X-Mock-Scenario": "queue=0;processing=10"})
        assert status == 200, task
        assert client.json("POST", "/_mock/clock/advance", {"seconds": 10})[0] == 200
        hook.wait_for(1)
        [first] = client.json("GET", f"/_mock/callbacks?task_id={task['id']}")[1]
        assert first["state"] == "in_flight" and first["worker"] in connections
        os.kill(int(first["worker"].rsplit(":", 1)[1]), signal.SIGKILL)  # in the middle of its delivery
        survivor = next(group[0] for worker, group in connections.items() if worker != first["worker"])
        assert survivor.json("POST", "/_mock/clock/advance", {"seconds": 20})[0] == 200  # past the 15 s lease
        hook.wait_for(2)
        status, attempts = survivor.json("GET", f"/_mock/callbacks?task_id={task['id']}&wait=10")
        assert [(a["attempt"], a["state"]) for a in attempts] == [(1, "failed"), (2, "delivered")], attempts
        lapsed, retried = attempts
        assert lapsed["worker"] == first["worker"] and lapsed["error"].startswith("lapsed")
        assert lapsed["finished_at"] == first["at"] + 15 and retried["at"] >= lapsed["finished_at"] + 1
        assert retried["worker"] != first["worker"] and retried["status_code"] == 200
        assert [call.json()["id"] for call in hook.received] == [task["id"]] * 2
        assert survivor.json("POST", "/_mock/clock/advance", {"seconds": 3600})[0] == 200
        assert len(survivor.json("GET", f"/_mock/callbacks?task_id={task['id']}&wait=10")[1]) == 2


# -- SIGKILL under load on SQLite -----------------------------------------------------------------------------
def test_a_server_killed_under_load_restarts_on_its_sqlite_file_with_every_answered_task(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'state.db'}"
    keys = [f"sk-crash-{k:04d}" for k in range(4)]
    answered: dict[str, tuple[str, str]] = {}  # task id -> (key, status it must have)
    wrong: list[Any] = []  # answers other than 200 before the kill
    enough = threading.Condition()
    with Served(store) as served:

        def load(lane: int) -> None:
            connection, n = served.connect(), 0
            try:
                while True:
                    key, fails = keys[lane % 4], n % 3 == 0
                    scenario = "queue=0;fail=content_policy_violation" if fails else "queue=600"
                    status, body = connection.json("POST", "/v1/videos/generations", BODY, key,
                                                   {"X-Mock-Scenario": scenario})
                    if status != 200:
                        wrong.append(body)
                        return
                    with enough:
                        answered[body["id"]] = (key, "failed" if fails else "pending")
                        enough.notify_all()
                    status, body = connection.json("GET", f"/v1/tasks/{body['id']}", key=key)
                    if status != 200:
                        wrong.append(body)
                        return
                    n += 1
            except (OSError, http.client.HTTPException):
                return  # the server is gone

        lanes = [threading.Thread(target=load, args=(lane,)) for lane in range(8)]
        for lane in lanes:
            lane.start()
        with enough:
            assert enough.wait_for(lambda: len(answered) >= 300, timeout=60)
        served.kill()  # SIGKILL, while the lanes still create and poll
        for lane in lanes:
            lane.join(30)
    assert wrong == []
    with Served(store) as again:
        connection = again.connect()
        for task_id, (key, status) in answered.items():
            code, body = connection.json("GET", f"/v1/tasks/{task_id}", key=key)
            assert (code, body["status"]) == (200, status), (task_id, body)
        for key in keys:
            account = connection.json("GET", f"/_mock/accounts/{key}")[1]
            tasks = connection.json("GET", f"/_mock/tasks?key={key}&limit=1000")[1]["tasks"]
            assert {t["task"]["id"] for t in tasks} >= {i for i, (owner, _) in answered.items() if owner == key}
            pending = sum(t["task"]["status"] == "pending" for t in tasks)
            assert ledger_is_exact(account) and account["reserved"] == pending * PRICE, account
            assert account["charged"] == 0 and account["running"] == pending
            ledger = connection.json("GET", f"/_mock/accounts/{key}/ledger")[1]
            kinds = Counter(entry["kind"] for entry in ledger)
            assert kinds == {"grant": 1, "reserve": len(tasks), "refund": len(tasks) - pending}, kinds


# -- settings ---------------------------------------------------------------------------------------------------
def test_several_workers_over_the_memory_store_are_refused_naming_both_settings() -> None:
    result = subprocess.run([sys.executable, "-m", "mock_server", "--workers", "2", "--port", str(free_port())],
                            capture_output=True, text=True, timeout=60, env={**os.environ, "EVOLINK_MOCK_STORE": ""})
    assert result.returncode == 2
    assert "EVOLINK_MOCK_WORKERS" in result.stderr and "EVOLINK_MOCK_STORE" in result.stderr, result.stderr


@pytest.mark.parametrize(("store", "workers", "loop"), [
    ("memory", 1, "uvloop"), ("sqlite:///state.db", 1, "asyncio"), ("redis://127.0.0.1:6379/0", 1, "asyncio"),
    ("sqlite:///state.db", 2, "uvloop"), ("redis://127.0.0.1:6379/0", 4, "uvloop")])
def test_auto_runs_asyncio_for_one_process_over_a_shared_store(store: str, workers: int, loop: str) -> None:
    assert Settings(store=store, workers=workers).checked().event_loop == loop
    for chosen in ("asyncio", "uvloop"):  # a chosen loop wins
        assert Settings(store=store, workers=workers, loop=chosen).checked().event_loop == chosen


def test_the_server_process_runs_the_loop_the_settings_name(tmp_path: Path) -> None:
    """Whether the serving process loaded uvloop at all (its memory map): auto, and a choice that overrides it."""
    cases = [("memory", {}, True), (f"sqlite:///{tmp_path / 'a.db'}", {}, False),
             (f"sqlite:///{tmp_path / 'b.db'}", {"EVOLINK_MOCK_LOOP": "uvloop"}, True),
             ("memory", {"EVOLINK_MOCK_LOOP": "asyncio"}, False)]
    for store, env, loaded in cases:
        with Served(store, **env) as served:
            assert served.connect().json("GET", "/_mock/health")[0] == 200
            assert ("uvloop" in Path(f"/proc/{served.process.pid}/maps").read_text()) is loaded, (store, env)


def test_the_live_server_runs_the_loop_of_its_settings(tmp_path: Path) -> None:
    for settings, module in ((Settings(speed=0), "uvloop"), (Settings(speed=0, store=f"sqlite:///{tmp_path / 's.db'}"),
                                                             "asyncio")):
        with LiveServer(settings) as server:
            assert type(server.app.state.loop).__module__.split(".")[0] == module


@pytest.mark.parametrize(("argv", "env", "said"), [
    (["--loop", "tokio"], {}, "invalid choice: 'tokio'"),
    ([], {"EVOLINK_MOCK_LOOP": "tokio"}, "EVOLINK_MOCK_LOOP must be auto, asyncio or uvloop (got 'tokio')")])
def test_an_unknown_event_loop_is_refused(argv: list[str], env: dict[str, str], said: str) -> None:
    result = subprocess.run([sys.executable, "-m", "mock_server", *argv, "--port", str(free_port())],
                            capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert result.returncode == 2 and said in result.stderr, result.stderr


def test_a_relative_sqlite_url_is_a_file_in_the_working_directory(tmp_path: Path) -> None:
    with Served("sqlite:///state.db", cwd=tmp_path) as served:
        assert "sqlite store, sqlite:///state.db" in served.log[0], served.log  # the banner names the file
        connection = served.connect()
        assert connection.json("GET", "/_mock/health")[1]["store"] == "sqlite"
        assert connection.json("POST", "/v1/videos/generations", BODY, "sk-relative-0001")[0] == 200
    assert (tmp_path / "state.db").is_file()
    assert not (tmp_path / "state.db-wal").exists()  # stopped: checkpointed into the file, which alone holds it all
    copy = tmp_path / "copy.db"
    copy.write_bytes((tmp_path / "state.db").read_bytes())
    with contextlib.closing(sqlite3.connect(copy)) as db:
        assert db.execute("SELECT count(*) FROM tasks").fetchone() == (1,)
    with Served(f"sqlite:///{tmp_path / 'state.db'}") as again:  # the same file, named absolutely
        assert again.connect().json("GET", "/_mock/health")[1]["tasks"] == 1
