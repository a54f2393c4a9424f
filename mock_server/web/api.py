"""The public API routes: what a client of api.evolink.ai calls.

The three JSON routes are :class:`JSONEndpoint` handlers working on the ASGI
scope (the hot path: no ``Request``/``Response`` objects); errors are raised as
:class:`ApiError` and rendered by the app's exception handlers.
"""
from __future__ import annotations

import asyncio
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..emulator import Emulator
from ..errors import ApiError, internal_error, not_found, rate_limited
from ..faults import FiredFaults
from ..media import render_mp4
from ..views import credits_body, task_body
from .requests import base_url, headers_of, read_json
from .responses import JSONEndpoint, Receive, Scope, header_text

RESULT_SUFFIX = ".mp4"
Answer = tuple[Any, list[tuple[bytes, bytes]]]


class DropConnection(Exception):
    """A ``drop`` fault fired: the connection is cut in the middle of the answer."""


def _emulator(scope: Scope) -> Emulator:
    return scope["app"].state.emulator


async def _apply(fired: FiredFaults) -> None:
    """Apply the latency and error rules that fired for a request."""
    if fired.latency_ms:
        await asyncio.sleep(fired.latency_ms / 1000)
    rule = fired.terminal
    if rule is not None:
        if rule.kind == "rate_limit":
            raise rate_limited("Too many requests, please try again later", retry_after=rule.retry_after)
        if rule.kind == "server_error":
            raise internal_error()
        raise DropConnection()


async def create_generation(scope: Scope, receive: Receive) -> Answer:
    """``POST /v1/videos/generations``."""
    emulator = _emulator(scope)
    headers = headers_of(scope)
    account = emulator.authenticate(headers.get("authorization"))
    body = await read_json(scope, receive, emulator.settings.max_body_bytes)
    model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
    if fired := emulator.faults_for("create", model, account.key):
        await _apply(fired)
    created, warnings = emulator.create_task(account, body, headers.get("x-mock-scenario"), base_url=base_url(scope))
    if not warnings:
        return created, []
    return created, [(b"x-mock-warnings", header_text("ignored fields: " + ", ".join(warnings)).encode())]


async def get_task(scope: Scope, receive: Receive) -> Answer:
    """``GET /v1/tasks/{task_id}``."""
    emulator = _emulator(scope)
    account = emulator.authenticate(headers_of(scope).get("authorization"))
    task_id = scope["path_params"]["task_id"]
    if emulator.store.has_faults():
        known = emulator.store.task(task_id)
        if fired := emulator.faults_for("task", known.model if known else None, account.key):
            await _apply(fired)
    task = emulator.owned_task(account, task_id)
    return task_body(task, emulator.now(), base_url(scope)), []


async def get_credits(scope: Scope, receive: Receive) -> Answer:
    """``GET /v1/credits``."""
    emulator = _emulator(scope)
    account = emulator.authenticate(headers_of(scope).get("authorization"))
    if fired := emulator.faults_for("credits", None, account.key):
        await _apply(fired)
    emulator.now()
    return credits_body(account), []


async def result_file(request: Request) -> Response:
    """``GET /files/{task_id}.mp4``: the result video, for 24 h after completion."""
    emulator = _emulator(request.scope)
    name: str = request.path_params["name"]
    task = emulator.store.task(name[: -len(RESULT_SUFFIX)]) if name.endswith(RESULT_SUFFIX) else None
    if fired := emulator.faults_for("files", task.model if task else None, task.key if task else None):
        await _apply(fired)
    now = emulator.now()
    if task is None or task.state_at(now)[0] != "completed":
        raise not_found("file_not_found", f"no result video at {header_text(name, 100)}")
    expires = task.expires_at()
    if expires is not None and now >= expires:
        raise ApiError(410, "file_expired", "the result link expired 24 hours after the task completed",
                       "invalid_request_error")
    data = await run_in_threadpool(render_mp4, task.aspect_ratio, task.seconds, task.sound)
    return Response(data, media_type="video/mp4",
                    headers={"Cache-Control": "private, max-age=86400",
                             "Content-Disposition": f'inline; filename="{task.id}.mp4"'})


def routes() -> list[Route]:
    """The public routes."""
    return [
        Route("/v1/videos/generations", JSONEndpoint(create_generation), methods=["POST"]),
        Route("/v1/tasks/{task_id}", JSONEndpoint(get_task), methods=["GET"]),
        Route("/v1/credits", JSONEndpoint(get_credits), methods=["GET"]),
        Route("/files/{name}", result_file, methods=["GET"]),
    ]
