"""A task's record and its lifecycle, derived from timestamps.

Nothing ticks: the status and progress of a task at time ``t`` are a pure
function of its creation time, its planned queue and processing durations,
its scripted outcome and any cancel time. Polling is O(1); idle tasks cost
nothing but their record. The record is immutable: a change (cancel, settle)
is a new record written by one store operation.

Statuses and task error codes: https://docs.evolink.ai/en/api-manual/task-management/get-task-detail
"""
from __future__ import annotations

import math
from decimal import Decimal
from typing import NamedTuple

#: Failures a user fixes by changing the request: the task fails as it leaves
#: the queue, at progress 0. Other failures happen at the end of processing.
EARLY_FAILURES = frozenset({"content_policy_violation", "invalid_parameters", "image_processing_error",
                            "image_dimension_mismatch"})
CANCELLED = "request_cancelled"
RESULT_TTL = 24 * 3600.0
CHARGED, REFUNDED = "charged", "refunded"
_COMPLETED = ("completed", 100, None)
_PENDING = ("pending", 0, None)

ERROR_MESSAGES = {
    "content_policy_violation": "The request was rejected by the content policy.",
    "invalid_parameters": "The request parameters were rejected by the model.",
    "image_processing_error": "An input image could not be processed.",
    "image_dimension_mismatch": "The input images' dimensions do not match.",
    "request_cancelled": "The task was cancelled.",
    "generation_failed_no_content": "The model produced no content.",
    "service_error": "The generation service failed.",
    "generation_timeout": "The generation timed out.",
    "resource_exhausted": "The generation service ran out of resources.",
    "quota_exceeded": "The upstream quota was exceeded.",
    "service_unavailable": "The generation service is unavailable.",
    "resource_not_found": "An input resource was not found.",
    "unknown_error": "The task failed for an unknown reason.",
}


class Task(NamedTuple):
    """One task as stored (a tuple: cheap to build, immutable, about 200 bytes).

    Times are mock epoch seconds; ``price`` is in credits; ``seconds`` is the
    output length, which is also the billed length.
    """

    id: str
    key: str
    model: str
    created: float  # whole seconds, as the public ``created`` shows it
    queue: float  # seconds pending
    processing: float  # seconds processing
    fail: str | None  # scripted task error code; None completes
    stuck: bool
    price: Decimal
    seconds: int
    aspect_ratio: str
    quality: str | None
    sound: bool
    estimated_time: int
    callback_url: str | None
    base_url: str  # scheme://host:port the task was created through (for callback bodies)
    scenario: str
    seq: int  # creation order: the position of the task's draws
    cancelled_at: float | None = None
    settled: str | None = None  # CHARGED or REFUNDED once billing is final
    output: str = "mp4"  # the result: an ``mp4`` or ``mov`` video, or an ``element`` id
    assumed: bool = False  # the price is an assumed one (EvoLink publishes none)

    @property
    def starts(self) -> float:
        """When processing begins."""
        return self.created + self.queue

    @property
    def ends(self) -> float | None:
        """When the task reaches its final state (None: stuck, never)."""
        if self.cancelled_at is not None:
            return self.cancelled_at
        if self.stuck:
            return None
        starts = self.created + self.queue  # the same sum as :meth:`state_at`'s, so they agree to the last bit
        return starts if self.fail in EARLY_FAILURES else starts + self.processing

    def finished_by(self, t: float) -> bool:
        """Whether the task reached its final state at or before ``t``."""
        ends = self.ends
        return self.settled is not None or (ends is not None and ends <= t)

    def progress_at(self, t: float) -> int:
        """Progress while running: 0 in the queue, then rising, capped at 99.

        The same arithmetic as :meth:`state_at` (``t - starts``), so a poll and a cancel at the
        same instant agree to the last bit.
        """
        elapsed = t - (self.created + self.queue)
        return 0 if elapsed < 0 else min(99, math.floor(100 * elapsed / self.processing))

    def state_at(self, t: float) -> tuple[str, int, str | None]:
        """``(status, progress, error code)`` at mock time ``t`` (every poll: kept lean)."""
        starts = self.created + self.queue
        ends = self.ends
        if ends is not None and t >= ends:
            error = CANCELLED if self.cancelled_at is not None else self.fail
            if error is None:
                return _COMPLETED
            return "failed", self.progress_at(ends - 1e-9), error
        if t < starts:
            return _PENDING
        return "processing", min(99, math.floor(100 * (t - starts) / self.processing)), None

    @property
    def charges(self) -> bool:
        """Whether the task's end charges its price (completed) rather than refunding it."""
        return self.fail is None and self.cancelled_at is None

    def expires_at(self) -> float | None:
        """When the result URL stops being served (24 h after completion)."""
        ends = self.ends
        if ends is None or not self.charges:
            return None
        return ends + RESULT_TTL
