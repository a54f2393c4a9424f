"""Callback delivery attempts: the record and the pure rules of retrying.

When a task ends completed, failed or cancelled, after billing, the API POSTs
the task-query body to ``callback_url``: 10 s timeout, only a 2xx counts, up
to 3 retries 1 s, 2 s and 4 s after each failure (mock time). An attempt is
identified by ``(task_id, number)``; the store keeps each attempt's latest
record, which is also the delivery log.

Callbacks: https://docs.evolink.ai/en/api-manual/video-series/kling/kling-o3-text-to-video
"""
from __future__ import annotations

from typing import NamedTuple

TIMEOUT = 10.0
BACKOFF = (1.0, 2.0, 4.0)  # after the 1st, 2nd and 3rd failure
SCHEDULED, IN_FLIGHT, DELIVERED, FAILED = "scheduled", "in_flight", "delivered", "failed"


class CallbackAttempt(NamedTuple):
    """One delivery attempt (mock times; ``duration_ms`` is wall time)."""

    task_id: str
    number: int  # 1 for the first attempt, then retries and manual redeliveries
    url: str
    due: float
    manual: bool = False
    at: float | None = None  # when it was sent
    worker: str | None = None  # which server process sent it
    finished_at: float | None = None
    status_code: int | None = None
    error: str | None = None
    duration_ms: float | None = None

    @property
    def state(self) -> str:
        """``scheduled``, ``in_flight``, ``delivered`` (2xx) or ``failed``."""
        if self.at is None:
            return SCHEDULED
        if self.finished_at is None:
            return IN_FLIGHT
        return DELIVERED if self.status_code is not None and 200 <= self.status_code < 300 else FAILED


def claimed(attempt: CallbackAttempt, now: float, worker: str) -> CallbackAttempt:
    """A due attempt as it is sent by ``worker`` at ``now``."""
    return attempt._replace(at=now, worker=worker)


def finished(attempt: CallbackAttempt, now: float, duration_ms: float, *, status_code: int | None = None,
             error: str | None = None) -> CallbackAttempt:
    """An attempt with its result: the receiver's status code, or why there was none."""
    return attempt._replace(finished_at=now, duration_ms=duration_ms, status_code=status_code, error=error)


def retry(attempt: CallbackAttempt, *, may_retry: bool = True) -> CallbackAttempt | None:
    """The next attempt after a finished one: none after a 2xx, a manual attempt or the last retry."""
    if not may_retry or attempt.manual or attempt.state != FAILED or attempt.number > len(BACKOFF):
        return None
    finished_at = attempt.finished_at if attempt.finished_at is not None else attempt.due
    return CallbackAttempt(attempt.task_id, attempt.number + 1, attempt.url,
                           finished_at + BACKOFF[attempt.number - 1])
