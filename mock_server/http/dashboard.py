"""The live dashboard: ``GET /_mock/ui/`` (a static page), its stream, and ``GET /`` pointing browsers to it.

The page (``mock_server/ui/``: HTML, CSS and JavaScript, no build step) holds no
data: everything it shows comes from the admin API, with ``X-Mock-Admin-Token``
when the emulator has one, so without the token it shows nothing. It opens one
stream, ``GET /_mock/ui/events`` (server-sent events, see admin_openapi.yaml),
whose ``state`` holds what its views show, each record as the admin API
renders it; its forms call the admin routes themselves (same validation).
"""
from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from ..contract import admin_contract
from ..core.service import Emulator
from ..core.views import account_body, admin_task_body, callback_body, ledger_entry_body
from ..workers.feed import Feed
from .admin import admin
from .requests import base_url

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
UI_PATH = "/_mock/ui/"
ACCOUNTS_SHOWN = 200  # accounts in a state, by key; the total is given
LEDGER_SHOWN = 200  # the newest entries of the account a page looks at
PING_SECONDS = 15.0  # a comment line on an idle stream, so proxies keep it open
ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


class View(NamedTuple):
    """What one page looks at (pages looking at the same share one build per tick)."""

    base: str  # scheme://host the page reached us on (result links)
    key: str | None
    model: str | None
    status: str | None
    limit: int
    task_id: str | None
    account: str | None


def _event(name: str, content: Any) -> bytes:
    return ServerSentEvent(orjson.dumps(content).decode(), event=name).encode()


@functools.cache
def meta_event() -> bytes:
    """The lists the page's forms offer, from the admin document (so they validate as the routes do)."""
    spec = admin_contract().spec
    schemas = spec["components"]["schemas"]
    parameters = {p["name"]: p["schema"] for p in spec["paths"]["/_mock/ui/events"]["get"]["parameters"]}
    return _event("meta", {
        "fault_kinds": schemas["FaultSpec"]["properties"]["kind"]["enum"],
        "routes": schemas["RuleScope"]["properties"]["route"]["enum"],
        "models": parameters["model"]["enum"],
        "statuses": parameters["status"]["enum"],
        "error_codes": schemas["FaultSpec"]["properties"]["error_code"]["enum"],
    })


def snapshot(emulator: Emulator, view: View) -> tuple[bytes, bytes]:
    """``(clock event, state event)`` for one view, now."""
    now = emulator.now()
    tasks = emulator.recent_tasks(view.limit, key=view.key, model=view.model, status=view.status)
    accounts = sorted(emulator.accounts(), key=lambda account: account.key)
    state: dict[str, Any] = {
        "tasks": {"shown": [admin_task_body(task, now, view.base) for task in tasks],
                  "total": emulator.task_count(), "filtered": any((view.key, view.model, view.status))},
        "accounts": {"shown": [account_body(account) for account in accounts[:ACCOUNTS_SHOWN]],
                     "total": len(accounts)},
        "faults": [rule.view() for rule in emulator.faults()],
        "task": _task(emulator, view, now) if view.task_id else None,
        "ledger": ([ledger_entry_body(e) for e in emulator.ledger(view.account)[-LEDGER_SHOWN:]]
                   if view.account else None),
    }
    return _event("clock", {"now": now, "speed": emulator.clock.speed}), _event("state", state)


def _task(emulator: Emulator, view: View, now: float) -> dict[str, Any]:
    """The task page: the admin view of the task, its callback attempts and its ledger entries."""
    task = emulator.find_task(view.task_id or "")
    if task is None:
        return {"missing": view.task_id}
    body = admin_task_body(task, now, view.base)
    body["callbacks"] = [callback_body(attempt) for attempt in emulator.callbacks(task.id)]
    body["ledger"] = [ledger_entry_body(e) for e in emulator.ledger(task.key) if e.task_id == task.id]
    return body


def feed_of(app: Starlette) -> Feed:
    """The app's live feed (made here when the app runs without a lifespan, e.g. in-process)."""
    feed: Feed | None = app.state.feed
    if feed is None or feed.closed:
        feed = app.state.feed = Feed(app.state.emulator)
    return feed


@admin
async def events(request: Request) -> Response:
    """``GET /_mock/ui/events``: ``meta`` once, then ``clock`` and ``state`` whenever they change."""
    query = admin_contract().queries["dashboardEvents"].parse(request.query_params)
    view = View(base_url(request.scope), query.get("key"), query.get("model"), query.get("status"),
                query["limit"], query.get("task_id"), query.get("account"))
    feed = feed_of(request.app)

    async def stream() -> AsyncIterator[bytes]:
        yield meta_event()
        sent: tuple[bytes | None, bytes | None] = (None, None)
        async for clock, state in feed.watch(view, lambda: snapshot(feed.emulator, view)):
            if clock != sent[0]:
                yield clock
            if state != sent[1]:
                yield state
            sent = clock, state

    return EventSourceResponse(stream(), ping=PING_SECONDS)


async def root(request: Request) -> Response:
    """``GET /``: a browser (it accepts HTML) goes to the dashboard; anything else gets the API's 404."""
    if request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", ""):
        return RedirectResponse(UI_PATH, status_code=307)
    raise HTTPException(404)


def routes() -> list[BaseRoute]:
    """``/``, the stream, and the page's files (open: they hold no data)."""
    return [
        Route("/", root, methods=ANY_METHOD),  # every method: only a browser's GET changes from the 404
        Route("/_mock/ui/events", events, methods=["GET"]),
        Mount(UI_PATH.rstrip("/"), StaticFiles(directory=UI_DIR, html=True), name="ui"),
    ]
