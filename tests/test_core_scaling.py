"""Polling is O(1) and idle tasks cost nothing: no timer, thread or loop per task; creates and polls do
the same work whatever the number of models."""
from __future__ import annotations

import gc
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import yaml

from mock_server import Emulator, Settings
from mock_server.contract import ApiContract
from mock_server.core.ledger import LedgerEntry
from mock_server.core.tasks import Task
from mock_server.core.views import task_body
from mock_server.families import build, registry

BODY = {"model": "kling-o3-text-to-video", "prompt": "scale"}


def _count(action: Callable[[], object], event: str = "call") -> int:
    """How many ``event``s ``action`` runs: ``call`` (Python-level calls) or ``line`` (lines of Python).

    The garbage collector is held off while counting: a collection that happens to start inside
    ``action`` runs the Python callbacks in ``gc.callbacks`` (hypothesis installs one as soon as a
    worker has run any hypothesis test, as ``pytest -n 2`` workers have), which the trace would
    count as the action's own work.
    """
    count = 0

    def trace(frame: object, kind: str, arg: object) -> object:
        nonlocal count
        count += kind == event
        return trace

    collecting = gc.isenabled()
    gc.collect()
    gc.disable()
    sys.settrace(trace)
    try:
        action()
    finally:
        sys.settrace(None)
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
    assert _count(_poll(small, small_id)) == _count(_poll(large, large_id))


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


def _tracked(kind: type) -> int:
    return sum(type(thing) is kind for thing in gc.get_objects())


def test_stored_tasks_and_ledger_entries_cost_a_garbage_collection_nothing() -> None:
    """A collection walks every object the collector tracks: the tasks a server holds must not be among them,
    or every full collection (and the pause a request waits through) grows with the tasks stored."""
    gc.collect()
    before = _tracked(Task), _tracked(LedgerEntry)
    emulator, _ = _emulator_with(2000)
    emulator.advance(3600)  # every task settled: a changed record of each, and a second ledger entry
    gc.collect()
    assert len(emulator.tasks()) == 2000 and emulator.due_count() == 0
    assert (_tracked(Task), _tracked(LedgerEntry)) == before


def test_a_create_after_a_full_collection_leaves_no_large_container_for_the_next_young_one() -> None:
    """A young collection walks every object in the young generation, and a container's every item:
    a create must not put the table of stored tasks back among them (a plain dict holding only untracked
    tuples is untracked by a full collection, and tracked anew, as a young object, by the next insert)."""
    emulator, _ = _emulator_with(25_600)  # about 100 in each part of the task table
    account = emulator.account("sk-scaling-0001")
    gc.collect()
    emulator.create_task(account, BODY)
    young = [len(thing) for thing in gc.get_objects(generation=0) if isinstance(thing, (dict, list, tuple, set))]
    assert max(young, default=0) < 50


def _kling_only(folder: Path) -> ApiContract:
    """The contract built from base.yaml and the Kling family alone (a fraction of the 74 models)."""
    sources = folder / "families"
    shutil.copytree(build.SOURCES, sources, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    base = build.load_source(sources / build.BASE)
    base["x-evolink-families"] = ["kling"]
    (sources / build.BASE).write_text(yaml.safe_dump(base, sort_keys=False), encoding="utf-8")
    for other in sources.glob("*.yaml"):
        if other.stem not in ("base", "kling"):
            other.unlink()
    return ApiContract(build.build(sources))


def _create_and_poll_lines(emulator: Emulator) -> tuple[int, int]:
    account = emulator.put_account("sk-scaling-0001", emulator.settings.credits * 1000, None)
    emulator.create_task(account, BODY)  # warm caches (the model's validator, rules, timing)
    created: list[Task] = []
    create = _count(lambda: created.append(emulator.create_task(account, BODY)[0]), "line")
    return create, _count(_poll(emulator, created[0].id), "line")


def test_a_create_and_a_poll_do_the_same_work_with_every_model_or_one_family(tmp_path: Path) -> None:
    few = _kling_only(tmp_path)
    assert len(few.models) < len(registry()) / 3
    one_family = _create_and_poll_lines(Emulator(Settings(speed=0, seed=11), contract=few))
    every_model = _create_and_poll_lines(Emulator(Settings(speed=0, seed=11)))
    assert one_family == every_model
