"""A task's record and its lifecycle, derived from timestamps.

Nothing ticks: the status and progress of a task at time ``t`` are a pure
function of its creation time, its planned queue and processing durations,
its scripted outcome and any cancel time. Polling is O(1); idle tasks cost
nothing but their record.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

#: Failures a user fixes by changing the request: the task fails as it leaves
#: the queue, at progress 0. Other failures happen at the end of processing.
EARLY_FAILURES = frozenset({"content_policy_violation", "invalid_parameters", "image_processing_error",
                            "image_dimension_mismatch"})
CANCELLED = "request_cancelled"
RESULT_TTL = 24 * 3600.0
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


@dataclass(slots=True)
class Task:
    """One task as stored. Mutable fields change only inside store operations."""

    id: str
    key: str
    model: str
    created: float  # mock epoch seconds
    queue: float  # seconds pending
    processing: float  # seconds processing
    fail: str | None  # scripted task error code; None completes
    stuck: bool
    price: Decimal
    seconds: int  # output = billed seconds
    aspect_ratio: str
    quality: str
    sound: bool
    estimated_time: int
    callback_url: str | None = None
    base_url: str = ""  # scheme://host:port the task was created through (for callback bodies)
    scenario: str = ""
    cancelled_at: float | None = None
    settled: str | None = None  # "charged" or "refunded" once billing is final
    seq: int = 0  # creation order, given by the store

    @property
    def starts(self) -> float:
        """When processing begins."""
        return self.created + self.queue

    @property
    def ends(self) -> float | None:
        """When the task reaches its final state (None: stuck, never)."""
        return self._ends(self.created + self.queue)

    def _ends(self, starts: float) -> float | None:
        if self.cancelled_at is not None:
            return self.cancelled_at
        if self.stuck:
            return None
        if self.fail in EARLY_FAILURES:
            return starts
        return starts + self.processing

    def progress_at(self, t: float) -> int:
        """Progress while running: 0 in the queue, then rising, capped at 99."""
        elapsed = t - self.created - self.queue
        return 0 if elapsed < 0 else min(99, math.floor(100 * elapsed / self.processing))

    def state_at(self, t: float) -> tuple[str, int, str | None]:
        """``(status, progress, error code)`` at mock time ``t`` (every poll: kept lean)."""
        starts = self.created + self.queue
        ends = self._ends(starts)
        if ends is not None and t >= ends:
            error = CANCELLED if self.cancelled_at is not None else self.fail
            if error is None:
                return _COMPLETED
            return "failed", self.progress_at(ends - 1e-9), error
        if t < starts:
            return _PENDING
        return "processing", min(99, math.floor(100 * (t - starts) / self.processing)), None

    def expires_at(self) -> float | None:
        """When the result URL stops being served (24 h after completion)."""
        ends = self.ends
        if ends is None or self.fail is not None or self.cancelled_at is not None:
            return None
        return ends + RESULT_TTL
