"""How much the pytest fixtures add to each test: set-up plus teardown, in milliseconds.

    .venv/bin/python bench/fixture_overhead.py [--rounds 300]

Runs a generated test file of N empty tests per fixture in a pytest subprocess
and subtracts a plain run of N empty tests, so the figures include everything
the plugin does per test (emulator, app, respx router, handle, contract
checks) and nothing else. The goal for ``evolink_mock`` is under 5 ms.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

TEMPLATE = textwrap.dedent("""
    import pytest

    @pytest.mark.parametrize("n", range({rounds}))
    def test_it({fixture}n):
        pass
""")


def _run(directory: Path, fixture: str, rounds: int) -> float:
    path = directory / f"test_{fixture or 'plain'}.py"
    path.write_text(TEMPLATE.format(rounds=rounds, fixture=f"{fixture}, " if fixture else ""))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(path)],
                   cwd=directory, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(rounds: int) -> dict[str, float]:
    """Milliseconds per test each fixture adds over an empty test."""
    with tempfile.TemporaryDirectory() as work:
        directory = Path(work)
        plain = min(_run(directory, "", rounds) for _ in range(3))
        return {fixture: round((min(_run(directory, fixture, rounds) for _ in range(3)) - plain) / rounds * 1000, 3)
                for fixture in ("evolink_mock", "evolink_server")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    print(json.dumps({"rounds": args.rounds, "ms_per_test": measure(args.rounds)}, indent=2))


if __name__ == "__main__":
    main()
