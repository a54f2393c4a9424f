"""The memory store's queue of unfinished tasks: earliest end first, ties in the order queued, whatever the
interleaving of pushes and takes (the reference: one list sorted by end, then by push order)."""
from __future__ import annotations

import sys
import threading

from hypothesis import given
from hypothesis import strategies as st

from mock_server.store.due import DueQueue

# A push of a task ending at a time (few distinct seconds and fractions: many ties and shared buckets),
# or a take of what is due by a time, at most ``limit`` of it.
ENDS = st.integers(0, 5).flatmap(lambda second: st.sampled_from([second, second + 0.25, second + 0.5, second + 0.999]))
PUSH = st.tuples(st.just("push"), ENDS, st.just(0))
TAKE = st.tuples(st.just("take"), ENDS, st.integers(1, 6))


@given(st.lists(st.one_of(PUSH, TAKE), max_size=80))
def test_takes_the_earliest_first_with_ties_in_push_order(steps: list[tuple[str, float, int]]) -> None:
    queue, reference = DueQueue(), []
    for number, (action, at, limit) in enumerate(steps):
        if action == "push":
            task_id = f"task-{99 - number:02d}"  # ids sort against the push order: ties must not go by id
            queue.push(at, task_id)
            reference.append((at, number, task_id))
            reference.sort()
        else:
            due = [task_id for ends, _, task_id in reference if ends <= at][:limit]
            assert queue.take(at, limit) == due
            reference = reference[len(due):]
        assert len(queue) == len(reference)
        assert queue.first() == (reference[0][0] if reference else None)


def test_a_task_ending_before_every_queued_one_comes_out_first() -> None:
    queue = DueQueue()
    for ends, task_id in [(30.5, "late"), (30.1, "later-pushed-earlier"), (31.0, "next-second")]:
        queue.push(ends, task_id)
    assert queue.take(30.2, 10) == ["later-pushed-earlier"]  # the head bucket is now partly taken
    queue.push(5.0, "much-earlier")
    assert queue.first() == 5.0
    assert queue.take(100, 10) == ["much-earlier", "late", "next-second"]
    assert len(queue) == 0 and queue.first() is None and queue.take(100, 10) == []


def test_first_on_another_thread_never_fails_while_tasks_are_pushed_and_taken() -> None:
    """The store reads ``first`` without its lock (every request does): it must never pair one bucket
    with another's position, whatever a take on another thread is doing."""
    queue, seen, failures = DueQueue(), [], []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            try:
                seen.append(queue.first())
            except Exception as exc:  # any failure is the finding
                failures.append(exc)
                return

    switching = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    reader = threading.Thread(target=read)
    reader.start()
    try:
        for second in range(5000):
            size = 1 + second % 9  # buckets of 1 to 9 tasks: a take moves from a long bucket to a short one
            for part in range(size):
                queue.push(second + part / size, f"task-{second}-{part}")
            queue.take(second - 0.5, 12)
    finally:
        stop.set()
        reader.join()
        sys.setswitchinterval(switching)
    assert failures == []
    assert {type(value) for value in seen} <= {float, int, type(None)} and len(seen) > 100
