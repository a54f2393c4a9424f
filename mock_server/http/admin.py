"""The admin API under ``/_mock/``: time, accounts, tasks (see admin_openapi.yaml)."""
from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from decimal import Decimal
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..contract import admin_contract
from ..core import faults
from ..core.ledger import Account
from ..core.service import KEY_PATTERN, KEY_RULE, Emulator
from ..core.views import account_body, admin_task_body, callback_body, ledger_entry_body, models_body
from ..errors import ApiError, invalid_request, not_found
from ..redaction import redact
from .links import base_url
from .requests import read_json
from .responses import JSONResponse

Handler = Callable[[Request], Awaitable[Response]]


def _emulator(request: Request) -> Emulator:
    emulator: Emulator = request.app.state.emulator
    return emulator


def admin(handler: Handler) -> Handler:
    """Require ``X-Mock-Admin-Token`` when the emulator has an admin token."""

    @wraps(handler)
    async def guarded(request: Request) -> Response:
        token = _emulator(request).settings.admin_token
        if token and not hmac.compare_digest(request.headers.get("x-mock-admin-token", "").encode(),
                                             token.encode()):
            raise ApiError(401, "admin_token_required",
                           "this emulator has an admin token: send it in the X-Mock-Admin-Token header",
                           "authentication_error")
        return await handler(request)

    return guarded


async def _body(request: Request, operation_id: str) -> dict[str, Any]:
    schema = admin_contract().bodies[operation_id]
    body: dict[str, Any] = await read_json(request.scope, request.receive, _emulator(request).settings.max_body_bytes,
                                           schema)
    return body


def _key(request: Request) -> str:
    key: str = request.path_params["key"]
    if not KEY_PATTERN.fullmatch(key):
        raise invalid_request(f"the key must be {KEY_RULE}")
    return key


def _clock(emulator: Emulator) -> dict[str, float]:
    return {"now": emulator.now(), "speed": emulator.clock.speed}


async def health(request: Request) -> Response:
    """``GET /_mock/health``: always open, even with an admin token."""
    return JSONResponse(_emulator(request).health())


@admin
async def reset(request: Request) -> Response:
    emulator = _emulator(request)
    emulator.reset()
    return JSONResponse(emulator.health())


@admin
async def get_clock(request: Request) -> Response:
    return JSONResponse(_clock(_emulator(request)))


@admin
async def advance_clock(request: Request) -> Response:
    body = await _body(request, "advanceClock")
    emulator = _emulator(request)
    emulator.advance(float(body["seconds"]))
    return JSONResponse(_clock(emulator))


def _account(emulator: Emulator, key: str) -> Account:
    account = emulator.account(key)
    if account is None:
        raise not_found("account_not_found",
                        f"no account for {redact(key)}: it has made no request and was not PUT")
    return account


@admin
async def get_account(request: Request) -> Response:
    return JSONResponse(account_body(_account(_emulator(request), _key(request))))


@admin
async def get_ledger(request: Request) -> Response:
    """``GET /_mock/accounts/{key}/ledger``: the entries that moved the key's credits, oldest first."""
    emulator = _emulator(request)
    key = _key(request)
    _account(emulator, key)
    return JSONResponse([ledger_entry_body(entry) for entry in emulator.ledger(key)])


@admin
async def put_account(request: Request) -> Response:
    key = _key(request)
    body = await _body(request, "putAccount")
    account = _emulator(request).put_account(key, Decimal(str(body["granted"])), body.get("models"),
                                             body.get("user_group"))
    return JSONResponse(account_body(account))


@admin
async def revoke_account(request: Request) -> Response:
    return JSONResponse(account_body(_emulator(request).revoke(_key(request))))


def _query(request: Request, operation_id: str) -> dict[str, Any]:
    return admin_contract().queries[operation_id].parse(request.query_params)


@admin
async def list_tasks(request: Request) -> Response:
    emulator = _emulator(request)
    query = _query(request, "listTasks")
    tasks = emulator.tasks(emulator.key_of(query["key"]) if "key" in query else None)
    now, base = emulator.clock.now(), base_url(request.scope)
    shown = tasks[-query["limit"]:]
    specs = emulator.registry
    return JSONResponse({"total": len(tasks), "tasks": [admin_task_body(t, now, base, specs[t.model]) for t in shown]})


@admin
async def get_admin_task(request: Request) -> Response:
    emulator = _emulator(request)
    task = emulator.task(request.path_params["task_id"])
    view = admin_task_body(task, emulator.now(), base_url(request.scope), emulator.registry[task.model])
    view["callbacks"] = [callback_body(a) for a in emulator.callbacks(task.id)]
    return JSONResponse(view)


@admin
async def cancel_task(request: Request) -> Response:
    emulator = _emulator(request)
    task = emulator.cancel(request.path_params["task_id"])
    return JSONResponse(admin_task_body(task, emulator.now(), base_url(request.scope), emulator.registry[task.model]))


@admin
async def list_callbacks(request: Request) -> Response:
    """Delivery attempts, oldest first; ``?wait=s`` first waits (wall time) until none is due or in flight."""
    emulator = _emulator(request)
    query = _query(request, "listCallbacks")
    wait = query.get("wait", 0)
    dispatcher = request.app.state.dispatcher
    if wait and dispatcher is not None:
        await dispatcher.wait_idle(wait)
    pending = dispatcher.pending() if dispatcher is not None else 0
    attempts = [callback_body(a) for a in emulator.callbacks(query.get("task_id"))]
    return JSONResponse(attempts, headers={"X-Mock-Callbacks-Pending": str(pending)})


@admin
async def redeliver_callback(request: Request) -> Response:
    return JSONResponse(callback_body(_emulator(request).redeliver(request.path_params["task_id"])))


@admin
async def add_fault(request: Request) -> Response:
    body = await _body(request, "addFault")
    return JSONResponse(_emulator(request).add_fault(body).view())


@admin
async def list_faults(request: Request) -> Response:
    return JSONResponse([rule.view() for rule in _emulator(request).faults()])


@admin
async def clear_faults(request: Request) -> Response:
    _emulator(request).clear_faults()
    return JSONResponse([])


@admin
async def get_fault(request: Request) -> Response:
    return JSONResponse(_emulator(request).fault(request.path_params["fault_id"]).view())


@admin
async def remove_fault(request: Request) -> Response:
    return JSONResponse(_emulator(request).remove_fault(request.path_params["fault_id"]).view())


@admin
async def scenarios_help(request: Request) -> Response:
    """The scenario syntax, the task error codes and the active scenario rules."""
    emulator = _emulator(request)
    return JSONResponse({
        "items": ["fail=<code>", "stuck", "queue=<seconds>", "processing=<seconds>", "input_seconds=<seconds>"],
        "error_codes": list(emulator.contract.task_error_codes),
        "rules": [r.view() for r in emulator.faults() if r.kind in faults.TASK_KINDS],
    })


@admin
async def add_scenario(request: Request) -> Response:
    body = await _body(request, "addScenario")
    return JSONResponse(_emulator(request).add_fault({**body, "kind": "scenario"}).view())


@admin
async def list_models(request: Request) -> Response:
    """``GET /_mock/models?user_group=``: every model id and alias with the prices in force."""
    emulator = _emulator(request)
    query = _query(request, "listModels")
    return JSONResponse(models_body(emulator.registry.values(), emulator.prices, query.get("user_group", "default")))


@admin
async def admin_openapi(request: Request) -> Response:
    return Response(admin_contract().document, media_type="application/yaml")


def _route(path: str, **handlers: Handler) -> Route:
    """One route answering several methods (so a 405 lists them all in ``Allow``)."""

    async def by_method(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, by_method, methods=list(handlers))


def routes() -> list[Route]:
    """The admin routes."""
    return [
        Route("/_mock/health", health, methods=["GET"]),
        Route("/_mock/reset", reset, methods=["POST"]),
        Route("/_mock/clock", get_clock, methods=["GET"]),
        Route("/_mock/clock/advance", advance_clock, methods=["POST"]),
        _route("/_mock/accounts/{key}", GET=get_account, PUT=put_account, DELETE=revoke_account),
        Route("/_mock/accounts/{key}/ledger", get_ledger, methods=["GET"]),
        Route("/_mock/tasks", list_tasks, methods=["GET"]),
        Route("/_mock/tasks/{task_id}", get_admin_task, methods=["GET"]),
        Route("/_mock/tasks/{task_id}/cancel", cancel_task, methods=["POST"]),
        Route("/_mock/callbacks", list_callbacks, methods=["GET"]),
        Route("/_mock/callbacks/{task_id}/redeliver", redeliver_callback, methods=["POST"]),
        _route("/_mock/faults", POST=add_fault, GET=list_faults, DELETE=clear_faults),
        _route("/_mock/faults/{fault_id}", GET=get_fault, DELETE=remove_fault),
        _route("/_mock/scenarios", GET=scenarios_help, POST=add_scenario),
        Route("/_mock/models", list_models, methods=["GET"]),
        Route("/_mock/openapi.yaml", admin_openapi, methods=["GET"]),
    ]
