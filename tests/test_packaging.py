"""The wheel carries the contract and fixtures and serves a task from outside the checkout."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import urllib.request
import zipfile
from pathlib import Path

import pytest
from conftest import serving

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-wheel-check-0001"


def _call(method: str, url: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                   check=True, capture_output=True)
    return next(out.glob("evolink_mock-*.whl"))


def test_wheel_contains_contract_fixtures_and_both_packages(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"mock_server/_data/openapi.yaml", "mock_server/admin_openapi.yaml", "contracts/__init__.py",
            "mock_server/core/service.py", "mock_server/ui/index.html", "mock_server/ui/app.js",
            "mock_server/ui/style.css"} <= names
    assert any(name.startswith("mock_server/_data/fixtures/") for name in names)
    metadata = next(n for n in names if n.endswith("entry_points.txt"))
    assert "evolink-mock = contracts.cli:main" in zipfile.ZipFile(wheel).read(metadata).decode()


def test_installed_wheel_serves_a_task_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True)
    # Dependencies come from this environment; the project itself only from the wheel.
    purelib = subprocess.check_output([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                      text=True).strip()
    Path(purelib, "deps-from-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "EVOLINK_MOCK_"))}
    where = subprocess.check_output([str(python), "-c", "import mock_server.resources as r; print(r.contract_path())"],
                                    cwd=tmp_path, env=env, text=True).strip()
    assert where.startswith(purelib) and where.endswith("_data/openapi.yaml")

    with serving([str(venv / "bin" / "evolink-mock"), "serve", "--port", "0", "--speed", "0"], env, tmp_path) as base:
        task = _call("POST", f"{base}/v1/videos/generations", {"model": "kling-o3-text-to-video", "prompt": "x"})
        assert task["usage"]["credits_reserved"] == 27
        _call("POST", f"{base}/_mock/clock/advance", {"seconds": 3600})
        done = _call("GET", f"{base}/v1/tasks/{task['id']}")
        assert done["status"] == "completed"
        with urllib.request.urlopen(done["results"][0], timeout=30) as response:
            assert response.read()[4:8] == b"ftyp"
        with urllib.request.urlopen(f"{base}/_mock/ui/app.js", timeout=30) as response:  # the dashboard's files
            assert b"/_mock/ui/events" in response.read()
