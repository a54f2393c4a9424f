"""Instructions per request, counted by valgrind: a CPU figure that a shared machine's mood cannot move.

Timing on a shared VM swings by tens of percent within minutes; the number of instructions a request
executes does not (two runs agree within 0.2%). :func:`per_request` runs a target's ASGI app
in-process (no socket, no server, no wrk) under ``valgrind --tool=cachegrind`` twice, with two request
counts, and divides the difference by the difference of the counts: start-up, imports and warm-up
cancel out. What it leaves out is what only timing sees: cache misses, the kernel's network path and
uvicorn's parsing.

Mock time stands still (``EVOLINK_MOCK_SPEED=0``) for ``GET`` and ``POST``, so no task finishes. Under
the bench's load the clock runs, and each create also settles, on average, one task that ended:
``SETTLING`` counts that too. Mock time steps ``SETTLE_STEP`` after each create (the load's pace), after
``SETTLE_WARM_UP`` creates that fill the due queue to its steady size.

Run directly, this file is the driver that valgrind runs, in the target's own Python (another
commit's virtualenv, for ``make bench-against``):

    python bench/instructions.py emulator|bare GET|POST|SETTLING COUNT
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

KEY = b"sk-bench-00000001"
BODY = b'{"model": "kling-o3-text-to-video", "prompt": "a lighthouse at dusk"}'
WARM_UP = 500  # requests before counting: caches filled, first-use paths taken
COUNTS = (500, 2500)  # the two runs' request counts
TARGETS = ("emulator", "bare")
ROUTES = ("GET", "POST", "SETTLING")  # SETTLING: a POST that also settles a task (the emulator only)
SETTLE_STEP = 1 / 200  # mock seconds per create: 60x mock time at about 12,000 creates a second
SETTLE_WARM_UP = 120_000  # creates (through the core: quicker) before counting: tasks end as fast as they start


# -- the driver (runs under valgrind, in the target's Python) -----------------------------------
def _app(target: str) -> Any:
    if target == "bare":
        import bare_app  # bench/bare_app.py: this file's directory is on sys.path

        return bare_app.app
    os.environ.update(EVOLINK_MOCK_SPEED="0", EVOLINK_MOCK_SEED="1", EVOLINK_MOCK_CREDITS="1000000000000000")
    from mock_server import create_app

    return create_app()


def _scope(method: str, path: str) -> dict[str, Any]:
    """What uvicorn passes for a request from wrk."""
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
            "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Bearer " + KEY),
                        (b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]}


async def _drive(target: str, route: str, count: int) -> None:
    app = _app(target)
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": BODY, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def call(method: str, path: str) -> bytes:
        sent.clear()
        await app(_scope(method, path), receive, send)
        if sent[0]["status"] != 200:
            raise SystemExit(f"{method} {path}: {sent[0]['status']} {sent[-1].get('body', b'')!r}")
        return sent[-1]["body"]

    if route == "SETTLING":
        await _settling(app.state.emulator, call, count)
        return
    task_id = json.loads(await call("POST", "/v1/videos/generations"))["id"]
    paths = {"GET": ("GET", f"/v1/tasks/{task_id}"), "POST": ("POST", "/v1/videos/generations")}
    for _ in range(WARM_UP):
        await call(*paths["POST"])
    method, path = paths[route]
    for _ in range(count):
        await call(method, path)


async def _settling(emulator: Any, call: Any, count: int) -> None:
    """Creates with mock time moving ``SETTLE_STEP`` after each (``Emulator.advance`` settles what ended)."""
    account = emulator.ensure_account(KEY.decode())
    for _ in range(SETTLE_WARM_UP):
        emulator.create_task(account, json.loads(BODY))
        emulator.advance(SETTLE_STEP)
    running = emulator.due_count()
    creates = WARM_UP + count
    for _ in range(creates):
        await call("POST", "/v1/videos/generations")
        emulator.advance(SETTLE_STEP)
    settled = creates - (emulator.due_count() - running)
    if abs(settled - creates) > creates // 10:
        raise SystemExit(f"{creates} creates settled {settled} tasks: not one each (raise SETTLE_WARM_UP)")


# -- counting (runs in the bench) ---------------------------------------------------------------
def ensure_valgrind() -> str:
    """valgrind from Debian's packages."""
    if not shutil.which("valgrind"):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        print("installing valgrind (apt-get)...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, capture_output=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-qq", "valgrind"], check=True, capture_output=True, env=env)
    return shutil.which("valgrind") or "valgrind"


def _instructions(valgrind: str, python: Path, target: str, route: str, count: int) -> int:
    """Instructions one whole run of the driver executed."""
    done = subprocess.run(
        [valgrind, "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         str(python), __file__, target, route, str(count)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, cwd=Path(__file__).parent)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise RuntimeError(f"{target} {route} under valgrind failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def per_request(valgrind: str, python: Path, target: str, route: str) -> float:
    """Instructions per ``route`` request of ``target`` (``emulator`` as installed for ``python``, or ``bare``)."""
    small, large = (_instructions(valgrind, python, target, route, count) for count in COUNTS)
    return (large - small) / (COUNTS[1] - COUNTS[0])


def count_all(jobs: dict[str, tuple[Path, str, tuple[str, ...]]]) -> dict[str, dict[str, float]]:
    """``{name: {route: instructions per request}}`` for ``jobs`` (``name: (python, target, routes)``), a run
    per core."""
    valgrind = ensure_valgrind()
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        futures = {name: {route: pool.submit(per_request, valgrind, python, target, route) for route in routes}
                   for name, (python, target, routes) in jobs.items()}
        return {name: {route: future.result() for route, future in by_route.items()}
                for name, by_route in futures.items()}


if __name__ == "__main__":
    target, route, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if target not in TARGETS or route not in ROUTES or (target, route) == ("bare", "SETTLING"):
        raise SystemExit(__doc__)
    asyncio.run(_drive(target, route, count))
