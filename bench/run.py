"""``make bench``: the emulator against the framework's ceiling and a generic OpenAPI mock, in one run.

Targets, all serving the same routes on loopback, one process each:

- ``emulator``: ``evolink-mock serve`` (default speed, so tasks also finish and settle under load);
- ``bare``: ``bench/bare_app.py``, bare Starlette endpoints answering fixed JSON on the same
  uvicorn settings (uvloop + httptools, no access log): the ceiling;
- ``prism``: Stoplight Prism (``@stoplight/prism-cli``) mocking the same ``openapi.yaml``: the peer.

Load comes from wrk (64 connections, one thread) on ``GET /v1/tasks/{id}`` and
``POST /v1/videos/generations``: a warm-up, then ``--rounds`` rounds per target, interleaved,
and the median round is reported, with the server process's CPU time per request. Then
what open dashboard pages cost the polls (``bench/dashboard.py``), start-up time, memory per
live task up to a million tasks, and the pytest fixtures' overhead.
Results go to ``bench/RESULTS.md`` (and ``bench/results.json``). wrk and Prism are installed
here if missing (Debian's ``wrk``; Prism from npm into ``bench/.work``).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
WORK = BENCH / ".work"
BIN = Path(sys.executable).parent
KEY = "sk-bench-00000001"
EXAMPLE_TASK = "task-unified-1757169743-a1b2c3d4"
BODY = '{"model": "kling-o3-text-to-video", "prompt": "a lighthouse at dusk"}'
TARGETS = {"GET": 0.8, "POST": 0.6}  # emulator / bare throughput
P99_MS, BYTES_PER_TASK, STARTUP_S, FIXTURE_MS = 10.0, 2048, 1.0, 5.0
DASHBOARD_PAGES, DASHBOARD_TASKS = 10, 200  # pages streaming while wrk polls; long tasks their table shows


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _run(*command: str, **kwargs: object) -> subprocess.CompletedProcess:
    return subprocess.run(command, check=True, capture_output=True, text=True, **kwargs)


# -- tools ---------------------------------------------------------------------------------------
def ensure_wrk() -> str:
    """wrk from Debian's packages."""
    if not shutil.which("wrk"):
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        print("installing wrk (apt-get)...", flush=True)
        _run(*sudo, "apt-get", "update", "-qq")
        _run(*sudo, "apt-get", "install", "-y", "-qq", "wrk", env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk") or "wrk"


def ensure_prism() -> Path:
    """Prism from npm, into bench/.work."""
    prism = WORK / "node_modules" / ".bin" / "prism"
    if not prism.exists():
        print("installing @stoplight/prism-cli (npm)...", flush=True)
        WORK.mkdir(exist_ok=True)
        _run("npm", "install", "--no-audit", "--no-fund", "--silent", "--prefix", str(WORK), "@stoplight/prism-cli@5")
    return prism


# -- servers -------------------------------------------------------------------------------------
class Server:
    """One target process on a free port."""

    def __init__(self, name: str, command: list[str], port: int, ready_path: str, env: dict | None = None):
        self.name, self.port, self.ready_path = name, port, ready_path
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server; closed by stop()
        self.proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> float:
        """Seconds until the server answered its ready path (polling: this is a benchmark, not a test)."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{self.name} exited: {self.log.read().decode()[-2000:]}")
            try:
                request = urllib.request.Request(self.url + self.ready_path, headers={"Authorization": f"Bearer {KEY}"})
                with urllib.request.urlopen(request, timeout=2) as response:
                    if response.status == 200:
                        return time.perf_counter() - started
            except OSError:
                time.sleep(0.01)
        raise RuntimeError(f"{self.name} did not start within {timeout} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process and its children (Prism forks)."""
        total = 0.0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            except (OSError, IndexError):
                pass
        return total

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)


def _children(pid: int) -> list[int]:
    try:
        direct = [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return direct + [grandchild for child in direct for grandchild in _children(child)]


def start_targets(prism: Path) -> dict[str, Server]:
    uvicorn = [str(BIN / "uvicorn"), "--log-level", "warning", "--no-access-log", "--host", "127.0.0.1"]
    servers = {
        "emulator": Server("emulator", [str(BIN / "evolink-mock"), "serve", "--log-level", "warning"],
                           port := _free_port(), "/_mock/health",
                           {"EVOLINK_MOCK_PORT": str(port), "EVOLINK_MOCK_CREDITS": "1000000000000000"}),
        "bare": Server("bare", [*uvicorn, "--port", str(port := _free_port()), "bench.bare_app:app"], port,
                       f"/v1/tasks/{EXAMPLE_TASK}"),
        "prism": Server("prism", [str(prism), "mock", str(ROOT / "openapi.yaml"), "-h", "127.0.0.1", "-p",
                                  str(port := _free_port())], port, f"/v1/tasks/{EXAMPLE_TASK}"),
    }
    for server in servers.values():
        server.wait_ready()
    return servers


def _task_id(server: Server) -> str:
    request = urllib.request.Request(server.url + "/v1/videos/generations", data=BODY.encode(), method="POST",
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["id"]


# -- load ----------------------------------------------------------------------------------------
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(number) * _UNITS[unit]


def wrk(tool: str, url: str, seconds: int, connections: int, script: Path | None) -> dict:
    """One wrk run: requests per second, p50/p99 latency, non-2xx count."""
    command = [tool, "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {KEY}"]
    out = _run(*command, *(["-s", str(script)] if script else []), url).stdout
    latencies = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.MULTILINE))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "requests": int(re.search(r"(\d+) requests in", out).group(1)),
            "p50_ms": _ms(latencies["50"]), "p99_ms": _ms(latencies["99"]),
            "non_2xx": int(non_2xx.group(1)) if non_2xx else 0}


def load(tool: str, servers: dict[str, Server], rounds: int, seconds: int, connections: int) -> dict:
    """Median round per target and route, rounds interleaved across targets."""
    script = WORK / "post.lua"
    script.write_text(f'wrk.method = "POST"\nwrk.body = {json.dumps(BODY)}\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
    urls = {name: {"GET": f"{s.url}/v1/tasks/{_task_id(s) if name == 'emulator' else EXAMPLE_TASK}",
                   "POST": f"{s.url}/v1/videos/generations"} for name, s in servers.items()}
    runs: dict[str, dict[str, list[dict]]] = {name: {"GET": [], "POST": []} for name in servers}
    for route in ("GET", "POST"):
        for name in servers:  # warm-up
            wrk(tool, urls[name][route], 2, connections, script if route == "POST" else None)
        for _ in range(rounds):
            for name, server in servers.items():
                before = server.cpu_seconds()
                result = wrk(tool, urls[name][route], seconds, connections, script if route == "POST" else None)
                result["cpu_us_per_request"] = (server.cpu_seconds() - before) / result["requests"] * 1e6
                runs[name][route].append(result)
    medians = {name: {route: _median(results) for route, results in by_route.items()}
               for name, by_route in runs.items()}
    half = wrk(tool, urls["emulator"]["POST"], seconds, connections // 2, script)
    medians["emulator"]["POST"]["p99_ms_at_half_connections"] = half["p99_ms"]
    return medians


def _median(results: list[dict]) -> dict:
    ranked = sorted(results, key=lambda r: r["rps"])
    middle = dict(ranked[len(ranked) // 2])
    middle["rps_rounds"] = [round(r["rps"]) for r in results]
    middle["cpu_us_per_request"] = statistics.median(r["cpu_us_per_request"] for r in results)
    return middle


# -- the rest ------------------------------------------------------------------------------------
def startup(times: int = 5) -> dict:
    """Seconds from spawning ``evolink-mock serve`` to its first answer, and the import share of it."""
    spawned = []
    for _ in range(times):
        port = _free_port()
        server = Server("startup", [str(BIN / "evolink-mock"), "serve", "--log-level", "warning"], port,
                        "/_mock/health", {"EVOLINK_MOCK_PORT": str(port)})
        try:
            spawned.append(server.wait_ready())
        finally:
            server.stop()
    imports = min(float(_run(sys.executable, "-c", "import time; t = time.perf_counter(); "
                             "import mock_server.http.app, uvicorn; print(time.perf_counter() - t)").stdout)
                   for _ in range(3))
    return {"median_s": round(statistics.median(spawned), 3), "runs_s": [round(s, 3) for s in spawned],
            "import_s": round(imports, 3)}


def memory(counts: list[int]) -> dict:
    return json.loads(_run(sys.executable, str(BENCH / "memory.py"), *map(str, counts), cwd=ROOT).stdout)


def fixture_overhead() -> dict:
    return json.loads(_run(sys.executable, str(BENCH / "fixture_overhead.py"), "--rounds", "200", cwd=ROOT).stdout)


def machine(tool: str, prism: Path) -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    versions = {name: importlib.metadata.version(name) for name in
                ("starlette", "uvicorn", "uvloop", "httptools", "orjson", "jsonschema-rs")}
    wrk_version = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    prism_version = _run(str(prism), "--version").stdout.strip()
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kb / 2**20, 1),
            "kernel": platform.release(), "python": platform.python_version(), "packages": versions,
            "wrk": wrk_version, "prism": prism_version,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def report(results: dict) -> str:
    """bench/RESULTS.md."""
    load_, mach = results["load"], results["machine"]
    lines = ["# Benchmark results", "",
             f"Measured {mach['date']} by `make bench` (bench/run.py) on {mach['cores']} cores of "
             f"{mach['cpu']}, {mach['memory_gib']} GiB, Linux {mach['kernel']}, Python {mach['python']}; "
             + ", ".join(f"{k} {v}" for k, v in mach["packages"].items()) + f"; {mach['wrk']}; Prism {mach['prism']}.",
             "", f"Load: wrk, 1 thread, {results['connections']} connections, {results['rounds']} rounds of "
             f"{results['seconds']} s per target and route, interleaved; the median round is shown. The load "
             "generator shares the machine's cores with the server. `cpu/req` is the server process's CPU time "
             "per request (less noisy than throughput on a shared machine).", "",
             "| route | target | req/s | p50 ms | p99 ms | cpu/req µs | rounds req/s |",
             "|---|---|---|---|---|---|---|"]
    for route in ("GET", "POST"):
        for name in ("emulator", "bare", "prism"):
            r = load_[name][route]
            lines.append(f"| {route} | {name} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | "
                         f"{r['cpu_us_per_request']:.1f} | {', '.join(map(str, r['rps_rounds']))} |")
    lines += ["", "| target | goal | measured | met |", "|---|---|---|---|"]
    for check in results["checks"]:
        lines.append(f"| {check['what']} | {check['goal']} | {check['measured']} | {'yes' if check['met'] else 'no'} |")
    mem = results["memory"]
    lines += ["", "## Memory per live task", "",
              f"Python allocations per task (tracemalloc, first {min(map(int, mem['by_count']))} tasks): "
              f"{mem['traced_bytes_per_task']} B. Resident memory growth per task:", ""]
    lines += [f"- {int(count):,} tasks: {row['rss_bytes_per_task']} B/task" for count, row in mem["by_count"].items()
              if row["rss_bytes_per_task"] is not None]
    million = mem["by_count"].get("1000000", {}).get("rss_bytes_per_task")
    if million:
        lines.append(f"\nA million live tasks cost about {million * 1_000_000 / 2**20:.0f} MiB; they were created "
                     f"through the core (validation, pricing, reservation) in {mem['create_seconds']} s.")
    pages = results["dashboard"]
    lines += ["", "## Dashboard pages", "",
              f"`bench/dashboard.py`: one emulator (default speed) holding {pages['tasks']} running tasks; wrk polls "
              f"one task ({pages['connections']} connections, {pages['rounds']} rounds of {pages['seconds']} s) with "
              f"no dashboard page open, then with {pages['pages']} pages open on their live streams (readers of "
              "`GET /_mock/ui/events` in another process), alternating; median rounds:", "",
              "| pages | req/s | p99 ms | cpu/req µs | rounds req/s |", "|---|---|---|---|---|"]
    for label, row in (("none", pages["none"]), (str(pages["pages"]), pages["with_pages"])):
        lines.append(f"| {label} | {row['rps']:.0f} | {row['p99_ms']:.2f} | {row['cpu_us_per_request']:.1f} | "
                     f"{', '.join(map(str, row['rps_rounds']))} |")
    lines += ["", "## Start-up and fixtures", "",
              f"`evolink-mock serve` answers its first request {results['startup']['median_s']} s after it is "
              f"spawned (median of {len(results['startup']['runs_s'])}); importing the app and uvicorn takes "
              f"{results['startup']['import_s']} s of that.", "",
              "Per test, on top of an empty test: " + ", ".join(
                  f"`{k}` {v} ms" for k, v in results["fixtures"]["ms_per_test"].items()) + ".", ""]
    if results["notes"]:
        lines += ["## Notes", ""] + [f"- {note}" for note in results["notes"]] + [""]
    return "\n".join(lines)


def checks(results: dict) -> list[dict]:
    load_ = results["load"]
    out = []
    for route, goal in TARGETS.items():
        ratio = load_["emulator"][route]["rps"] / load_["bare"][route]["rps"]
        cpu = load_["bare"][route]["cpu_us_per_request"] / load_["emulator"][route]["cpu_us_per_request"]
        out.append({"what": f"{route} throughput vs bare Starlette", "goal": f">= {goal}x",
                    "measured": f"{ratio:.2f}x (by CPU per request {cpu:.2f}x)", "met": ratio >= goal})
        prism = load_["emulator"][route]["rps"] / load_["prism"][route]["rps"]
        out.append({"what": f"{route} throughput vs Prism", "goal": "(peer)", "measured": f"{prism:.2f}x",
                    "met": prism >= 1})
        p99 = load_["emulator"][route]["p99_ms"]
        out.append({"what": f"{route} p99 at {results['connections']} connections", "goal": f"< {P99_MS} ms",
                    "measured": f"{p99:.2f} ms", "met": p99 < P99_MS})
    per_task = max(row["rss_bytes_per_task"] or 0 for row in results["memory"]["by_count"].values())
    out.append({"what": "memory per live task", "goal": f"<= {BYTES_PER_TASK} B", "measured": f"{per_task} B",
                "met": per_task <= BYTES_PER_TASK})
    out.append({"what": "start-up", "goal": f"< {STARTUP_S} s", "measured": f"{results['startup']['median_s']} s",
                "met": results["startup"]["median_s"] < STARTUP_S})
    pages = results["dashboard"]
    out.append({"what": f"GET throughput with {pages['pages']} dashboard pages open",
                "goal": f">= {pages['goal']}x none", "measured": f"{pages['ratio']:.2f}x", "met": pages["met"]})
    fixture = results["fixtures"]["ms_per_test"]["evolink_mock"]
    out.append({"what": "evolink_mock fixture per test", "goal": f"< {FIXTURE_MS} ms", "measured": f"{fixture} ms",
                "met": fixture < FIXTURE_MS})
    return out


def explanations(results: dict) -> list[str]:
    """What stops each target that was missed, from the measured figures."""
    load_, notes = results["load"], []
    for check in results["checks"]:
        if check["met"] or check["goal"] == "(peer)":
            continue
        what = check["what"]
        route = what.split()[0]
        emulator, bare = load_["emulator"].get(route, {}), load_["bare"].get(route, {})
        if "vs bare" in what:
            extra = emulator["cpu_us_per_request"] - bare["cpu_us_per_request"]
            notes.append(f"{what}: the emulator spends {extra:.0f} us more CPU per request than the bare endpoint "
                         f"({emulator['cpu_us_per_request']:.0f} vs {bare['cpu_us_per_request']:.0f}): the work "
                         "itself (authentication, validation against the contract, pricing, the task's state, its "
                         "JSON), all in one Python process. Runs on this shared machine vary by about 5% between "
                         "rounds (see the per-round figures).")
        elif "dashboard pages" in what:
            pages = results["dashboard"]
            extra = pages["with_pages"]["cpu_us_per_request"] - pages["none"]["cpu_us_per_request"]
            notes.append(f"{what}: with the pages open the server spent {extra:.1f} us more CPU per poll; the "
                         f"rounds were {pages['none']['rps_rounds']} (none) and {pages['with_pages']['rps_rounds']} "
                         "(pages), so compare the spread between rounds with the difference.")
        elif "p99" in what:
            queue = results["connections"] * emulator["cpu_us_per_request"] / 1000
            notes.append(f"{what}: with {results['connections']} connections on one server process a request "
                         f"waits behind the others: {results['connections']} x {emulator['cpu_us_per_request']:.0f} "
                         f"us = {queue:.1f} ms, which is the p50 ({emulator['p50_ms']:.1f} ms). The tail above it is "
                         "full garbage collections (kept under about 10 ms by freezing what survives them) and the "
                         f"load generator sharing the same 2 cores. At {results['connections'] // 2} connections the "
                         f"same server's p99 was {emulator.get('p99_ms_at_half_connections', float('nan')):.1f} ms.")
    return notes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--tasks", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    tool, prism = ensure_wrk(), ensure_prism()
    results: dict = {"rounds": args.rounds, "seconds": args.seconds, "connections": args.connections, "notes": []}
    results["machine"] = machine(tool, prism)
    servers = start_targets(prism)
    try:
        results["load"] = load(tool, servers, args.rounds, args.seconds, args.connections)
    finally:
        for server in servers.values():
            server.stop()
    print("load done; dashboard pages, start-up, memory, fixtures...", flush=True)
    import dashboard  # bench/dashboard.py (it imports this module's helpers)

    results["dashboard"] = dashboard.measure(tool, DASHBOARD_PAGES, args.rounds, args.seconds, args.connections,
                                             DASHBOARD_TASKS)
    results["startup"] = startup()
    results["memory"] = memory(args.tasks)
    results["fixtures"] = fixture_overhead()
    for name, by_route in results["load"].items():
        for route, result in by_route.items():
            if result["non_2xx"]:
                results["notes"].append(f"{name} {route}: {result['non_2xx']} answers were not 2xx")
    results["checks"] = checks(results)
    results["notes"] += explanations(results)
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(report(results))
    print((BENCH / "RESULTS.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
