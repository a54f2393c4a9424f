"""The public API routes: what a client of api.evolink.ai calls."""
from __future__ import annotations

import asyncio

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..emulator import Emulator
from ..errors import ApiError, internal_error, not_found, rate_limited
from ..faults import FiredFaults
from ..media import render_mp4
from ..views import credits_body, task_body
from .responses import JSONResponse, base_url, header_text, headers_of, read_json

RESULT_SUFFIX = ".mp4"


class DropConnection(Exception):
    """A ``drop`` fault fired: the connection is cut in the middle of the answer."""


def _emulator(request: Request) -> Emulator:
    return request.app.state.emulator


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


async def create_generation(request: Request) -> Response:
    """``POST /v1/videos/generations``."""
    emulator = _emulator(request)
    headers = headers_of(request)
    account = emulator.authenticate(headers.get("authorization"))
    body = await read_json(request, emulator.settings.max_body_bytes)
    model = body.get("model") if isinstance(body, dict) and isinstance(body.get("model"), str) else None
    if fired := emulator.faults_for("create", model, account.key):
        await _apply(fired)
    created, warnings = emulator.create_task(account, body, headers.get("x-mock-scenario"),
                                             base_url=base_url(request))
    extra = {"X-Mock-Warnings": header_text("ignored fields: " + ", ".join(warnings))} if warnings else None
    return JSONResponse(created, headers=extra)


async def get_task(request: Request) -> Response:
    """``GET /v1/tasks/{task_id}``."""
    emulator = _emulator(request)
    account = emulator.authenticate(headers_of(request).get("authorization"))
    task_id = request.path_params["task_id"]
    if emulator.store.has_faults():
        known = emulator.store.task(task_id)
        if fired := emulator.faults_for("task", known.model if known else None, account.key):
            await _apply(fired)
    task = emulator.owned_task(account, task_id)
    return JSONResponse(task_body(task, emulator.now(), base_url(request)))


async def get_credits(request: Request) -> Response:
    """``GET /v1/credits``."""
    emulator = _emulator(request)
    account = emulator.authenticate(headers_of(request).get("authorization"))
    if fired := emulator.faults_for("credits", None, account.key):
        await _apply(fired)
    emulator.now()
    return JSONResponse(credits_body(account))


async def result_file(request: Request) -> Response:
    """``GET /files/{task_id}.mp4``: the result video, for 24 h after completion."""
    emulator = _emulator(request)
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
        Route("/v1/videos/generations", create_generation, methods=["POST"]),
        Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
        Route("/v1/credits", get_credits, methods=["GET"]),
        Route("/files/{name}", result_file, methods=["GET"]),
    ]
