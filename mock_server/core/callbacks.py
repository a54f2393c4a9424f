"""Callback delivery attempts: the record and the pure rules of retrying.

When a task ends completed, failed or cancelled, after billing, the API POSTs
the task-query body to ``callback_url``: 10 s timeout, only a 2xx counts, up
to 3 retries 1 s, 2 s and 4 s after each failure (mock time). An attempt is
identified by ``(task_id, number)``; the store keeps each attempt's latest
record, which is also the delivery log.

A worker that sends an attempt claims it with a lease (mock time): long enough
for the delivery's timeout and a margin. Several workers share a store, and one
may die in the middle of a delivery; once its lease is over, another worker
records the attempt as lapsed (failed, with the reason) and the usual retry
follows. Each attempt is made, and logged, once.

Callbacks: https://docs.evolink.ai/en/api-manual/video-series/kling/kling-o3-text-to-video
"""
from __future__ import annotations

from typing import NamedTuple

TIMEOUT = 10.0
LEASE_MARGIN = 5.0  # lease = (TIMEOUT + LEASE_MARGIN) mock seconds, scaled like the timeout on a fast clock
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
    lease: float | None = None  # while in flight: until when ``worker`` holds it

    @property
    def state(self) -> str:
        """``scheduled``, ``in_flight``, ``delivered`` (2xx) or ``failed``."""
        if self.at is None:
            return SCHEDULED
        if self.finished_at is None:
            return IN_FLIGHT
        return DELIVERED if self.status_code is not None and 200 <= self.status_code < 300 else FAILED


def lease_seconds(speed: float) -> float:
    """Mock seconds a worker holds an attempt it sends: its timeout and a margin.

    The timeout is 10 s of wall time on a running clock (``10 * speed`` mock seconds at
    ``speed`` >= 1) and 10 s of mock time on a manual or slower clock.
    """
    return (TIMEOUT + LEASE_MARGIN) * max(1.0, speed)


def claimed(attempt: CallbackAttempt, now: float, worker: str, lease: float = TIMEOUT + LEASE_MARGIN
            ) -> CallbackAttempt:
    """A due attempt as it is sent by ``worker`` at ``now``, held for ``lease`` mock seconds."""
    return attempt._replace(at=now, worker=worker, lease=now + lease)


def holds(stored: CallbackAttempt, attempt: CallbackAttempt) -> bool:
    """Whether ``stored`` is still the in-flight record of the claim ``attempt`` came from."""
    return stored.finished_at is None and stored.at == attempt.at and stored.worker == attempt.worker


def lapsed(attempt: CallbackAttempt) -> CallbackAttempt:
    """An attempt whose worker did not record a result within its lease: failed at the lease's end."""
    return attempt._replace(finished_at=attempt.lease, error=f"lapsed: worker {attempt.worker} recorded no result "
                                                              f"within its lease")


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
