"""Polling is O(1) and idle tasks cost nothing: no timer, thread or loop per task."""
from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable

from mock_server import Emulator, Settings
from mock_server.core.views import task_body

BODY = {"model": "kling-o3-text-to-video", "prompt": "scale"}


def _calls(action: Callable[[], object]) -> int:
    """How many Python-level function calls ``action`` makes.

    The garbage collector is held off while counting: a collection that happens to start inside
    ``action`` runs the Python callbacks in ``gc.callbacks`` (hypothesis installs one as soon as a
    worker has run any hypothesis test, as ``pytest -n 2`` workers have), which the profile would
    count as the poll's own calls.
    """
    count = 0

    def profile(frame: object, event: str, arg: object) -> None:
        nonlocal count
        if event == "call":
            count += 1

    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
        if collecting:
            gc.enable()
    return count


def _emulator_with(tasks: int) -> tuple[Emulator, str]:
    emulator = Emulator(Settings(speed=0, seed=11))
    account = emulator.put_account("sk-scaling-0001", emulator.settings.credits * 1000, None)
    first = emulator.create_task(account, BODY)[0].id
    for _ in range(tasks - 1):
        emulator.create_task(account, BODY)
    return emulator, first


def _poll(emulator: Emulator, task_id: str) -> Callable[[], object]:
    account = emulator.account("sk-scaling-0001")
    return lambda: task_body(emulator.owned_task(account, task_id), emulator.now(), "http://127.0.0.1:8000")


def test_a_poll_does_the_same_work_with_10_or_3000_tasks() -> None:
    small, small_id = _emulator_with(10)
    large, large_id = _emulator_with(3000)
    _poll(small, small_id)(), _poll(large, large_id)()  # warm caches
    assert _calls(_poll(small, small_id)) == _calls(_poll(large, large_id))


def test_creating_tasks_starts_no_thread_and_schedules_one_due_entry_each() -> None:
    threads = threading.active_count()
    emulator, _ = _emulator_with(2000)
    assert threading.active_count() == threads
    assert emulator.due_count() == 2000  # one settlement each, nothing else
    assert emulator.settle_due(2000) == 0  # nothing due yet: nothing touched


def test_advancing_settles_exactly_the_tasks_that_ended() -> None:
    emulator, _ = _emulator_with(500)
    ends = sorted(task.ends for task in emulator.tasks())
    middle = ends[249]
    emulator.clock.advance(middle - emulator.clock.now())
    assert emulator.settle_due(500) == 250
    assert [task.settled for task in emulator.tasks()].count("charged") == 250
    assert emulator.due_count() == 250
