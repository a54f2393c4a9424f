"""Memory per live task: create N tasks through the emulator core and measure what they hold.

    .venv/bin/python bench/memory.py 10000 100000 1000000

Prints JSON: for each N, the bytes Python allocated for the tasks (tracemalloc would slow a
million creates ten-fold, so it is measured on the smallest N and scaled) and the growth of
the process's resident memory, per task.
"""
from __future__ import annotations

import json
import resource
import sys
import time
import tracemalloc
from decimal import Decimal

from mock_server import Emulator, Settings

BODY = {"model": "kling-o3-text-to-video", "prompt": "a lighthouse at dusk"}


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def measure(counts: list[int]) -> dict:
    emulator = Emulator(Settings(speed=0, seed=1, credits=Decimal(10) ** 15))
    account = emulator.authenticate("Bearer sk-memory-bench-0001")
    emulator.create_task(account, dict(BODY))  # warm caches
    results = {}
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(counts[0]):
        emulator.create_task(account, dict(BODY))
    traced = (tracemalloc.get_traced_memory()[0] - before) / counts[0]
    tracemalloc.stop()
    base_rss, made, started = _rss(), counts[0], time.perf_counter()
    for count in counts:
        for _ in range(count - made):
            emulator.create_task(account, dict(BODY))
        made = count
        results[count] = {"rss_bytes_per_task": round((_rss() - base_rss) / max(1, count - counts[0]))
                          if count > counts[0] else None}
    return {"traced_bytes_per_task": round(traced), "by_count": results,
            "create_seconds": round(time.perf_counter() - started, 1), "tasks": emulator.task_count()}


if __name__ == "__main__":
    print(json.dumps(measure([int(n) for n in sys.argv[1:]] or [10000, 100000, 1000000])))
