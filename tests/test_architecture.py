"""The architecture rules in pyproject.toml (import-linter) hold, and they catch a violation."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(project / "pyproject.toml"), "--no-cache"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    for package in ("mock_server", "contracts"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_every_architecture_rule(project_copy: Path) -> None:
    result = lint_imports(project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("mock_server/http/admin.py", "from ..store.memory import MemoryStore", "Only the core's service opens the store"),
    ("contracts/handle.py", "from mock_server.store import open_store", "Only the core's service opens the store"),
    ("mock_server/core/service.py", "from ..http import views", "The core does not know its edges"),
    ("mock_server/cli.py", "import contracts.factories", "The emulator runs without its testing kit"),
    ("mock_server/store/memory.py", "from ..core import service", "Stores keep records"),
])
def test_a_deliberate_violation_breaks_its_rule(project_copy: Path, module: str, line: str, contract: str) -> None:
    path = project_copy / module
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}  # a deliberate violation\n", encoding="utf-8")
    result = lint_imports(project_copy)
    assert result.returncode == 1, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken and module.replace("/", ".").removesuffix(".py") in broken, result.stdout
