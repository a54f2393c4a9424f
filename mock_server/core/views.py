"""Records rendered as the API's JSON bodies (public and admin)."""
from __future__ import annotations

from typing import Any

from ..families import ModelSpec
from ..redaction import key_id, redact
from .callbacks import CallbackAttempt
from .ledger import Account, LedgerEntry
from .pricing import as_number
from .tasks import ERROR_MESSAGES, Task


def result_url(task: Task, base_url: str) -> str:
    """Where the emulator serves the task's video, on the host the client used."""
    return f"{base_url}/files/{task.id}.mp4"


_RUNNING_INFO = {"can_cancel": True}  # shared, never mutated: a poll builds one dict less
_FINAL_INFO = {"can_cancel": False}


def task_body(task: Task, now: float, base_url: str) -> dict[str, Any]:
    """The task-query body (also the callback body)."""
    status, progress, error = task.state_at(now)
    body: dict[str, Any] = {
        "created": int(task.created), "id": task.id, "model": task.model,
        "object": "video.generation.task", "progress": progress, "status": status, "type": "video",
        "task_info": _RUNNING_INFO if status in ("pending", "processing") else _FINAL_INFO,
    }
    if status == "completed":
        body["results"] = [result_url(task, base_url)]
    elif error is not None:
        body["error"] = {"code": error, "message": ERROR_MESSAGES[error], "type": "task_error"}
    return body


def created_body(task: Task, user_group: str = "default") -> dict[str, Any]:
    """The create answer: always a pending task, with its estimate and reservation."""
    return {
        "created": int(task.created), "id": task.id, "model": task.model,
        "object": "video.generation.task", "progress": 0, "status": "pending", "type": "video",
        "task_info": {"can_cancel": True, "estimated_time": task.estimated_time,
                      "video_duration": task.seconds},
        "usage": {"billing_rule": "per_second", "credits_reserved": as_number(task.price),
                  "user_group": user_group},
    }


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
    }


def ledger_entry_body(entry: LedgerEntry) -> dict[str, Any]:
    """One ledger entry: when, what (grant, reserve, charge or refund), how much, the balance after."""
    return {"at": entry.at, "kind": entry.kind, "task_id": entry.task_id, "amount": as_number(entry.amount),
            "balance": as_number(entry.balance)}


def admin_task_body(task: Task, now: float, base_url: str) -> dict[str, Any]:
    """The admin view of a task: its identity and headline (``id``, ``model``, ``status``, ``progress``)
    at the top, its public body under ``task``, then timeline, outcome and billing."""
    ends = task.ends
    expires = task.expires_at()
    billing = task.settled or "reserved"
    public = task_body(task, now, base_url)
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
        "billing": {"price": as_number(task.price), "seconds": task.seconds, "state": billing},
    }


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


def model_body(spec: ModelSpec) -> dict[str, Any]:
    """One model the emulator serves, with its prices in credits per billed second.

    ``prices``: one ``{"quality", "sound", "credits", "assumed"}`` per rate; ``assumed`` marks a
    price EvoLink does not publish (the model's ``assumed`` is true when any of its prices is).
    """
    prices = [{"quality": quality, "sound": sound, "credits": as_number(rate.credits), "assumed": rate.assumed}
              for (quality, sound), rate in spec.rates.items()]
    return {"id": spec.id, "family": spec.family, "modes": list(spec.modes), "prices": prices,
            "assumed": any(price["assumed"] for price in prices), "billing_rule": spec.billing_rule,
            "min_seconds": spec.min_billed_seconds, "docs": spec.docs, "price_source": spec.price_source}
