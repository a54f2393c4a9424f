"""The ceiling: bare Starlette endpoints on the same routes, answering fixed JSON with orjson.

    uvicorn bench.bare_app:app   (the bench starts it with the emulator's uvicorn settings)

No validation, no state: what the framework and server cost on their own.
"""
from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

TASK = orjson.dumps({"created": 1757169743, "id": "task-unified-1757169743-a1b2c3d4",
                     "model": "kling-o3-text-to-video", "object": "video.generation.task", "progress": 42,
                     "status": "processing", "type": "video", "task_info": {"can_cancel": True}})


async def get_task(request: Request) -> Response:
    return Response(TASK, media_type="application/json")


async def create(request: Request) -> Response:
    orjson.loads(await request.body())
    return Response(TASK, media_type="application/json")


app = Starlette(routes=[Route("/v1/tasks/{task_id}", get_task, methods=["GET"]),
                        Route("/v1/videos/generations", create, methods=["POST"])])
