"""Unfinished tasks by the time they end, for settling them in that order: a calendar queue.

A binary heap of every unfinished task was the largest single cost of a settlement under
load: tens of thousands of tasks run at once, and each pop compares about 2·log2(n) tuples
scattered over memory that the request path has long evicted from the CPU's caches
(measured under POST load: 5.8 µs of a 15 µs settlement). Here a task goes into the
bucket of the whole mock second it ends in (a list append), and a bucket is sorted only
when its turn comes, as one small, contiguous sort.
"""
from __future__ import annotations

import bisect
import heapq
import math
from operator import itemgetter

_ENDS = itemgetter(0)


class DueQueue:
    """``(ends, task id)`` pairs (ends: mock epoch seconds), taken earliest first; ties in the order pushed.

    One writer at a time (the store's lock); :meth:`first` may run on any thread without it. It reads
    the head bucket and the position in it as one attribute, so it never pairs one bucket with
    another's position: it sees the queue before or after a concurrent change.
    """

    __slots__ = ("_buckets", "_count", "_cursor", "_head_second", "_seconds")

    def __init__(self) -> None:
        self._buckets: dict[int, list[tuple[float, str]]] = {}  # second -> pairs in the order pushed
        self._seconds: list[int] = []  # a heap of the seconds in _buckets (all later than the head's)
        self._cursor: tuple[list[tuple[float, str]], int] = ([], 0)  # the head bucket, sorted; the next to take
        self._head_second: int | None = None
        self._count = 0

    def push(self, ends: float, task_id: str) -> None:
        """Queue a task that ends at ``ends``."""
        second = math.floor(ends)
        head, at = self._cursor
        head_second = self._head_second
        if head_second is None or second < head_second:
            if head_second is not None:  # the head becomes an ordinary bucket again
                self._stash(head_second, head[at:])
            self._head_second = second
            self._cursor = ([(ends, task_id)], 0)
        elif second == head_second:  # after any equal ends: ties keep the order pushed
            bisect.insort_right(head, (ends, task_id), at, key=_ENDS)
        else:
            bucket = self._buckets.get(second)
            if bucket is None:
                bucket = self._buckets[second] = []
                heapq.heappush(self._seconds, second)
            bucket.append((ends, task_id))
        self._count += 1

    def first(self) -> float | None:
        """The earliest ``ends`` queued, or None when empty."""
        head, at = self._cursor
        return head[at][0] if at < len(head) else None

    def take(self, now: float, limit: int) -> list[str]:
        """Remove and return the ids of at most ``limit`` tasks that end at or before ``now``, earliest first."""
        taken: list[str] = []
        head, at = self._cursor
        while at < len(head) and len(taken) < limit:
            ends, task_id = head[at]
            if ends > now:
                break
            taken.append(task_id)
            at += 1
            if at == len(head):
                head, at = self._promote(), 0
        self._count -= len(taken)
        self._cursor = (head, at)
        return taken

    def _promote(self) -> list[tuple[float, str]]:
        """The earliest bucket, sorted, as the next head (empty when none is left)."""
        if not self._seconds:
            self._head_second = None
            return []
        second = heapq.heappop(self._seconds)
        head = self._buckets.pop(second)
        head.sort(key=_ENDS)
        self._head_second = second
        return head

    def _stash(self, second: int, pairs: list[tuple[float, str]]) -> None:
        if pairs:
            self._buckets[second] = pairs
            heapq.heappush(self._seconds, second)

    def __len__(self) -> int:
        return self._count
