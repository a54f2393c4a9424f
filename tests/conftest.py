"""Shared fixtures: one real uvicorn emulator per test session (manual clock), a private redis-server."""
from __future__ import annotations

import contextlib
import logging
import os
import queue
import re
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from contracts.server import LiveServer
from mock_server import Settings
from mock_server.families import registry

#: ``make test-deep`` (``EVOLINK_CONTRACT_DEEP=1``): every per-model case on every model, not a sample.
DEEP = os.environ.get("EVOLINK_CONTRACT_DEEP", "") not in ("", "0")
T2V = "kling-o3-text-to-video"
I2V = "kling-o3-image-to-video"
REF = "kling-o3-reference-to-video"
EDIT = "kling-o3-video-edit"


def representative_models() -> list[str]:
    """A few models that stand for all 74: the first of each family, then, in contract order, each
    model that brings a capability, a create-answer shape, a billing unit or a duration kind the
    ones before it lacked."""
    chosen: list[str] = []
    seen: set[tuple[str, object]] = set()
    for spec in registry().values():
        traits = {("family", spec.family), ("shape", spec.create_shape), ("unit", spec.unit),
                  ("billed", spec.billed), ("durations", bool(spec.durations.ranges)),
                  ("specials", bool(spec.durations.values) and bool(spec.durations.ranges))}
        traits |= {("capability", capability) for capability in spec.capabilities}
        if traits - seen:
            chosen.append(spec.id)
            seen |= traits
    return chosen


def wait_for_line(proc: subprocess.Popen, needle: str, timeout: float) -> str:
    """Block until the process prints a line containing ``needle`` (a reader thread feeds a queue)."""
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout or ()], daemon=True).start()
    seen = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=left)
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"never saw {needle!r}; output was:\n{''.join(seen)}")


@contextlib.contextmanager
def serving(command: list[str], env: Mapping[str, str], cwd: Path | None = None) -> Iterator[str]:
    """Run an ``evolink-mock serve`` command until the block ends; yields its base URL (from uvicorn's line)."""
    proc = subprocess.Popen(command, cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        running = wait_for_line(proc, "Uvicorn running on", timeout=60)
        found = re.search(r"http://127\.0\.0\.1:\d+", running)
        assert found is not None, running
        yield found.group(0)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


class Api:
    """An httpx client for one fresh API key on the session's live emulator."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.key = f"sk-test-{uuid.uuid4().hex}"
        self.http = httpx.Client(base_url=server.base_url, timeout=30, verify=False,
                                 headers={"Authorization": f"Bearer {self.key}"})

    def create(self, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.post("/v1/videos/generations", json=body, headers=headers)

    def created(self, body: dict[str, Any], **headers: str) -> dict[str, Any]:
        """Create and insist on a 200."""
        response = self.create(body, **headers)
        assert response.status_code == 200, response.text
        return response.json()

    def task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/v1/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def advance(self, seconds: float) -> float:
        response = self.http.post("/_mock/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text
        return response.json()["now"]

    def account(self, key: str | None = None) -> dict[str, Any]:
        response = self.http.get(f"/_mock/accounts/{key or self.key}")
        assert response.status_code == 200, response.text
        return response.json()

    def grant(self, credits: float, key: str | None = None, **extra: Any) -> dict[str, Any]:
        response = self.http.put(f"/_mock/accounts/{key or self.key}", json={"granted": credits, **extra})
        assert response.status_code == 200, response.text
        return response.json()

    def admin_task(self, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/_mock/tasks/{task_id}")
        assert response.status_code == 200, response.text
        return response.json()


def assert_error(response: httpx.Response, status: int, code: str, type_: str, *fragments: str) -> dict:
    """The answer is the API's error shape with this status, code, type and message fragments."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "type"}, body
    assert (body["error"]["code"], body["error"]["type"]) == (code, type_), body
    for fragment in fragments:
        assert fragment in body["error"]["message"], (fragment, body)
    return body["error"]


@pytest.fixture(scope="session")
def server() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, seed=7)) as live:
        yield live


@pytest.fixture
def api(server: LiveServer) -> Iterator[Api]:
    client = Api(server)
    yield client
    client.http.close()


def free_port() -> int:
    """A TCP port nothing listens on now (on 127.0.0.1)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class ServerErrors(logging.Filter):
    """Records ERROR lines (an unhandled exception's traceback) the server's thread logs."""

    def __init__(self, thread_name: str) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and record.threadName == self.thread_name:
            self.records.append(record)
        return True

    def lines(self, start: int = 0) -> list[str]:
        """Each recorded message with the exception it reports."""
        return [f"{r.getMessage().strip()} {r.exc_info[1]!r}" if r.exc_info else r.getMessage()
                for r in self.records[start:]]


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A private redis-server on a free port for this test process, without persistence: its base URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (Debian package redis-server; .ci/run installs it)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--loglevel", "notice"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    output = []
    for line in process.stdout:  # wait for the server to say so (ends if it exits)
        output.append(line)
        if "Ready to accept connections" in line:
            break
    else:
        raise RuntimeError("redis-server did not start:\n" + "".join(output))
    threading.Thread(target=process.stdout.read, daemon=True).start()  # keep its log from filling the pipe
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        process.stdout.close()


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The private redis-server's database 0, emptied."""
    import redis

    with redis.Redis.from_url(redis_server) as client:
        client.flushall()
    return f"{redis_server}/0"


collect_ignore = ["outside_project"]
