"""Records rendered as the API's JSON bodies (public and admin).

Create answers follow the model's documented shape (``x-evolink.response``): the full one;
Hailuo's without ``task_info``, ``type`` and ``usage``; Veo preview's with only ``created``, ``id``,
``model`` and ``status``; ``task_info.video_duration`` only where the docs show it. A completed
``kling-custom-element`` task carries ``result_data.element_id`` instead of ``results``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from ..families import ModelSpec
from ..families.prices import PriceBook
from ..redaction import key_id, redact
from .callbacks import CallbackAttempt
from .ledger import Account, LedgerEntry
from .pricing import as_number
from .tasks import ERROR_MESSAGES, Task

ELEMENT = "element"


def result_url(task: Task, base_url: str) -> str:
    """Where the emulator serves the task's video (``.mp4`` or ``.mov``), on the host the client used."""
    return f"{base_url}/files/{task.id}.{task.output}"


def element_id(task: Task) -> str:
    """The id of the element a ``kling-custom-element`` task made: 18 digits, a function of the task id."""
    digest = hashlib.blake2b(task.id.encode(), digest_size=8).digest()
    return str(10**17 + int.from_bytes(digest, "big") % (9 * 10**17))


_RUNNING_INFO = {"can_cancel": True}  # shared, never mutated: a poll builds one dict less
_FINAL_INFO = {"can_cancel": False}


def task_body(task: Task, now: float, base_url: str, cancellable: bool = True) -> dict[str, Any]:
    """The task-query body (also the callback body); ``cancellable`` false keeps ``can_cancel`` false."""
    status, progress, error = task.state_at(now)
    running = cancellable and status in ("pending", "processing")
    body: dict[str, Any] = {
        "created": int(task.created), "id": task.id, "model": task.model,
        "object": "video.generation.task", "progress": progress, "status": status, "type": "video",
        "task_info": _RUNNING_INFO if running else _FINAL_INFO,
    }
    if status == "completed":
        if task.output == ELEMENT:
            body["result_data"] = {"element_id": element_id(task)}
        else:
            body["results"] = [result_url(task, base_url)]
    elif error is not None:
        body["error"] = {"code": error, "message": ERROR_MESSAGES[error], "type": "task_error"}
    return body


def created_body(task: Task, spec: ModelSpec, user_group: str = "default") -> dict[str, Any]:
    """The create answer in the model's shape: a pending task, with its estimate and reservation."""
    shape = spec.create_shape
    if shape == "VideoGenerationTaskPreview":
        return {"created": int(task.created), "id": task.id, "model": task.model, "status": "pending"}
    if shape == "VideoGenerationTaskBasic":
        return {"created": int(task.created), "id": task.id, "model": task.model,
                "object": "video.generation.task", "progress": 0, "status": "pending"}
    info: dict[str, Any] = {"can_cancel": spec.cancellable, "estimated_time": task.estimated_time}
    if spec.video_duration:
        info["video_duration"] = task.seconds
    return {"created": int(task.created), "id": task.id, "model": task.model,  # one literal: every create
            "object": "video.generation.task", "progress": 0, "status": "pending", "type": "video",
            "task_info": info, "usage": {"billing_rule": spec.billing_rule, "credits_reserved": as_number(task.price),
                                         "user_group": user_group}}


def credits_body(account: Account) -> dict[str, Any]:
    """``GET /v1/credits``: remaining (not reserved) and used (charged) credits."""
    remaining, used = as_number(account.balance), as_number(account.charged)
    return {"success": True, "message": "", "data": {
        "token": {"remaining_credits": remaining, "unlimited_credits": False, "used_credits": used},
        "user": {"remaining_credits": remaining, "used_credits": used},
    }}


def account_body(account: Account) -> dict[str, Any]:
    """The admin view of a ledger (the key cut to its prefix, as every admin view shows keys, and its id)."""
    return {
        "key": redact(account.key), "key_id": key_id(account.key), "granted": as_number(account.granted),
        "balance": as_number(account.balance),
        "reserved": as_number(account.reserved), "charged": as_number(account.charged),
        "running": account.running, "revoked": account.revoked,
        "models": sorted(account.models) if account.models is not None else None,
        "user_group": account.user_group,
    }


def ledger_entry_body(entry: LedgerEntry) -> dict[str, Any]:
    """One ledger entry: when, what (grant, reserve, charge or refund), how much, the balance after."""
    return {"at": entry.at, "kind": entry.kind, "task_id": entry.task_id, "amount": as_number(entry.amount),
            "balance": as_number(entry.balance)}


def admin_task_body(task: Task, now: float, base_url: str, spec: ModelSpec | None = None) -> dict[str, Any]:
    """The admin view of a task: its identity and headline (``id``, ``model``, ``status``, ``progress``)
    at the top, its public body under ``task``, then timeline, outcome and billing."""
    ends = task.ends
    expires = task.expires_at()
    billing = task.settled or "reserved"
    public = task_body(task, now, base_url, spec.cancellable if spec is not None else True)
    return {
        "id": task.id, "model": task.model, "status": public["status"], "progress": public["progress"],
        "task": public,
        "key": redact(task.key), "key_id": key_id(task.key),
        "params": {"seconds": task.seconds, "aspect_ratio": task.aspect_ratio, "quality": task.quality,
                   "sound": task.sound,
                   "callback_url": redact(task.callback_url) if task.callback_url is not None else None},
        "timeline": {"created": task.created, "processing_from": task.starts, "ends": ends,
                     "cancelled_at": task.cancelled_at, "result_expires": expires,
                     "estimated_time": task.estimated_time},
        "outcome": {"scenario": task.scenario, "fail": task.fail, "stuck": task.stuck},
        "billing": {"price": as_number(task.price), "seconds": task.seconds, "state": billing,
                    "assumed": task.assumed, "billing_rule": spec.billing_rule if spec is not None else None},
    }


def _price_rows(spec: ModelSpec, prices: PriceBook, group: str) -> list[dict[str, Any]]:
    rows = []
    for (tier, sound, duration), rate in prices.table(group, spec).items():
        row: dict[str, Any] = {}
        if tier is not None:
            row[spec.tier_field] = tier
        if spec.priced_sound:
            row["sound"] = sound
        if duration is not None:
            row["duration"] = duration
        row.update(credits=as_number(rate.credits), unit="call" if spec.unit == "call" else "second",
                   assumed=rate.assumed)
        if rate.override:
            row["override"] = True
        rows.append(row)
    return rows


def models_body(specs: Iterable[ModelSpec], prices: PriceBook, group: str = "default") -> list[dict[str, Any]]:
    """``GET /_mock/models``: every model id and alias, each ``{"id", "family", "modes", "prices", "assumed"}``.

    ``prices`` are the rows in force for ``group`` (credits per ``unit``: second or call), ``assumed``
    is true where a price is not published; an alias adds ``alias_of``.
    """
    out = []
    for spec in specs:
        rows = _price_rows(spec, prices, group)
        entry = {"id": spec.id, "family": spec.family, "modes": list(spec.modes), "prices": rows,
                 "assumed": any(row["assumed"] for row in rows), "billing_rule": spec.billing_rule,
                 "docs": spec.docs, "price_source": spec.price_source}
        out.append(entry)
        out += [{**entry, "id": alias, "alias_of": spec.id} for alias in spec.aliases]
    return out


def callback_body(attempt: CallbackAttempt) -> dict[str, Any]:
    """One delivery attempt as the admin API shows it (``status_code`` or ``error`` once finished);
    credentials in the URL are masked (the delivery itself sends them)."""
    body: dict[str, Any] = {"task_id": attempt.task_id, "url": redact(attempt.url), "attempt": attempt.number,
                            "state": attempt.state, "due": attempt.due, "at": attempt.at,
                            "finished_at": attempt.finished_at, "duration_ms": attempt.duration_ms,
                            "manual": attempt.manual, "worker": attempt.worker}
    if attempt.status_code is not None:
        body["status_code"] = attempt.status_code
    if attempt.error is not None:
        body["error"] = redact(attempt.error)
    return body

