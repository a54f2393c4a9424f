"""The public API routes: what a client of api.evolink.ai calls.

The three JSON routes are :class:`JSONEndpoint` handlers working on the ASGI
scope (the hot path: no ``Request``/``Response`` objects); errors are raised as
:class:`ApiError` and rendered by the app's exception handlers.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from ..core import faults
from ..core.faults import FaultRule, FiredFaults
from ..core.service import Emulator
from ..core.views import created_body, credits_body, task_body
from ..errors import rate_limited, server_error
from ..media import CONTENT_TYPES
from .files import serve_result
from .links import base_url
from .requests import headers_of, read_json
from .responses import DropConnection, JSONEndpoint, header_text

Answer = tuple[Any, list[tuple[bytes, bytes]]]


def _emulator(scope: Scope) -> Emulator:
    emulator: Emulator = scope["app"].state.emulator
    return emulator


def _rate_limit(rule: FaultRule) -> Exception:
    return rate_limited("Too many requests, please try again later", retry_after=rule.retry_after)


#: What each terminal fault kind answers (every kind in faults.TERMINAL has an entry: a test checks it).
TERMINAL_ANSWERS: dict[str, Callable[[FaultRule], Exception]] = {
    faults.RATE_LIMIT: _rate_limit,
    faults.SERVER_ERROR: lambda rule: server_error(rule.status),
    faults.DROP: lambda rule: DropConnection(),
}


async def _apply(fired: FiredFaults) -> bool:
    """Apply the latency and error rules that fired for a request; True when the answer is to be cut
    after the request was handled (``drop`` with ``when: after``: the caller raises :class:`DropConnection`)."""
    if fired.latency_ms:
        await asyncio.sleep(fired.latency_ms / 1000)
    rule = fired.terminal
    if rule is None or fired.drops_after:
        return fired.drops_after
    raise TERMINAL_ANSWERS[rule.kind](rule)


async def create_generation(scope: Scope, receive: Receive) -> Answer:
    """``POST /v1/videos/generations``."""
    emulator = _emulator(scope)
    headers = headers_of(scope)
    account, _, _, faults = emulator.visit(headers.get("authorization"))
    body = await read_json(scope, receive, emulator.settings.max_body_bytes)
    cut = False
    if faults:
        model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
        fired = emulator.faults_for("create", model, account.key)
        cut = fired is not None and await _apply(fired)
    task, warnings = emulator.create_task(account, body, headers.get("x-mock-scenario"),
                                          base_url=base_url(scope, headers), has_faults=faults)
    if cut:  # stored and reserved: the client never hears of it
        raise DropConnection
    created = created_body(task, emulator.registry.by_id[task.model], account.user_group)
    if not warnings:
        return created, []
    return created, [(b"x-mock-warnings", header_text("ignored fields: " + ", ".join(warnings)).encode())]


async def get_task(scope: Scope, receive: Receive) -> Answer:
    """``GET /v1/tasks/{task_id}``."""
    emulator = _emulator(scope)
    task_id = scope["path_params"]["task_id"]
    headers = headers_of(scope)
    account, known, now, faults = emulator.visit(headers.get("authorization"), task_id)
    if faults and (fired := emulator.faults_for("task", known.model if known else None, account.key)):
        cut = await _apply(fired)  # time passed: read again
        task = emulator.owned_task(account, task_id)
        body = task_body(task, emulator.now(), base_url(scope, headers),
                         emulator.registry.by_id[task.model].cancellable)
        if cut:
            raise DropConnection
        return body, []
    # A poll's body follows from the task's times and the clock: it needs no settlement.
    task = emulator.owned(account, known, task_id)
    return task_body(task, now, base_url(scope, headers), emulator.registry.by_id[task.model].cancellable), []


async def get_credits(scope: Scope, receive: Receive) -> Answer:
    """``GET /v1/credits``."""
    emulator = _emulator(scope)
    account = emulator.authenticate(headers_of(scope).get("authorization"))
    fired = emulator.faults_for("credits", None, account.key)
    cut = fired is not None and await _apply(fired)
    body = credits_body(emulator.account(account.key) or account)
    if cut:
        raise DropConnection
    return body, []


async def result_file(request: Request) -> Response:
    """``GET``/``HEAD /files/{task_id}.mp4`` (or ``.mov``, as the task's ``output_format``): the result,
    for 24 h after completion (see ``files.py``)."""
    emulator = _emulator(request.scope)
    name: str = request.path_params["name"]
    task_id, _, extension = name.rpartition(".")
    known = emulator.find_task(task_id) if extension in CONTENT_TYPES else None
    fired = emulator.faults_for("files", known.model if known else None, known.key if known else None)
    cut = fired is not None and await _apply(fired)
    answer = await serve_result(request, task_id if known is not None and known.output == extension else name)
    if cut:
        raise DropConnection
    return answer


#: The routes every client calls all the time: a create and its polls (:class:`~.app.EmulatorApp` matches
#: them first).
HOT_ROUTES = (
    Route("/v1/videos/generations", JSONEndpoint(create_generation), methods=["POST"]),
    Route("/v1/tasks/{task_id}", JSONEndpoint(get_task), methods=["GET"]),
)


def routes() -> list[Route]:
    """The public routes."""
    return [
        *HOT_ROUTES,
        Route("/v1/credits", JSONEndpoint(get_credits), methods=["GET"]),
        Route("/files/{name}", result_file, methods=["GET"]),
    ]
