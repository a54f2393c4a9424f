"""The public API routes: what a client of api.evolink.ai calls.

The three JSON routes are :class:`JSONEndpoint` handlers working on the ASGI
scope (the hot path: no ``Request``/``Response`` objects); errors are raised as
:class:`ApiError` and rendered by the app's exception handlers.
"""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope

from ..core import faults
from ..core.faults import FaultRule, FiredFaults
from ..core.service import Emulator
from ..core.views import created_body, credits_body, task_body
from ..errors import internal_error, rate_limited
from ..media import CONTENT_TYPES, render_video
from .requests import base_url, headers_of, read_json
from .responses import JSONEndpoint, header_text

Answer = tuple[Any, list[tuple[bytes, bytes]]]


class DropConnection(Exception):
    """A ``drop`` fault fired: the connection is cut in the middle of the answer."""


def _emulator(scope: Scope) -> Emulator:
    emulator: Emulator = scope["app"].state.emulator
    return emulator


def _rate_limit(rule: FaultRule) -> Exception:
    return rate_limited("Too many requests, please try again later", retry_after=rule.retry_after)


#: What each terminal fault kind answers (every kind in faults.TERMINAL has an entry: a test checks it).
TERMINAL_ANSWERS: dict[str, Callable[[FaultRule], Exception]] = {
    faults.RATE_LIMIT: _rate_limit,
    faults.SERVER_ERROR: lambda rule: internal_error(),
    faults.DROP: lambda rule: DropConnection(),
}


async def _apply(fired: FiredFaults) -> None:
    """Apply the latency and error rules that fired for a request."""
    if fired.latency_ms:
        await asyncio.sleep(fired.latency_ms / 1000)
    rule = fired.terminal
    if rule is not None:
        raise TERMINAL_ANSWERS[rule.kind](rule)


async def create_generation(scope: Scope, receive: Receive) -> Answer:
    """``POST /v1/videos/generations``."""
    emulator = _emulator(scope)
    headers = headers_of(scope)
    account = emulator.authenticate(headers.get("authorization"))
    body = await read_json(scope, receive, emulator.settings.max_body_bytes)
    model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
    if fired := emulator.faults_for("create", model, account.key):
        await _apply(fired)
    task, warnings = emulator.create_task(account, body, headers.get("x-mock-scenario"), base_url=base_url(scope))
    created = created_body(task, emulator.registry[task.model], account.user_group)
    if not warnings:
        return created, []
    return created, [(b"x-mock-warnings", header_text("ignored fields: " + ", ".join(warnings)).encode())]


async def get_task(scope: Scope, receive: Receive) -> Answer:
    """``GET /v1/tasks/{task_id}``."""
    emulator = _emulator(scope)
    account = emulator.authenticate(headers_of(scope).get("authorization"))
    task_id = scope["path_params"]["task_id"]
    if emulator.has_faults():
        known = emulator.find_task(task_id)
        if fired := emulator.faults_for("task", known.model if known else None, account.key):
            await _apply(fired)
    task = emulator.owned_task(account, task_id)
    return task_body(task, emulator.now(), base_url(scope), emulator.registry[task.model].cancellable), []


async def get_credits(scope: Scope, receive: Receive) -> Answer:
    """``GET /v1/credits``."""
    emulator = _emulator(scope)
    account = emulator.authenticate(headers_of(scope).get("authorization"))
    if fired := emulator.faults_for("credits", None, account.key):
        await _apply(fired)
    return credits_body(emulator.account(account.key) or account), []


async def result_file(request: Request) -> Response:
    """``GET /files/{task_id}.mp4`` (or ``.mov``, as the task's ``output_format``): the result, for 24 h."""
    emulator = _emulator(request.scope)
    name: str = request.path_params["name"]
    task_id, _, extension = name.rpartition(".")
    known = emulator.find_task(task_id) if extension in CONTENT_TYPES else None
    if fired := emulator.faults_for("files", known.model if known else None, known.key if known else None):
        await _apply(fired)
    task = emulator.result_task(task_id if known is not None and known.output == extension else name, emulator.now())
    data = await run_in_threadpool(render_video, task.aspect_ratio, task.seconds, task.sound, task.output)
    return Response(data, media_type=CONTENT_TYPES[task.output],
                    headers={"Cache-Control": "private, max-age=86400",
                             "Content-Disposition": f'inline; filename="{name}"'})


def routes() -> list[Route]:
    """The public routes."""
    return [
        Route("/v1/videos/generations", JSONEndpoint(create_generation), methods=["POST"]),
        Route("/v1/tasks/{task_id}", JSONEndpoint(get_task), methods=["GET"]),
        Route("/v1/credits", JSONEndpoint(get_credits), methods=["GET"]),
        Route("/files/{name}", result_file, methods=["GET"]),
    ]
