"""No credential in any admin view, log line, report or recording (issue 15, failure 7).

Credentials are URL user info (``https://bob:s3cret@host``) and API keys beyond a short prefix.
One function masks them (``mock_server.redaction.redact``); the receiver of a callback still
gets its Basic auth.
"""
from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import T2V

from contracts.cli import main
from contracts.conformance import check_request
from contracts.handle import EvolinkHandle
from contracts.receiver import CallbackReceiver
from contracts.server import LiveServer
from mock_server import Settings
from mock_server.redaction import key_id, redact

KEY = "sk-redaction-check-4b1d9e7c02"
PASSWORD = "s3cret-pa55word"


@pytest.mark.parametrize(("text", "shown"), [
    ("https://bob:s3cret@hooks.example.com/h", "https://***:***@hooks.example.com/h"),
    ("https://token-only@hooks.example.com/h", "https://***@hooks.example.com/h"),
    ("http://bob:s3cret@127.0.0.1:9000/hook?x=1", "http://***:***@127.0.0.1:9000/hook?x=1"),
    ("ConnectError: https://a:b@x.example/ refused", "ConnectError: https://***:***@x.example/ refused"),
    ("https://hooks.example.com/a@b", "https://hooks.example.com/a@b"),  # an @ in the path is no user info
    ("mail bob@example.com", "mail bob@example.com"),
    ("sk-local-development", "sk-local-d..."),
    ("GET /_mock/accounts/sk-local-development HTTP/1.1", "GET /_mock/accounts/sk-local-d... HTTP/1.1"),
    ("sk-abcdefgh", "sk-ab..."),  # never more than half of a short key
    ("sk-short", "sk-short"),  # not a key: fewer than 8 characters after sk-
    ("task-unified-1757169743-a1b2c3d4", "task-unified-1757169743-a1b2c3d4"),
])
def test_redact_masks_user_info_and_cuts_keys(text: str, shown: str) -> None:
    assert redact(text) == shown
    assert redact(shown) == shown  # idempotent: a view of a view shows the same


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, seed=3, allow_local_callbacks=True)) as server:
        yield server


def _admin_texts(http: httpx.Client, task_id: str) -> list[str]:
    """The raw text of every admin view that could show the task, its callback or its key."""
    paths = ["/_mock/callbacks", f"/_mock/callbacks?task_id={task_id}", "/_mock/tasks", f"/_mock/tasks?key={KEY}",
             f"/_mock/tasks/{task_id}", f"/_mock/accounts/{KEY}", f"/_mock/accounts/{KEY}/ledger", "/_mock/faults",
             "/_mock/scenarios"]
    texts = []
    for path in paths:
        response = http.get(path)
        assert response.status_code == 200, (path, response.text)
        texts.append(response.text)
    return texts


def test_issue_input_callback_credentials_reach_the_receiver_but_no_admin_view(live: LiveServer) -> None:
    """Issue 15, failure 7: with ``https://bob:s3cret@.../h`` the admin views showed the password."""
    with CallbackReceiver() as hook, httpx.Client(base_url=live.base_url) as http:
        url = hook.url.replace("http://", f"http://bob:{PASSWORD}@")
        created = http.post("/v1/videos/generations", headers={"Authorization": f"Bearer {KEY}",
                                                                "X-Mock-Scenario": "queue=0;processing=10"},
                            json={"model": T2V, "prompt": "p", "callback_url": url})
        assert created.status_code == 200, created.text
        http.post("/_mock/faults", json={"kind": "rate_limit", "route": "credits", "key": KEY, "times": 1})
        http.post("/_mock/clock/advance", json={"seconds": 20})
        [received] = hook.wait_for(1)
        assert received.headers["Authorization"] == "Basic " + base64.b64encode(f"bob:{PASSWORD}".encode()).decode()
        task_id = created.json()["id"]
        http.get("/_mock/callbacks", params={"wait": 5})
        texts = _admin_texts(http, task_id)
    for text in texts:
        assert PASSWORD not in text and KEY not in text, text
    views = [json.loads(text) for text in texts]
    assert views[0][-1]["url"].startswith("http://***:***@127.0.0.1:")
    assert views[4]["params"]["callback_url"].startswith("http://***:***@127.0.0.1:")
    assert views[4]["key"] == views[5]["key"] == views[7][-1]["key"] == "sk-redacti..."


def test_the_handle_shows_what_the_admin_api_shows(evolink_mock: EvolinkHandle) -> None:
    with CallbackReceiver() as hook, httpx.Client(base_url=evolink_mock.base_url) as http:
        url = hook.url.replace("http://", f"http://bob:{PASSWORD}@")
        task = http.post("/v1/videos/generations", headers={"Authorization": f"Bearer {evolink_mock.api_key}",
                                                             "X-Mock-Scenario": "queue=0;processing=5"},
                         json={"model": T2V, "prompt": "p", "callback_url": url}).json()
        evolink_mock.advance(10)
        views = [evolink_mock.tasks(), evolink_mock.task(task["id"]), evolink_mock.callbacks(),
                 evolink_mock.account(), evolink_mock.fault("drop", key=evolink_mock.api_key)]
    text = json.dumps(views)
    assert hook.received and PASSWORD not in text and evolink_mock.api_key not in text, text
    assert redact(evolink_mock.api_key) in text


def test_the_kit_report_masks_what_it_quotes() -> None:
    broken = f"https://bob:{PASSWORD}@hooks.example.com/a b"  # a space: not a URL
    report = check_request("POST", "https://api.evolink.ai/v1/videos/generations",
                           {"Authorization": f"Bearer {KEY}"}, {"model": T2V, "prompt": "p", "callback_url": broken})
    assert not report.ok and "callback_url" in str(report)
    assert PASSWORD not in str(report) and "***:***@hooks.example.com" in str(report)


def test_access_log_lines_show_no_key(tmp_path: Path) -> None:
    """``evolink-mock serve --access-log``: the lines name /_mock/accounts/<key> with the key cut."""
    process = subprocess.Popen([sys.executable, "-m", "mock_server", "--port", "0", "--access-log"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "EVOLINK_MOCK_SPEED": "0"})
    try:
        assert process.stdout is not None
        port = None
        for line in process.stdout:
            if found := re.search(r"running on http://127\.0\.0\.1:(\d+)", line):
                port = int(found.group(1))
                break
        assert port is not None
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
            assert http.get("/v1/credits", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
            assert http.get(f"/_mock/accounts/{KEY}").status_code == 200
            assert http.get("/_mock/tasks", params={"key": KEY}).status_code == 200
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert "/_mock/accounts/sk-redacti..." in output, output
    assert KEY not in output, output


def test_drift_output_and_recordings_mask_base_url_credentials(live: LiveServer, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """A base URL with user info: httpx sends it as Basic auth in place of the key, so the target refuses
    every probe (exit 2); whatever the run printed or recorded shows neither the password nor the key."""
    base = live.base_url.replace("http://", f"http://probe:{PASSWORD}@")
    code = main(["drift", "--base-url", base, "--api-key", KEY, "--record", str(tmp_path / "run")])
    out, err = capsys.readouterr()
    assert code == 2, out + err
    recorded = [path.read_text(encoding="utf-8") for path in (tmp_path / "run").iterdir()]
    assert recorded, "the exchanges before the refusal are recorded"
    for text in [out, err, *recorded]:
        assert PASSWORD not in text and KEY not in text, text
    assert "http://***:***@127.0.0.1" in out


def test_admin_filters_take_the_key_id_the_views_show(live: LiveServer) -> None:
    """Views show a key's prefix and its ``key_id``; where a route takes a key, the id works too."""
    key = "sk-redaction-by-id-77aa01"
    with httpx.Client(base_url=live.base_url) as http:
        created = http.post("/v1/videos/generations", json={"model": T2V, "prompt": "p"},
                            headers={"Authorization": f"Bearer {key}"}).json()
        account = http.get(f"/_mock/accounts/{key}").json()
        assert account["key"] == "sk-redacti..." and account["key_id"] == key_id(key)
        listed = http.get("/_mock/tasks", params={"key": account["key_id"]}).json()
        assert [t["id"] for t in listed["tasks"]] == [created["id"]] and listed["tasks"][0]["key_id"] == key_id(key)
        rule = http.post("/_mock/faults", json={"kind": "rate_limit", "route": "credits", "key": account["key_id"],
                                                "times": 1}).json()
        assert rule["key_id"] == key_id(key) and key not in json.dumps(rule)
        assert http.get("/v1/credits", headers={"Authorization": f"Bearer {key}"}).status_code == 429
        unknown = http.get("/_mock/tasks", params={"key": "key-0123456789abcdef"})
        assert unknown.status_code == 404 and "key-0123456789abcdef" in unknown.text
