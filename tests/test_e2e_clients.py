"""EvoLink's own clients complete a task end to end against the emulator started as ``make serve`` does.

- EvoLink's MCP server (npm ``@evolinkai/evolink-media``, installed by ``.ci/run`` and ``make
  e2e-clients`` into ``.clients/``), driven through its MCP stdio interface by the ``mcp`` package's
  client: ``generate_video`` with its default model, ``check_task`` until completed, then the result
  link is downloaded. It hard-codes https://api.evolink.ai; ``examples/evolink-base-url.mjs``
  (loaded with ``NODE_OPTIONS=--import``) sends those requests to the emulator, so nothing leaves
  127.0.0.1.
- ``examples/seedance-2.0.sh``: bash and curl for ``seedance-2.0-text-to-video`` (create, poll,
  download, print the file).
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import serving

from mock_server.redaction import key_id

ROOT = Path(__file__).resolve().parents[1]
MCP_SERVER = ROOT / ".clients" / "node_modules" / "@evolinkai" / "evolink-media" / "dist" / "evolink-media" / "src" / \
    "index.js"
PRELOAD = ROOT / "examples" / "evolink-base-url.mjs"
SEEDANCE = ROOT / "examples" / "seedance-2.0.sh"
KEY = "sk-e2e-clients-0001"
SERVE = [str(Path(sys.executable).with_name("evolink-mock")), "serve"]


def _emulator(speed: str) -> Iterator[str]:
    """``evolink-mock serve`` as ``make serve`` runs it, configured by its environment (a free port)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EVOLINK_")},
           "EVOLINK_MOCK_PORT": "0", "EVOLINK_MOCK_SPEED": speed}
    with serving(SERVE, env) as base_url:
        yield base_url


@pytest.fixture
def manual_emulator() -> Iterator[str]:
    yield from _emulator("0")


@pytest.fixture
def fast_emulator() -> Iterator[str]:
    yield from _emulator("2000")  # a 5 s Seedance video (about 130 s of mock time) takes a tenth of a second


def _text(result: object) -> str:
    return "\n".join(item.text for item in result.content if getattr(item, "type", "") == "text")  # type: ignore[attr-defined]


@pytest.mark.skipif(shutil.which("node") is None or not MCP_SERVER.exists(),
                    reason="needs node and EvoLink's MCP server: make e2e-clients (.ci/run installs both)")
def test_evolinks_mcp_server_with_its_default_model_creates_polls_and_downloads(manual_emulator: str) -> None:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=shutil.which("node") or "node", args=[str(MCP_SERVER)], env={
        "PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
        "EVOLINK_API_KEY": KEY, "EVOLINK_BASE_URL": manual_emulator, "NODE_OPTIONS": f"--import={PRELOAD}"})

    async def session() -> tuple[str, str, str]:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as mcp:
            await mcp.initialize()
            tools = {tool.name for tool in (await mcp.list_tools()).tools}
            assert {"generate_video", "check_task"} <= tools, tools
            submitted = _text(await mcp.call_tool("generate_video", {"prompt": "A lighthouse at dusk"}))
            task_id = re.search(r"Task ID: (\S+)", submitted).group(1)  # type: ignore[union-attr]
            pending = _text(await mcp.call_tool("check_task", {"task_id": task_id}))
            httpx.post(f"{manual_emulator}/_mock/clock/advance", json={"seconds": 3600}).raise_for_status()
            done = _text(await mcp.call_tool("check_task", {"task_id": task_id}))
            return submitted, pending, done

    submitted, pending, done = asyncio.run(session())
    assert "Estimated cost:" in submitted and "credits (per_second)" in submitted, submitted
    assert "Status: pending" in pending, pending
    assert "Model: seedance-1.5-pro" in done and "Status: completed" in done, done  # the MCP server's default
    result = re.search(r"\[1\] (\S+)", done).group(1)  # type: ignore[union-attr]
    assert result.startswith(manual_emulator + "/files/"), result
    video = httpx.get(result)
    assert video.status_code == 200 and video.content[4:8] == b"ftyp"
    tasks = httpx.get(f"{manual_emulator}/_mock/tasks").json()["tasks"]
    assert [(t["model"], t["key_id"]) for t in tasks] == [("seedance-1.5-pro", key_id(KEY))]  # keys are masked


def test_the_seedance_bash_client_creates_polls_downloads_and_prints_the_file(fast_emulator: str,
                                                                               tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "EVOLINK_API_KEY": KEY, "EVOLINK_BASE_URL": fast_emulator,
           "EVOLINK_POLL_SECONDS": "0.2"}
    run = subprocess.run(["bash", str(SEEDANCE), "A lighthouse at dusk, waves rolling in", "lighthouse.mp4"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    video = tmp_path / "lighthouse.mp4"
    assert video.read_bytes()[4:8] == b"ftyp"
    assert f"lighthouse.mp4: {video.stat().st_size} bytes" in run.stdout, run.stdout
    task_id = re.search(r"task (task-unified-\S+)", run.stdout).group(1)  # type: ignore[union-attr]
    done = httpx.get(f"{fast_emulator}/v1/tasks/{task_id}", headers={"Authorization": f"Bearer {KEY}"}).json()
    assert done["model"] == "seedance-2.0-text-to-video" and done["status"] == "completed"
