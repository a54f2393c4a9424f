"""``evolink-mock drift`` against real servers: the emulator, a deliberately drifted upstream, recordings."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import T2V

from contracts.cli import main
from contracts.drift.probes import catalogue
from contracts.drift.samples import DRIFTED_SAMPLE, DRIFTS, EMULATOR_SAMPLE
from contracts.server import LiveServer
from mock_server import Settings
from mock_server.families import registry
from mock_server.resources import fixtures_dir

KEY = "sk-drift-SECRET-7f3a9c21e5"
PAID = "text_to_video_3s_720p"
ABOVE_MAX = "duration_above_max_kling-o3-text-to-video"
SAMPLES = fixtures_dir() / "drift"
FAST_POLLS = ["--poll-interval", "0.01", "--max-wait", "60"]


def drift(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``evolink-mock drift ARGS`` in-process; (exit code, stdout, stderr)."""
    code = main(["drift", *args])
    out, err = capsys.readouterr()
    return code, out, err


def live(server: LiveServer, *args: str) -> list[str]:
    return ["--base-url", server.base_url, "--api-key", KEY, *args]


def verdicts(out: str) -> dict[str, str]:
    """probe -> ok / drift / skipped, from the per-probe lines."""
    names = {probe.name for probe in catalogue()}
    found = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ok", "drift", "skipped") and parts[1] in names:
            found[parts[1]] = parts[0]
    return found


# -- a deliberately drifted upstream: the emulator behind a rewriting ASGI middleware -------------------
ASGIApp = Callable[[dict, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class DriftedUpstream:
    """What a changed real API could look like. Drifts, each on purpose:

    - ``GET /v1/tasks/not-a-task-id`` answers 404 instead of 400;
    - error codes are integers (the HTTP status) and errors carry an extra ``param``;
    - errors echo the caller's Authorization header, in a header and (unknown model) in the message:
      the key must stay redacted everywhere;
    - ``/v1/credits`` lacks ``data.token.used_credits``;
    - text-to-video accepts ``duration: 16`` (the range widened: a task is created);
    - created tasks say ``billing_rule: per_video``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["path"].startswith(("/files/", "/_mock/")):
            await self.app(scope, receive, send)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        body = self._widen(body)
        scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"content-length"]
                 + [(b"content-length", str(len(body)).encode())]}
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def replay() -> dict:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            else:
                chunks.append(message.get("body", b""))

        await self.app(scope, replay, capture)
        auth = dict(scope["headers"]).get(b"authorization", b"").decode()
        status, content = self._rewrite(scope, start["status"], b"".join(chunks), auth)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if status >= 400:
            headers.append((b"x-echo-authorization", auth.encode()))
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})

    @staticmethod
    def _widen(body: bytes) -> bytes:
        try:
            parsed = json.loads(body)
        except ValueError:
            return body
        if isinstance(parsed, dict) and (parsed.get("model"), parsed.get("duration")) == (T2V, 16):
            return json.dumps({**parsed, "duration": 15}).encode()
        return body

    @staticmethod
    def _rewrite(scope: dict, status: int, content: bytes, auth: str) -> tuple[int, bytes]:
        if scope["path"] == "/v1/tasks/not-a-task-id":
            status = 404
        data = json.loads(content)
        if "error" in data:
            data["error"].update(code=status, param=None)
            if "kling-o3-not-a-model" in data["error"]["message"]:
                data["error"]["message"] = f"no such model for {auth}"
        elif scope["path"] == "/v1/credits":
            del data["data"]["token"]["used_credits"]
        elif "usage" in data:
            data["usage"]["billing_rule"] = "per_video"
        return status, json.dumps(data).encode()


@pytest.fixture
def drifted() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=1000), wrap=DriftedUpstream) as server:
        yield server


# -- against the emulator itself ------------------------------------------------------------------------
def test_every_model_has_its_own_free_probes_keyed_by_its_id() -> None:
    probes = {probe.name: probe for probe in catalogue()}
    assert len(probes) == len(catalogue())  # no duplicate names
    for model, spec in registry().items():
        for case, value in spec.durations.outside():
            assert probes[f"duration_{case}_{model}"].body["duration"] == value
    for name in ("duration_not_listed_veo-3.1-generate-preview", "duration_below_min_seedance-2.5-text-to-video",
                 "duration_above_max_gemini-omni-flash-text-to-video", "quality_not_in_enum_sora-2-pro-preview",
                 "image_urls_refused_seedance-2.0-text-to-video"):
        assert name in probes, name
    # the role probes pick their models by capability
    assert registry()[probes["multi_shot_sum_mismatch"].body["model"]].has("multi_shot")
    assert registry()[probes["elements_with_start_frame_i2v"].body["model"]].has("elements")
    assert registry()[probes["image_end_without_start"].body["model"]].has("last_frame")


def test_the_emulator_does_not_drift_from_itself_and_budget_0_creates_no_task(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with LiveServer(Settings(speed=0)) as server:
        code, out, err = drift(capsys, *live(server, "--report", str(tmp_path / "report.json")))
        assert server.emulator.task_count() == 0
    assert (code, err) == (0, ""), out + err
    free = {p.name for p in catalogue() if not p.lifecycle}
    assert verdicts(out) == {**dict.fromkeys(free, "ok"), PAID: "skipped"}
    assert "costs 16.2 credits, budget 0" in out and "no drift (exit 0)" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["spent"] == "0" and report["differences"] == []
    assert all(p["cost"] == "0" for p in report["probes"])


def test_the_paid_probe_states_its_cost_first_then_completes_without_drift(
        capsys: pytest.CaptureFixture[str]) -> None:
    with LiveServer(Settings(speed=1000)) as server:
        code, out, err = drift(capsys, *live(server, "--max-credits", "20", *FAST_POLLS))
        account = server.emulator.account(KEY)
    assert (code, err) == (0, ""), out + err
    lines = out.splitlines()
    announced = lines.index(f"paid    {PAID}: 16.2 credits (budget 20, spent 0)")
    done = next(i for i, line in enumerate(lines) if line.startswith(f"ok      {PAID}  16.2 credits"))
    assert announced < done
    assert "pending -> processing" in out and "-> completed" in out and "results host: 127.0.0.1" in out
    assert account is not None and account.charged == Decimal("16.2")


def test_the_paid_probe_is_skipped_with_its_reason_when_the_budget_is_too_small(
        capsys: pytest.CaptureFixture[str]) -> None:
    with LiveServer(Settings(speed=1000)) as server:
        code, out, _ = drift(capsys, *live(server, "--max-credits", "10"))
        assert server.emulator.task_count() == 0
    assert code == 0
    assert f"skipped {PAID}  costs 16.2 credits, budget 10 (--max-credits 16.2 or more would send it)" in out
    assert "paid    " not in out


def test_a_paid_task_that_fails_is_drift_and_its_refund_is_checked(capsys: pytest.CaptureFixture[str]) -> None:
    with LiveServer(Settings(speed=1000)) as server:
        httpx.post(f"{server.base_url}/_mock/faults", json={"kind": "task_failure", "times": 1,
                                                            "error_code": "generation_timeout"}).raise_for_status()
        code, out, _ = drift(capsys, *live(server, "--max-credits", "16.2", *FAST_POLLS))
    assert code == 1
    assert f"{PAID}: lifecycle: expected completed / actual failed: generation_timeout" in out
    assert f"{PAID}: credits" not in out  # refunded: used_credits did not move, as expected
    assert [line for line in out.splitlines() if line.startswith(f"  {PAID}")] == \
        [f"  {PAID}: lifecycle: expected completed / actual failed: generation_timeout"]


def test_rate_limited_answers_are_retried_after_retry_after(capsys: pytest.CaptureFixture[str]) -> None:
    with LiveServer(Settings(speed=0)) as server:
        httpx.post(f"{server.base_url}/_mock/faults",
                   json={"kind": "rate_limit", "route": "credits", "times": 1, "retry_after": 0}).raise_for_status()
        code, out, _ = drift(capsys, *live(server))
        rules = httpx.get(f"{server.base_url}/_mock/faults").json()
    assert code == 0, out
    assert [(rule["kind"], rule["fired"]) for rule in rules] == [("rate_limit", 1)]


def test_probes_kept_free_by_the_http_callback_are_skipped_when_a_target_accepts_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    with LiveServer(Settings(speed=0, allow_local_callbacks=True)) as server:
        code, out, _ = drift(capsys, *live(server))
        created = server.emulator.task_count()
    found = verdicts(out)
    guarded = [p.name for p in catalogue() if p.relies_on == "callback_http"]
    assert code == 1 and created == 3 and len(guarded) >= 8
    assert {found[name] for name in ("callback_http", "callback_localhost", "callback_private_ip")} == {"drift"}
    assert {found[name] for name in guarded} == {"skipped"}
    assert "free only if the target refuses callback_http" in out
    assert out.count("created, 16.2 credits reserved") == 3 and "48.6 credits spent (budget 0)" in out


# -- against a drifted upstream -------------------------------------------------------------------------
def test_every_drift_of_a_drifted_upstream_is_named(capsys: pytest.CaptureFixture[str],
                                                     drifted: LiveServer) -> None:
    code, out, err = drift(capsys, *live(drifted))
    assert (code, err) == (1, ""), out + err
    expected_lines = [
        "task_malformed_id: status: expected 400 / actual 404",
        "unknown_model: error.code type: expected a string / actual int 400",
        "unknown_model: error keys: expected code, message, type / actual code, message, param, type",
        "credits: missing key: expected data.token.used_credits / actual absent",
        f"{ABOVE_MAX}: status: expected 400 / actual 200",
        f"{ABOVE_MAX}: accepted: expected refused (no task created) / actual 200: task task-unified-",
        f"{ABOVE_MAX}: schema VideoGenerationCreated usage.billing_rule: expected valid / actual",
    ]
    for line in expected_lines:
        assert line in out, line
    assert "81 credits reserved" in out  # the unexpected task's cost is never hidden
    assert "81 credits spent (budget 0)" in out
    assert verdicts(out)["duration_below_min_kling-o3-text-to-video"] == "drift"  # integer codes everywhere
    assert "no such model for Bearer <redacted>" in out and KEY not in out


def test_record_then_replay_gives_the_same_result(capsys: pytest.CaptureFixture[str], drifted: LiveServer,
                                                  tmp_path: Path) -> None:
    recording, live_report, replay_report = tmp_path / "rec", tmp_path / "live.json", tmp_path / "replay.json"
    code, out, _ = drift(capsys, *live(drifted, "--max-credits", "100", "--record", str(recording),
                                       "--report", str(live_report), *FAST_POLLS))
    assert code == 1
    assert "usage.billing_rule" in out and f"paid    {PAID}: 16.2 credits (budget 100, spent 81)" in out
    replayed, _replay_out, err = drift(capsys, "--replay", str(recording), "--report", str(replay_report))
    assert (replayed, err) == (1, "")
    first, second = (json.loads(path.read_text()) for path in (live_report, replay_report))
    for key in ("differences", "counts", "spent", "exit_code"):
        assert first[key] == second[key], key
    assert [(p["name"], p["result"], p["notes"]) for p in first["probes"]] == \
        [(p["name"], p["result"], p["notes"]) for p in second["probes"]]


def test_the_key_never_appears_in_output_reports_or_recordings(capsys: pytest.CaptureFixture[str],
                                                               drifted: LiveServer, tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    code, out, err = drift(capsys, *live(drifted, "--record", str(recording), "--report", str(tmp_path / "r.md")))
    assert code == 1 and "<redacted>" in out
    _, replay_out, replay_err = drift(capsys, "--replay", str(recording), "--report", str(tmp_path / "r.json"))
    written = [path.read_text() for path in tmp_path.rglob("*") if path.is_file()]
    assert len(written) > len(catalogue())
    assert any('"x-echo-authorization": "Bearer <redacted>"' in text for text in written)
    for text in [out, err, replay_out, replay_err, *written]:
        assert KEY not in text


def test_a_recording_is_deterministic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for run in ("a", "b"):
        with LiveServer(Settings(speed=0, seed=0)) as server:
            assert drift(capsys, *live(server, "--record", str(tmp_path / run)))[0] == 0
    files = sorted(path.name for path in (tmp_path / "a").iterdir())
    assert files == sorted(path.name for path in (tmp_path / "b").iterdir())
    assert files[0] == "001-credits.json" and "index.json" in files
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


# -- the committed samples ------------------------------------------------------------------------------
def test_the_emulator_sample_replays_without_drift(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = drift(capsys, "--replay", str(SAMPLES / EMULATOR_SAMPLE))
    assert (code, err) == (0, ""), out
    stale = [name for name, verdict in verdicts(out).items() if verdict == "skipped" and name != PAID]
    assert stale == [], "fixtures/drift is stale: regenerate it with `python -m contracts.drift.samples`"


def test_the_drifted_sample_replays_with_exactly_its_edited_drifts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = drift(capsys, "--replay", str(SAMPLES / DRIFTED_SAMPLE))
    assert code == 1
    assert {name for name, verdict in verdicts(out).items() if verdict == "drift"} == set(DRIFTS)
    for line in ("unknown_model: error.code type: expected a string / actual int 400",
                 'duration_string: error keys: expected code, message, type / actual code, message, param, type',
                 "task_malformed_id: status: expected 400 / actual 404",
                 "credits: missing key: expected data.token.unlimited_credits / actual absent"):
        assert line in out, line


# -- could not run: exit 2, a clean message, no traceback ----------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_server_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = drift(capsys, "--base-url", f"http://127.0.0.1:{_closed_port()}", "--api-key", KEY)
    assert code == 2
    assert err.startswith("evolink-mock drift: cannot reach http://127.0.0.1:") and "Traceback" not in out + err


def test_a_key_refused_on_every_route_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with LiveServer(Settings(speed=0)) as server:
        httpx.put(f"{server.base_url}/_mock/accounts/{KEY}", json={"granted": 100}).raise_for_status()
        httpx.delete(f"{server.base_url}/_mock/accounts/{KEY}").raise_for_status()
        code, out, err = drift(capsys, *live(server))
        assert server.emulator.task_count() == 0
    assert code == 2
    assert "the API key was refused (401) on every route" in err and KEY not in out + err


@pytest.mark.parametrize(("args", "message"), [
    (["--base-url", "http://127.0.0.1:9", "--api-key", KEY, "--report", "out.txt"], "--report must end in .md"),
    (["--replay", "no/such/recording"], "replay directory no/such/recording does not exist"),
    (["--replay", "x", "--report", "no/such/folder/r.md"], "--report: the folder no/such/folder does not exist"),
    (["--base-url", "http://127.0.0.1:9"], "no API key: set EVOLINK_API_KEY"),
    (["--replay", "x", "--record", "y"], "--record and --replay cannot be combined"),
    (["--base-url", "api.evolink.ai", "--api-key", KEY], "--base-url must be an http(s) URL"),
], ids=["report-extension", "replay-dir-missing", "report-folder-missing", "no-key", "record-and-replay",
        "base-url-scheme"])
def test_bad_arguments_exit_2_with_a_message(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                             args: list[str], message: str) -> None:
    monkeypatch.delenv("EVOLINK_API_KEY", raising=False)
    code, out, err = drift(capsys, *args)
    assert code == 2 and message in err and out == ""


def test_the_console_script_replays_and_keeps_the_cli_light() -> None:
    script = Path(sys.executable).with_name("evolink-mock")
    result = subprocess.run([str(script), "drift", "--replay", str(SAMPLES / EMULATOR_SAMPLE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "no drift (exit 0)" in result.stdout, result.stdout + result.stderr
    check = ("import sys, contracts.cli; "
             "assert sorted(m for m in sys.modules if m.startswith('contracts.drift')) == "
             "['contracts.drift', 'contracts.drift.cli'], sorted(sys.modules)")
    assert subprocess.run([sys.executable, "-c", check], capture_output=True, timeout=60).returncode == 0
