"""The schemathesis conformance suite, in-process (imported from the kit), and the contract command
against live servers: a healthy one conforms, a deliberately broken one is caught."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from contracts.contract_tests import (  # noqa: F401
    TestApiWorkflows,
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


def _contract(base_url: str) -> subprocess.CompletedProcess:
    return subprocess.run([EVOLINK_MOCK, "contract", "--base-url", base_url,
                           "--max-examples", "5", "--", "-k", "api_operation or Workflows", "-x"],
                          capture_output=True, text=True, timeout=300)


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
