"""Result links: ``GET``/``HEAD /files/{task_id}.mp4`` (``.mov`` for ``output_format: mov``), answered as
the object store behind real links.

Starlette serves the rendered video as a file (``StaticFiles.file_response``), which brings
what players and download managers rely on: ``Accept-Ranges: bytes``, single and multiple
``Range`` requests (206, ``Content-Range``, ``multipart/byteranges``), ``If-Range``, ``HEAD``,
and ``ETag``/``Last-Modified`` with conditional requests (``If-None-Match``,
``If-Modified-Since``: 304). ``Last-Modified`` is the task's completion (mock time). Two
answers are adjusted to the object store and the API: a malformed ``Range`` is ignored (the
whole file, as RFC 9110 lets a server do), and an unsatisfiable one is a 416 in the API's
error shape with ``Content-Range: bytes */<size>``. Unknown tasks answer 404, expired
links 410 (:meth:`Emulator.result_task`).
"""
from __future__ import annotations

import math
import os

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from ..core.service import Emulator
from ..errors import ApiError
from ..media import result_file
from .responses import error_response, unless_refused

CACHE_CONTROL = "private, max-age=86400"
_FILES = StaticFiles(directory=None, check_dir=False)  # only its file_response (ranges, 304s) is used


class ObjectStoreAnswer(Response):
    """A file answer whose Range refusals behave as an object store's: a malformed Range is ignored
    (sent again without it), an unsatisfiable one becomes the API's 416 error body."""

    def __init__(self, inner: Response) -> None:
        self.inner = inner
        self.background = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        refused = await unless_refused(self.inner, scope, receive, send, (400, 416))
        if refused is None:
            return
        if refused["status"] == 400:  # Starlette's answer to a Range it cannot parse
            without_range = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
            await self.inner({**scope, "headers": without_range}, receive, send)
            return
        content_range = dict(refused["headers"]).get(b"content-range", b"").decode("latin-1")
        error = ApiError(416, "range_not_satisfiable", f"the range is outside the file ({content_range})",
                         "invalid_request_error", headers={"Content-Range": content_range})
        await error_response(error)(scope, receive, send)


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


async def serve_result(request: Request, task_id: str) -> Response:
    """The completed task's video as a file answer (404 unknown or unfinished, 410 expired)."""
    emulator = _emulator(request)
    task = emulator.result_task(task_id, emulator.now())
    path, stat = await run_in_threadpool(result_file, task.aspect_ratio, task.seconds, task.sound, task.output)
    completed = math.floor(task.ends if task.ends is not None else task.created)
    stored = os.stat_result((stat.st_mode, 0, 0, 1, 0, 0, stat.st_size, completed, completed, completed))
    answer = _FILES.file_response(path, stored, request.scope)
    answer.headers["Cache-Control"] = CACHE_CONTROL
    if answer.status_code == 200:
        answer.headers["Content-Disposition"] = f'inline; filename="{task.id}.{task.output}"'
    return ObjectStoreAnswer(answer)
