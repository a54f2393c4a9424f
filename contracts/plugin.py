"""The pytest plugin (entry point ``pytest11``): ``evolink_mock`` and ``evolink_server``.

    def test_my_client(evolink_mock):                  # in-process, respx, no socket
        client = MyClient(api_key=evolink_mock.api_key)  # talks to https://api.evolink.ai
        task = client.create(prompt="a lighthouse")
        evolink_mock.advance(600)                        # mock time; due callbacks are delivered
        assert client.status(task) == "completed"

    def test_any_http_client(evolink_server):           # a real uvicorn on a free port
        urllib.request.urlopen(evolink_server.base_url + "/v1/credits", ...)

Both give an :class:`~contracts.handle.EvolinkHandle`. Every request the
client sends is checked against openapi.yaml: a request that breaks it
fails the test with a report naming the field; unknown fields warn.
Settings per test: ``@pytest.mark.evolink(speed=0, seed=1, credits=100,
allow_local_callbacks=True, max_concurrent=None, base_url=..., strict=True)``.
"""
from __future__ import annotations

import uuid
import zlib
from collections.abc import Iterator
from dataclasses import fields
from typing import TYPE_CHECKING, Any

import pytest

from mock_server.config import Settings

from . import DEFAULT_BASE_URL

if TYPE_CHECKING:  # the kit itself loads when a fixture is first used: plain pytest runs stay fast
    from .conformance import RecordingMiddleware
    from .handle import EvolinkHandle
    from .server import LiveServer

_SETTINGS = {f.name for f in fields(Settings)} - {"host", "port", "store"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "evolink(**options): settings of the evolink_mock / evolink_server emulator: "
        "speed, seed, credits, allow_local_callbacks, max_concurrent, max_body_bytes, admin_token, public_url, "
        "trusted_proxies, cors_origins, base_url (evolink_mock only), "
        "strict (fail on requests that break openapi.yaml, default True)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """After a passing test body, fail it if its client broke the contract."""
    result = yield
    for handle in getattr(item, "_evolink_handles", ()):
        handle.finish()
    return result


def _options(request: pytest.FixtureRequest) -> tuple[Settings, str, bool]:
    marker = request.node.get_closest_marker("evolink")
    options = dict(marker.kwargs) if marker else {}
    base_url = options.pop("base_url", DEFAULT_BASE_URL)
    strict = options.pop("strict", True)
    unknown = set(options) - _SETTINGS
    if unknown:
        raise pytest.UsageError(f"@pytest.mark.evolink: unknown option(s) {', '.join(sorted(unknown))}; "
                                f"use {', '.join(sorted(_SETTINGS | {'base_url', 'strict'}))}")
    options.setdefault("speed", 0)
    options.setdefault("seed", zlib.crc32(request.node.nodeid.encode()))
    options.setdefault("allow_local_callbacks", True)
    try:
        settings = Settings(**options).checked()
    except ValueError as exc:
        raise pytest.UsageError(f"@pytest.mark.evolink: {exc}") from None
    return settings, base_url, strict


def _register(request: pytest.FixtureRequest, handle: EvolinkHandle) -> None:
    node = request.node
    node._evolink_handles = [*getattr(node, "_evolink_handles", ()), handle]  # noqa: SLF001


def _new_key() -> str:
    return f"sk-test-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def evolink_mock(request: pytest.FixtureRequest) -> Iterator[EvolinkHandle]:
    """An in-process emulator: httpx requests to ``base_url`` (https://api.evolink.ai) never leave the process."""
    from .handle import EvolinkHandle
    from .router import InProcessEmulator

    settings, base_url, strict = _options(request)
    mock = InProcessEmulator(settings, base_url=base_url)
    handle = EvolinkHandle(mock.emulator, mock.base_url, _new_key(), idle=mock.idle, strict=strict)
    mock.sink = handle.record
    _register(request, handle)
    with mock:
        yield handle


@pytest.fixture(scope="session")
def _evolink_live_server() -> Iterator[tuple[LiveServer, RecordingMiddleware]]:
    from .conformance import RecordingMiddleware
    from .server import LiveServer

    recorder: list[RecordingMiddleware] = []

    def wrap(app: Any) -> RecordingMiddleware:
        recorder.append(RecordingMiddleware(app))
        return recorder[0]

    with LiveServer(Settings(speed=0), wrap=wrap) as server:
        yield server, recorder[0]


@pytest.fixture
def evolink_server(request: pytest.FixtureRequest,
                   _evolink_live_server: tuple[LiveServer, RecordingMiddleware]) -> Iterator[EvolinkHandle]:
    """A real uvicorn on a free loopback port, with a fresh emulator for this test: for any HTTP client."""
    from mock_server import Emulator

    from .handle import EvolinkHandle

    server, recorder = _evolink_live_server
    settings, _, strict = _options(request)
    emulator = server.use(Emulator(settings))
    handle = EvolinkHandle(emulator, server.base_url, _new_key(),
                           idle=lambda seconds: server.submit(server.dispatcher.wait_idle(seconds)), strict=strict)
    recorder.sink = handle.record
    _register(request, handle)
    try:
        yield handle
    finally:
        recorder.sink = None
