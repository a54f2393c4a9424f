"""Regenerate the sample recordings in ``fixtures/drift/``: ``python -m contracts.drift.samples``.

``emulator-sample/`` is a free run (budget 0) recorded against the emulator
itself: it replays with no drift. ``drifted-sample/`` is the same recording
with the deliberate drifts of :data:`DRIFTS` edited in: it replays with
exactly those differences.
"""
from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mock_server.resources import fixtures_dir

from .recording import INDEX

SAMPLE_KEY = "sk-drift-sample-0000"
EMULATOR_SAMPLE = "emulator-sample"
DRIFTED_SAMPLE = "drifted-sample"


def _integer_code(record: dict[str, Any]) -> None:
    record["response"]["json"]["error"]["code"] = record["response"]["status"]


def _extra_param(record: dict[str, Any]) -> None:
    record["response"]["json"]["error"]["param"] = "duration"


def _status_404(record: dict[str, Any]) -> None:
    record["response"]["status"] = 404


def _no_unlimited_credits(record: dict[str, Any]) -> None:
    del record["response"]["json"]["data"]["token"]["unlimited_credits"]


#: probe -> (what the edit does, the edit). Each shows up as drift when the sample is replayed.
DRIFTS: dict[str, tuple[str, Callable[[dict[str, Any]], None]]] = {
    "unknown_model": ("error.code is the integer 400", _integer_code),
    "duration_string": ('the error carries an extra "param" key', _extra_param),
    "task_malformed_id": ("status 404 instead of 400", _status_404),
    "credits": ("data.token.unlimited_credits is missing", _no_unlimited_credits),
}


def record_emulator_sample(directory: Path) -> int:
    """Record a free run against a fresh emulator (manual clock, seed 0) into ``directory``."""
    from contracts.cli import main
    from contracts.server import LiveServer
    from mock_server import Settings

    with LiveServer(Settings(speed=0, seed=0)) as server:
        return main(["drift", "--base-url", server.base_url, "--api-key", SAMPLE_KEY, "--record", str(directory)])


def make_drifted(source: Path, directory: Path) -> None:
    """Copy the recording ``source`` to ``directory`` and apply :data:`DRIFTS`."""
    if directory.exists():
        shutil.rmtree(directory)
    shutil.copytree(source, directory)
    index = json.loads((directory / INDEX).read_text(encoding="utf-8"))
    for entry in index["exchanges"]:
        if entry["probe"] in DRIFTS and not entry["step"]:
            path = directory / entry["file"]
            record = json.loads(path.read_text(encoding="utf-8"))
            DRIFTS[entry["probe"]][1](record)
            path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def main() -> int:
    """Rewrite both samples under ``fixtures/drift/``."""
    root = fixtures_dir() / "drift"
    if record_emulator_sample(root / EMULATOR_SAMPLE) != 0:
        print("the emulator drifted from itself: not writing the drifted sample", file=sys.stderr)
        return 1
    make_drifted(root / EMULATOR_SAMPLE, root / DRIFTED_SAMPLE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
