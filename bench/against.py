"""``make bench-against REF=<commit>``: this tree's emulator against another commit's, in the same rounds.

A before-and-after comparison of GET and POST server CPU per request (and throughput, p99) that
the machine's mood cannot skew: both emulators and bare Starlette run side by side, in interleaved
rounds, each alone on the machine during its round (the others stopped), exactly as ``make bench``
measures its targets (:func:`run.load`). Separate ``make bench`` runs on a shared VM differ by 30%
or more; rounds minutes apart, interleaved, do not drift apart.

The other commit is exported (``git archive``) into ``bench/.work/against-<commit>`` with its own
virtualenv (built on first use, reused after). Writes ``bench/against-<commit>.md``.

Timing is what the check is about, but even paired rounds leave this VM's noise at about 10%: the same
GET code measured 0.89x and 1.12x in two runs. So the report adds the instructions each emulator executes per request,
counted by valgrind (``bench/instructions.py``: in-process, deterministic within 0.2%), with the same
check: the share of a change that is the emulator's own code, without the noise.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

import instructions  # bench/instructions.py
import run  # bench/run.py
from run import _run

LIMIT = 1.05  # after / before, CPU per request: at most 5% worse


def paired(results: dict, route: str) -> tuple[float, list[float]]:
    """After / before CPU per request round by round (seconds apart, so in the same machine state): the
    median ratio and each round's."""
    ratios = [a / b for a, b in zip(results["after"][route]["cpu_rounds"], results["before"][route]["cpu_rounds"])]
    return statistics.median(ratios), ratios


def export(ref: str) -> tuple[str, Path]:
    """The commit ``ref`` names, exported with an installed virtualenv: (commit, its tree)."""
    commit = _run("git", "rev-parse", "--verify", f"{ref}^{{commit}}", cwd=run.ROOT).stdout.strip()
    tree = run.WORK / f"against-{commit[:12]}"
    ready = tree / ".venv" / ".installed"
    if not ready.exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit], cwd=run.ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        _run(sys.executable, "-m", "venv", str(tree / ".venv"))
        _run(str(tree / ".venv" / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", str(tree))
        ready.touch()
    return commit, tree


def report(commit: str, head: str, results: dict, counted: dict, mach: dict, rounds: int, seconds: int) -> str:
    lines = ["# Before and after, in the same rounds", "",
             f"Measured {mach['date']} by `make bench-against REF={commit[:12]}` (bench/against.py) on "
             f"{mach['cores']} cores of {mach['cpu']}, Python {mach['python']}. `before` is commit "
             f"{commit[:12]}, `after` this tree ({head[:12]}), `bare` bare Starlette. wrk, 1 thread, 64 "
             f"connections, {rounds} rounds of {seconds} s per target and route, interleaved, each target "
             "alone on the machine during its round; the median round is shown, CPU per request is the "
             "median of the rounds. The check compares each round of `after` with the round of `before` just "
             "before it (the median of those ratios): a shared machine's speed drifts by tens of percent "
             "within minutes, far less within seconds.", "",
             "| route | target | req/s | p99 ms | cpu/req µs | cpu/req vs before | rounds cpu/req µs |",
             "|---|---|---|---|---|---|---|"]
    for route in ("GET", "POST"):
        base = results["before"][route]["cpu_us_per_request"]
        for name in ("before", "after", "bare"):
            result = results[name][route]
            cpu = result["cpu_us_per_request"]
            lines.append(f"| {route} | {name} | {result['rps']:.0f} | {result['p99_ms_median']:.2f} | {cpu:.1f} | "
                         f"{cpu / base:.3f}x | {', '.join(f'{c:.1f}' for c in result['cpu_rounds'])} |")
    lines += ["", "| check | goal | measured (median of the rounds' ratios) | rounds | met |",
              "|---|---|---|---|---|"]
    for route in ("GET", "POST"):
        ratio, ratios = paired(results, route)
        lines.append(f"| {route} server CPU per request, after vs before | <= {LIMIT:.2f}x | {ratio:.3f}x | "
                     f"{', '.join(f'{r:.2f}' for r in ratios)} | {'yes' if ratio <= LIMIT else 'no'} |")
    lines += ["", "## Instructions per request", "",
              "Counted by valgrind (cachegrind) in the same Python, each app driven in-process with the same "
              "requests (bench/instructions.py): no socket, no server, mock time standing still. Two runs of "
              "the same code agree within 0.2%.", "",
              "| route | before | after | bare | after vs before | goal | met |", "|---|---|---|---|---|---|---|"]
    for route in ("GET", "POST"):
        before, after, bare = (counted[name][route] for name in ("before", "after", "bare"))
        lines.append(f"| {route} | {before:,.0f} | {after:,.0f} | {bare:,.0f} | {after / before:.3f}x | "
                     f"<= {LIMIT:.2f}x | {'yes' if after / before <= LIMIT else 'no'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the commit to compare with (any git revision)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()
    run.exit_on_sigterm()
    tool = run.ensure_wrk()
    commit, tree = export(args.ref)
    head = _run("git", "rev-parse", "HEAD", cwd=run.ROOT).stdout.strip()
    mach = run.machine(tool, None)
    servers = {"after": run.emulator("emulator"), "bare": run.bare(),
               "before": run.emulator("before", program=tree / ".venv" / "bin" / "evolink-mock")}
    try:
        for server in servers.values():
            server.wait_ready()
        results = run.load(tool, {"before": servers["before"], "emulator": servers["after"],
                                  "bare": servers["bare"]}, args.rounds, args.seconds, 64)
    finally:
        for server in servers.values():
            server.stop()
    results["after"] = results.pop("emulator")
    python = run.BIN / "python"
    routes = ("GET", "POST")
    counted = instructions.count_all({"before": (tree / ".venv" / "bin" / "python", "emulator", routes),
                                      "after": (python, "emulator", routes), "bare": (python, "bare", routes)})
    text = report(commit, head, results, counted, mach, args.rounds, args.seconds)
    (run.BENCH / f"against-{commit[:12]}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
