"""The schemathesis conformance suite, in-process (imported from the kit), and the contract command
against live servers: a healthy one conforms, a deliberately broken one is caught."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.contract_command import DEFAULT_KEY
from contracts.contract_tests import (  # noqa: F401
    TestApiWorkflows,
    admin,
    test_admin_operation,
    test_api_operation,
    test_create_per_model,
)
from contracts.server import LiveServer
from mock_server import Settings

Scope = dict[str, Any]


def _without_usage(app: Callable) -> Callable:
    """A broken emulator: its create answers lack the documented ``usage`` object."""

    async def broken(scope: Scope, receive: Callable, send: Callable) -> None:
        is_create = scope["type"] == "http" and scope["path"] == "/v1/videos/generations"
        start: dict = {}

        async def patched(message: dict) -> None:
            if not is_create:
                await send(message)
            elif message["type"] == "http.response.start":
                start.update(message)
            else:
                body = json.loads(message["body"])
                body.pop("usage", None)
                data = json.dumps(body).encode()
                headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
                await send({**start, "headers": [*headers, (b"content-length", str(len(data)).encode())]})
                await send({"type": "http.response.body", "body": data})

        await app(scope, receive, patched)

    return broken


EVOLINK_MOCK = str(Path(sys.executable).with_name("evolink-mock"))


def _contract(base_url: str, *options: str, tests: str = "api_operation or Workflows") -> subprocess.CompletedProcess:
    return subprocess.run([EVOLINK_MOCK, "contract", "--base-url", base_url, "--max-examples", "5", *options,
                           "--", "-k", tests, "-x"], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("broken", [False, True], ids=["healthy", "broken"])
def test_contract_command_against_a_live_server(broken: bool) -> None:
    with LiveServer(Settings(speed=0), wrap=_without_usage if broken else None) as server:
        result = _contract(server.base_url)
    if broken:
        assert result.returncode == 1, result.stdout[-2000:]
        assert "usage" in result.stdout and "POST /v1/videos/generations" in result.stdout
    else:
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]


def test_contract_command_refuses_a_server_that_is_not_an_emulator() -> None:
    result = subprocess.run([EVOLINK_MOCK, "contract", "--base-url", "http://127.0.0.1:9"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "cannot reach" in result.stderr


def test_the_in_process_suite_fuzzes_every_admin_operation() -> None:
    methods = {result.ok().method.upper() for result in admin.get_all_operations()}
    assert methods == {"GET", "POST", "PUT", "DELETE"}


USER_KEY = "sk-user-development-0001"


def _state(server: LiveServer) -> tuple[list, list, list, float]:
    """Every account and task but the suite's, every fault rule, and mock time."""
    emulator = server.emulator
    return ([account for account in emulator.accounts() if account.key != DEFAULT_KEY],
            [task for task in emulator.tasks() if task.key != DEFAULT_KEY], emulator.faults(), emulator.now())


def _noting_admin_requests(seen: list[tuple[str, str]]) -> Callable[[Callable], Callable]:
    """A wrapper noting the method and path of every admin request the app answers."""

    def wrap(app: Callable) -> Callable:
        async def noted(scope: Scope, receive: Callable, send: Callable) -> None:
            if scope["type"] == "http" and scope["path"].startswith("/_mock/"):
                seen.append((scope["method"], scope["path"]))
            await app(scope, receive, send)

        return noted

    return wrap


def test_a_default_contract_run_leaves_the_server_s_other_state_alone() -> None:
    seen: list[tuple[str, str]] = []
    with LiveServer(Settings(speed=0), wrap=_noting_admin_requests(seen)) as server:
        user = httpx.Client(base_url=server.base_url, headers={"Authorization": f"Bearer {USER_KEY}"})
        created = user.post("/v1/videos/generations", json={"model": "kling-o3-text-to-video", "prompt": "a fox"})
        rule = user.post("/_mock/faults", json={"kind": "task_failure", "key": USER_KEY,
                                                "error_code": "content_policy_violation"})
        shared = user.post("/_mock/faults", json={"kind": "latency", "latency_ms": 1, "route": "files"})
        assert created.status_code == rule.status_code == shared.status_code == 200
        before = _state(server)
        seen.clear()
        result = _contract(server.base_url, tests="not per_model")
        after = _state(server)
        suite_tasks = server.emulator.tasks(DEFAULT_KEY)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert after == before and suite_tasks
    assert [request for request in seen if request[0] != "GET"] == [("PUT", f"/_mock/accounts/{DEFAULT_KEY}")]
    assert {"/_mock/clock", "/_mock/models", "/_mock/scenarios", "/_mock/faults"} <= {path for _, path in seen}
    assert f"fire the fault rules that apply to every key (spending their 'times') and may fail by them: " \
           f"{shared.json()['id']}" in result.stderr


def test_contract_admin_writes_warns_and_clears_the_fault_rules_it_added() -> None:
    with LiveServer(Settings(speed=0)) as server:
        result = _contract(server.base_url, "--admin-writes", tests="admin_operation")
        left = server.emulator.faults()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "warning: --admin-writes resets" in result.stderr
    assert left == []
