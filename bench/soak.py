"""Creates at full speed until the store holds ``--tasks`` tasks: latency per window and memory, beside bare Starlette.

    .venv/bin/python bench/soak.py [--store memory|sqlite|redis] [--tasks 500000] [--window 10]

One ``evolink-mock serve`` on a manual clock (``EVOLINK_MOCK_SPEED=0``: no task ever finishes,
so every create adds to the stored state and nothing is forgotten) takes
``POST /v1/videos/generations`` from wrk (2 threads, 64 connections) in windows of ``--window``
seconds until it holds ``--tasks`` tasks. Between two windows the same load runs for a third of a
window against bare Starlette (``bench/bare_app.py``, which parses the same body and answers it,
storing nothing): the same machine at the same moment, so a slower window of the emulator can be
told from a noisier machine. Each window reports p50, p99 and max latency, the tasks stored and
the resident memory of the emulator (and of redis-server). Prints JSON.

The goal: no window's p99 above twice the first window's, and under 1 KB of resident memory per
stored task (memory store).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from run import BIN, WORK, RedisServer, Server, _free_port, ensure_wrk, exit_on_sigterm, post_script, wrk
from run import bare as run_bare

P99_GROWTH = 2.0  # the worst window's p99 / the first window's
BYTES_PER_TASK = 1024


def rss_bytes(server: Server) -> int:
    """Resident memory of the server process."""
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def stored_tasks(server: Server) -> int:
    with urllib.request.urlopen(server.url + "/_mock/health", timeout=30) as response:
        return int(json.load(response)["tasks"])


def soak(tool: str, store: str, until: int, window: int, connections: int = 64, threads: int = 2) -> dict:
    """Windows of creates against the emulator over ``store``, each followed by a short bare window."""
    WORK.mkdir(exist_ok=True)
    state = Path(tempfile.mkdtemp(prefix="soak-", dir=WORK))
    redis = RedisServer(state) if store == "redis" else None
    if redis is not None:
        redis.wait_ready()
    url = {"memory": "memory", "sqlite": f"sqlite:///{state / 'soak.db'}",
           "redis": f"redis://127.0.0.1:{redis.port if redis else 0}/0"}[store]
    port = _free_port()
    emulator = Server("emulator", [str(BIN / "evolink-mock"), "serve", "--log-level", "warning"], port,
                      "/_mock/health", {"EVOLINK_MOCK_PORT": str(port), "EVOLINK_MOCK_SPEED": "0",
                                        "EVOLINK_MOCK_STORE": url, "EVOLINK_MOCK_CREDITS": "1000000000000000"},
                      store=redis)
    bare = run_bare()
    script = post_script()
    windows: list[dict] = []
    try:
        emulator.wait_ready()
        bare.wait_ready()
        start_rss = rss_bytes(emulator)
        started = time.perf_counter()
        tasks = 0
        while tasks < until:
            row = wrk(tool, f"{emulator.url}/v1/videos/generations", window, connections, script, threads=threads)
            tasks = stored_tasks(emulator)
            pace = wrk(tool, f"{bare.url}/v1/videos/generations", max(1, window // 3), connections, script,
                       threads=threads)
            windows.append({"tasks": tasks, "elapsed_s": round(time.perf_counter() - started, 1),
                            "p50_ms": row["p50_ms"], "p99_ms": row["p99_ms"], "max_ms": row["max_ms"],
                            "rps": row["rps"], "non_2xx": row["non_2xx"], "rss_bytes": rss_bytes(emulator),
                            "store_rss_bytes": rss_bytes(redis) if redis else None,
                            "bare": {"p50_ms": pace["p50_ms"], "p99_ms": pace["p99_ms"], "max_ms": pace["max_ms"],
                                     "rps": pace["rps"]}})
            print(f"soak {store}: {tasks} tasks, p99 {row['p99_ms']:.1f} ms (bare {pace['p99_ms']:.1f} ms)",
                  file=sys.stderr, flush=True)
    finally:
        emulator.stop()
        bare.stop()
        if redis is not None:
            redis.stop()
        shutil.rmtree(state, ignore_errors=True)  # a SQLite soak leaves a quarter of a GB
    first, worst = windows[0]["p99_ms"], max(w["p99_ms"] for w in windows)
    per_task = (windows[-1]["rss_bytes"] - start_rss) / max(1, windows[-1]["tasks"])
    return {"store": store, "tasks": until, "window_s": window, "connections": connections, "threads": threads,
            "windows": windows, "p99_growth": round(worst / first, 2) if first else None,
            "rss_bytes_per_task": round(per_task), "met": {
                "p99": worst <= P99_GROWTH * first,
                "memory": store != "memory" or per_task < BYTES_PER_TASK}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["memory", "sqlite", "redis"], default="memory")
    parser.add_argument("--tasks", type=int, default=500_000)
    parser.add_argument("--window", type=int, default=10)
    args = parser.parse_args()
    exit_on_sigterm()
    print(json.dumps(soak(ensure_wrk(), args.store, args.tasks, args.window), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
