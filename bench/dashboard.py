"""What open dashboard pages cost the API: GET throughput with none and with N pages streaming, same run.

    .venv/bin/python bench/dashboard.py [--pages 10] [--rounds 3] [--seconds 5] [--connections 64]

One ``evolink-mock serve`` (default speed, so mock time runs and every page gets a ``clock``
event each tick) holds the polled task and ``--tasks`` long-running tasks that the pages' task
table shows. Rounds alternate: wrk polls ``GET /v1/tasks/{id}`` with no page open, then with
``--pages`` pages open, each a reader of ``GET /_mock/ui/events`` (the stream a dashboard page
opens, its events parsed as the page parses them) in a separate process. Prints JSON: the
median round of each, their ratio (the goal: at least 0.9) and the server's CPU per request.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import urllib.request

from run import BIN, BODY, KEY, Server, _free_port, _task_id, exit_on_sigterm, wrk

GOAL = 0.9  # GET throughput with the pages open / with none
LONG = "queue=0;processing=100000"  # tasks that stay processing for the whole run


def _create(server: Server, count: int) -> None:
    for _ in range(count):
        request = urllib.request.Request(server.url + "/v1/videos/generations", data=BODY.encode(), method="POST",
                                         headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json",
                                                  "X-Mock-Scenario": LONG})
        urllib.request.urlopen(request, timeout=10).close()


async def _page(url: str, ready: asyncio.Event, counts: list[int]) -> None:
    import httpx

    async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", url) as response:
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                json.loads(line[5:])
                counts[0] += 1
                if line.startswith('data: {"tasks"'):
                    ready.set()


async def _pages(url: str, pages: int) -> None:
    """Open ``pages`` streams, say so on stdout once each had its first state, read until killed."""
    readies = [asyncio.Event() for _ in range(pages)]
    counts = [[0] for _ in range(pages)]
    readers = [asyncio.create_task(_page(url, ready, count)) for ready, count in zip(readies, counts)]
    await asyncio.gather(*(ready.wait() for ready in readies))
    print("ready", flush=True)
    await asyncio.gather(*readers)


def _open_pages(server: Server, pages: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, __file__, "--read-pages", str(pages), "--url",
                             server.url + "/_mock/ui/events"], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "the pages did not open"
    return proc


def measure(tool: str, pages: int, rounds: int, seconds: int, connections: int, tasks: int) -> dict:
    port = _free_port()
    server = Server("emulator", [str(BIN / "evolink-mock"), "serve", "--log-level", "warning"], port,
                    "/_mock/health", {"EVOLINK_MOCK_PORT": str(port), "EVOLINK_MOCK_CREDITS": "1000000000000000"})
    try:
        server.wait_ready()
        url = f"{server.url}/v1/tasks/{_task_id(server)}"
        _create(server, tasks)
        wrk(tool, url, 2, connections, None)  # warm-up
        runs: dict[str, list[dict]] = {"none": [], "pages": []}
        for _ in range(rounds):
            for case in ("none", "pages"):
                readers = _open_pages(server, pages) if case == "pages" else None
                try:
                    before = server.cpu_seconds()
                    result = wrk(tool, url, seconds, connections, None)
                    result["cpu_us_per_request"] = (server.cpu_seconds() - before) / result["requests"] * 1e6
                finally:
                    if readers is not None:
                        readers.kill()
                        readers.wait()
                runs[case].append(result)
    finally:
        server.stop()
    medians = {case: {"rps": statistics.median(r["rps"] for r in results),
                      "cpu_us_per_request": round(statistics.median(r["cpu_us_per_request"] for r in results), 1),
                      "p99_ms": statistics.median(r["p99_ms"] for r in results),
                      "rps_rounds": [round(r["rps"]) for r in results]} for case, results in runs.items()}
    ratio = medians["pages"]["rps"] / medians["none"]["rps"]
    return {"pages": pages, "tasks": tasks, "rounds": rounds, "seconds": seconds, "connections": connections,
            "none": medians["none"], "with_pages": medians["pages"], "ratio": round(ratio, 3), "goal": GOAL,
            "met": ratio >= GOAL}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tasks", type=int, default=200, help="long-running tasks the pages' table shows")
    parser.add_argument("--read-pages", type=int, help=argparse.SUPPRESS)  # the page readers' own process
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read_pages:
        asyncio.run(_pages(args.url, args.read_pages))
        return 0
    exit_on_sigterm()
    tool = shutil.which("wrk")
    if tool is None:
        print("wrk is not installed (make bench installs it)", file=sys.stderr)
        return 2
    print(json.dumps(measure(tool, args.pages, args.rounds, args.seconds, args.connections, args.tasks), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
