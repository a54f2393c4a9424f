"""A failure nobody planned for is a 500 ``internal_error`` in the API's shape, and the server logs it.

The hot routes (a create and its polls) answer their own errors ahead of Starlette's middleware
(``mock_server.http.app.EmulatorApp``). Here each of them fails for real: the Redis store holds
what no emulator wrote (a task counter that is not a number, a task record that does not decode).
"""
from __future__ import annotations

import logging
from collections.abc import Iterator

import httpx
import pytest
import redis
from conftest import T2V, ServerErrors, assert_error

from contracts.server import LiveServer
from mock_server import Settings

KEY = {"Authorization": "Bearer sk-unexpected-failure"}
CREATE = {"model": T2V, "prompt": "a lighthouse at dusk"}


@pytest.fixture
def served(redis_url: str) -> Iterator[tuple[LiveServer, ServerErrors]]:
    """A live server over the private Redis, and the errors its thread logs."""
    with LiveServer(Settings(speed=0, store=redis_url)) as server:
        errors = ServerErrors(f"evolink-mock:{server.port}")
        log = logging.getLogger("uvicorn.error")
        log.addFilter(errors)
        try:
            yield server, errors
        finally:
            log.removeFilter(errors)


def _assert_failed_cleanly(answer: httpx.Response, errors: ServerErrors, cause: str) -> None:
    assert_error(answer, 500, "internal_error", "api_error")
    assert "Traceback" not in answer.text and cause not in answer.text
    assert any(line.startswith("Exception in ASGI application") and cause in line for line in errors.lines()), \
        errors.lines()


def test_a_create_that_fails_unexpectedly(served: tuple[LiveServer, ServerErrors], redis_url: str) -> None:
    server, errors = served
    with redis.Redis.from_url(redis_url) as client:
        client.set("evolink-mock:next:task", "not a number")
    answer = httpx.post(f"{server.base_url}/v1/videos/generations", json=CREATE, headers=KEY)
    _assert_failed_cleanly(answer, errors, "ResponseError")


def test_a_poll_that_fails_unexpectedly(served: tuple[LiveServer, ServerErrors], redis_url: str) -> None:
    server, errors = served
    created = httpx.post(f"{server.base_url}/v1/videos/generations", json=CREATE, headers=KEY)
    assert created.status_code == 200, created.text
    task_id = created.json()["id"]
    with redis.Redis.from_url(redis_url) as client:
        client.set(f"evolink-mock:task:{task_id}", b"\xff not a task record")
    answer = httpx.get(f"{server.base_url}/v1/tasks/{task_id}", headers=KEY)
    _assert_failed_cleanly(answer, errors, "JSONDecodeError")
