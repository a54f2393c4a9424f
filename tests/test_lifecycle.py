"""The task lifecycle (https://docs.evolink.ai/en/api-manual/task-management/get-task-detail) and the
per-task scenarios:
the create answer, pending -> processing -> completed/failed on the mock clock, the result
video and its 24 h expiry, scripted failures, cancel, and seeded determinism.

The session's manual clock is shared by every test of a worker, so each test reasons only
relative to its own task's admin ``timeline``.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import EDIT, I2V, REF, T2V, Api, assert_error

from contracts.server import LiveServer
from mock_server import Settings
from mock_server.contract import api_contract
from mock_server.media import probe_mp4

ID_PATTERN = re.compile(r"task-unified-([0-9]{10})-([a-z0-9]{8})")
#: Every task error code of openapi.yaml's TaskErrorCode enum.
TASK_ERROR_CODES = api_contract().task_error_codes
#: "Fix the request" failures that happen as the queue ends, at progress 0.
EARLY_FAILURES = {"content_policy_violation", "invalid_parameters", "image_processing_error",
                  "image_dimension_mismatch"}
RESULT_TTL = 24 * 3600  # result links are valid for 24 hours (EvoLink's task detail docs)
#: A step past an instant: far above float rounding of epoch seconds (~2e-7), far below any duration.
EPS = 1e-3
SCENARIO = "X-Mock-Scenario"
ASPECTS = {"16:9": Fraction(16, 9), "9:16": Fraction(9, 16), "1:1": Fraction(1, 1)}
IMG = "https://example.com/a.jpg"
VID = "https://example.com/v.mp4"


def t2v(**kw: Any) -> dict[str, Any]:
    return {"model": T2V, "prompt": "a lighthouse at dusk", **kw}


def scenario(items: str) -> dict[str, str]:
    return {SCENARIO: items}


def clock_now(api: Api) -> float:
    response = api.http.get("/_mock/clock")
    assert response.status_code == 200, response.text
    return response.json()["now"]


def advance_to(api: Api, t: float) -> float:
    """Move the shared clock forward to mock time ``t`` (never back)."""
    now = clock_now(api)
    assert t >= now, f"the clock is already past {t} ({now})"
    return api.advance(t - now)


def timeline(api: Api, task_id: str) -> dict[str, Any]:
    return api.admin_task(task_id)["timeline"]


def error_code(response: httpx.Response, status: int) -> str:
    """The answer is the API's error shape with this status; return its code."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "type"}, body
    assert body["error"]["message"], body
    return body["error"]["code"]


def assert_running(task: dict[str, Any], status: str) -> None:
    assert task["status"] == status, task
    assert task["task_info"]["can_cancel"] is True, task
    assert "results" not in task and "error" not in task, task


def assert_failed(task: dict[str, Any], code: str) -> None:
    assert task["status"] == "failed", task
    assert task["task_info"]["can_cancel"] is False, task
    assert "results" not in task, task
    error = task["error"]
    assert set(error) == {"code", "message", "type"}, error
    assert error["code"] == code and error["type"] == "task_error" and error["message"].strip(), error


def run_to_end(api: Api, body: dict[str, Any], **headers: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Create a task, advance just past its end; return its final body and its timeline."""
    created = api.created(body, **headers)
    line = timeline(api, created["id"])
    advance_to(api, line["ends"] + EPS)
    return api.task(created["id"]), line


# -- the create answer --------------------------------------------------------------------

CREATE_CASES = {
    "t2v 7 s": (t2v(duration=7), 7),
    "t2v default": (t2v(), 5),
    "i2v 10 s": ({"model": I2V, "prompt": "p", "image_start": IMG, "duration": 10}, 10),
    "ref 3 s": ({"model": REF, "prompt": "p", "video_url": VID, "duration": 3}, 3),
    "edit default input": ({"model": EDIT, "prompt": "p", "video_url": VID}, 5),
}


@pytest.mark.parametrize(("body", "seconds"), CREATE_CASES.values(), ids=CREATE_CASES.keys())
def test_create_answers_200_with_a_pending_task(api: Api, body: dict[str, Any], seconds: int) -> None:
    response = api.create(body)
    assert response.status_code == 200, response.text  # not 201/202: real clients check for 200
    task = response.json()
    match = ID_PATTERN.fullmatch(task["id"])
    assert match, task["id"]
    assert isinstance(task["created"], int) and int(match[1]) == task["created"]
    assert abs(task["created"] - clock_now(api)) < 1  # created is mock time
    assert {k: task[k] for k in ("model", "object", "type", "progress", "status")} == {
        "model": body["model"], "object": "video.generation.task", "type": "video",
        "progress": 0, "status": "pending"}
    info = task["task_info"]
    assert set(info) == {"can_cancel", "estimated_time", "video_duration"}
    assert info["can_cancel"] is True and info["video_duration"] == seconds
    assert isinstance(info["estimated_time"], int) and 120 <= info["estimated_time"] <= 600
    usage = task["usage"]
    assert usage["billing_rule"] == "per_second" and usage["credits_reserved"] > 0
    assert isinstance(usage["user_group"], str) and usage["user_group"]
    assert "results" not in task and "error" not in task


def test_ids_are_unique(api: Api) -> None:
    ids = {api.created(t2v())["id"] for _ in range(20)}
    assert len(ids) == 20


# -- lifecycle ----------------------------------------------------------------------------

def test_task_goes_pending_then_processing_then_completed(api: Api) -> None:
    task_id = api.created(t2v())["id"]
    line = timeline(api, task_id)
    created, start, end = line["created"], line["processing_from"], line["ends"]
    assert created < start < end

    advance_to(api, start - min(1.0, (start - created) / 2))
    pending = api.task(task_id)
    assert_running(pending, "pending")
    assert pending["progress"] == 0

    progress = []
    for fraction in (0.05, 0.25, 0.5, 0.75, 0.98):
        advance_to(api, start + fraction * (end - start))
        running = api.task(task_id)
        assert_running(running, "processing")
        progress.append(running["progress"])
    assert all(1 <= p <= 99 for p in progress), progress
    assert progress == sorted(set(progress)), f"progress must rise strictly: {progress}"

    advance_to(api, end + EPS)
    done = api.task(task_id)
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["task_info"]["can_cancel"] is False
    assert "error" not in done
    assert isinstance(done["results"], list) and len(done["results"]) == 1
    api.advance(3600)
    assert api.task(task_id) == done  # a final state stays put


def test_queue_0_processing_10_ends_exactly_10_s_after_creation() -> None:
    """``created`` is whole seconds and the timeline starts there: the task ends at created + 10."""
    with LiveServer(Settings(speed=0)) as live:
        api = Api(live)
        try:
            task = api.created(t2v(), **scenario("queue=0;processing=10"))
            line = timeline(api, task["id"])
            assert line["created"] == task["created"]
            assert line["processing_from"] == line["created"] and line["ends"] == line["created"] + 10
            now = api.http.get("/_mock/clock").json()["now"]
            assert api.advance(task["created"] + 9.5 - now) == pytest.approx(task["created"] + 9.5, abs=1e-6)
            before = api.task(task["id"])
            assert_running(before, "processing")
            assert before["progress"] == 95
            assert api.advance(0.5 + 1e-6) == pytest.approx(line["ends"], abs=1e-5)
            at_end = api.task(task["id"])
            assert at_end["status"] == "completed" and at_end["progress"] == 100
        finally:
            api.http.close()


def test_stuck_task_stays_processing_forever(api: Api) -> None:
    task_id = api.created(t2v(), **scenario("stuck"))["id"]
    assert timeline(api, task_id)["ends"] is None
    api.advance(86400)
    task = api.task(task_id)
    assert_running(task, "processing")
    assert 1 <= task["progress"] <= 99


# -- the result video ---------------------------------------------------------------------

RESULT_CASES = [("16:9", 5, "off"), ("9:16", 3, "on"), ("1:1", 4, "off"), ("16:9", 3, "on")]


def download_result(api: Api, aspect_ratio: str, seconds: int, sound: str) -> bytes:
    task, _ = run_to_end(api, t2v(aspect_ratio=aspect_ratio, duration=seconds, sound=sound))
    assert task["status"] == "completed", task
    (url,) = task["results"]
    assert url.startswith(api.server.base_url + "/"), url
    response = api.http.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == "video/mp4"
    assert response.content[4:8] == b"ftyp"
    return response.content


@pytest.mark.parametrize(("aspect_ratio", "seconds", "sound"), RESULT_CASES)
def test_result_is_a_real_mp4_of_the_requested_shape(api: Api, aspect_ratio: str, seconds: int,
                                                      sound: str) -> None:
    info = probe_mp4(download_result(api, aspect_ratio, seconds, sound))
    assert info["duration"] == pytest.approx(seconds, abs=0.1)
    assert Fraction(info["width"], info["height"]) == ASPECTS[aspect_ratio]
    assert info["has_audio"] is (sound == "on")


@pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe is not installed")
def test_ffprobe_reads_the_result_duration(api: Api, tmp_path: Path) -> None:
    path = tmp_path / "result.mp4"
    path.write_bytes(download_result(api, "9:16", 3, "on"))
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                          str(path)], capture_output=True, text=True, check=True, timeout=30).stdout
    assert float(out.strip()) == pytest.approx(3, abs=0.1)


def test_result_url_expires_24_h_after_the_end(api: Api) -> None:
    task, line = run_to_end(api, t2v(duration=3))
    (url,) = task["results"]
    assert line["result_expires"] == pytest.approx(line["ends"] + RESULT_TTL, abs=1e-3)
    advance_to(api, line["ends"] + RESULT_TTL - 1)
    assert api.http.get(url).status_code == 200
    advance_to(api, line["ends"] + RESULT_TTL + EPS)
    assert error_code(api.http.get(url), 410) == "file_expired"
    after = api.task(task["id"])
    assert after["status"] == "completed" and after["results"] == [url]


def test_result_of_an_unfinished_or_failed_task_is_404(api: Api) -> None:
    running = api.created(t2v())
    url = f"{api.server.base_url}/files/{running['id']}.mp4"
    assert error_code(api.http.get(url), 404)
    failed, _ = run_to_end(api, t2v(), **scenario("fail=service_error"))
    assert failed["status"] == "failed"
    assert error_code(api.http.get(f"{api.server.base_url}/files/{failed['id']}.mp4"), 404)
    assert error_code(api.http.get(f"{api.server.base_url}/files/task-unified-1757169743-zzzzzzzz.mp4"), 404)


# -- scripted failures --------------------------------------------------------------------

def test_the_contract_lists_the_documented_task_error_codes() -> None:
    documented = EARLY_FAILURES | {"request_cancelled", "generation_failed_no_content", "service_error",
                                   "generation_timeout", "resource_exhausted", "quota_exceeded",
                                   "service_unavailable", "resource_not_found", "unknown_error"}
    assert set(TASK_ERROR_CODES) == documented


@pytest.mark.parametrize("code", TASK_ERROR_CODES)
def test_scenario_fail_code(api: Api, code: str) -> None:
    task_id = api.created(t2v(), **scenario(f"fail={code}"))["id"]
    line = timeline(api, task_id)
    if code in EARLY_FAILURES:
        assert line["ends"] == line["processing_from"], "fails as the queue ends"
        advance_to(api, line["ends"] - 0.01)
        assert_running(before := api.task(task_id), "pending")
    else:
        assert line["ends"] > line["processing_from"], "fails at the end of processing"
        advance_to(api, line["ends"] - 1)
        assert_running(before := api.task(task_id), "processing")
    advance_to(api, line["ends"] + EPS)
    failed = api.task(task_id)
    assert_failed(failed, code)
    if code in EARLY_FAILURES:
        assert failed["progress"] == 0
    else:
        assert before["progress"] <= failed["progress"] < 100
    api.advance(3600)
    assert api.task(task_id) == failed


def test_prompt_marker_works_like_the_header(api: Api) -> None:
    task_id = api.created(t2v(prompt="a storm [mock: fail=generation_timeout]"))["id"]
    line = timeline(api, task_id)
    advance_to(api, line["ends"] - 1)
    assert_running(api.task(task_id), "processing")
    advance_to(api, line["ends"] + EPS)
    assert_failed(api.task(task_id), "generation_timeout")


def test_header_and_marker_combine_and_the_header_wins(api: Api) -> None:
    task_id = api.created(t2v(prompt="rain [mock: fail=generation_timeout; queue=5]"),
                          **scenario("fail=service_error;processing=20"))["id"]
    line = timeline(api, task_id)
    assert line["processing_from"] - line["created"] == pytest.approx(5, abs=1e-3)  # marker
    assert line["ends"] - line["processing_from"] == pytest.approx(20, abs=1e-3)  # header
    advance_to(api, line["ends"] + EPS)
    assert_failed(api.task(task_id), "service_error")  # header wins over the marker's fail


@pytest.mark.parametrize("model_body", [
    t2v(), {"model": I2V, "prompt": "p", "image_start": IMG}, {"model": REF, "prompt": "p", "video_url": VID},
], ids=["t2v", "i2v", "ref"])
def test_input_seconds_is_refused_on_a_non_edit_model(api: Api, model_body: dict[str, Any]) -> None:
    assert_error(api.create(model_body, **scenario("input_seconds=7")), 400, "invalid_request",
                 "invalid_request_error", "input_seconds")


BAD_ITEMS = {
    "queue=-1": ("queue", "-1"),
    "fail=not_a_code": ("fail", "not_a_code"),
    "bogus": ("bogus",),
    "processing=0": ("processing", "0"),
    "queue=abc": ("queue", "abc"),
}


@pytest.mark.parametrize("via", ["header", "marker"])
@pytest.mark.parametrize("item", BAD_ITEMS)
def test_bad_scenario_item_is_400_and_changes_nothing(api: Api, item: str, via: str) -> None:
    if via == "header":
        response = api.create(t2v(), **scenario(item))
    else:
        response = api.create(t2v(prompt=f"a cat [mock: {item}]"))
    assert_error(response, 400, "invalid_request", "invalid_request_error", *BAD_ITEMS[item])
    account = api.account()
    assert account["reserved"] == 0 and account["charged"] == 0 and account["balance"] == account["granted"]
    assert api.http.get("/_mock/tasks", params={"key": api.key}).json()["total"] == 0


def test_a_scenario_400_names_every_bad_item_of_markers_and_header(api: Api) -> None:
    response = api.create(t2v(prompt="a lighthouse [mock: queue=-1; fail=not_a_code] [mock: stuck; bogus]"),
                          **scenario("processing=0;" + "x" * 5000))
    error = assert_error(response, 400, "invalid_request", "invalid_request_error",
                         "queue='-1'", "fail='not_a_code'", "'bogus'", "processing='0'", "'xxxx")
    assert len(error["message"]) < 1000, error  # the 5000-character item is quoted by a short prefix
    assert api.http.get("/_mock/tasks", params={"key": api.key}).json()["total"] == 0


# -- cancel (admin) -----------------------------------------------------------------------

@pytest.mark.parametrize("when", ["pending", "processing", "stuck"])
def test_cancel_fails_the_task_with_progress_frozen(api: Api, when: str) -> None:
    task_id = api.created(t2v(), **(scenario("stuck") if when == "stuck" else {}))["id"]
    line = timeline(api, task_id)
    start = line["processing_from"]
    if when == "pending":
        advance_to(api, start - 1)
    elif when == "processing":
        advance_to(api, start + 0.4 * (line["ends"] - start))
    else:
        api.advance(86400)
    progress = api.task(task_id)["progress"]
    assert progress == 0 if when == "pending" else progress > 0, progress
    response = api.http.post(f"/_mock/tasks/{task_id}/cancel")
    assert response.status_code == 200, response.text
    cancelled = api.task(task_id)
    assert_failed(cancelled, "request_cancelled")
    assert cancelled["progress"] == progress
    assert response.json()["task"] == cancelled
    api.advance(86400)
    assert api.task(task_id) == cancelled


@pytest.mark.parametrize("outcome", ["completed", "failed", "cancelled"])
def test_cancel_of_a_finished_task_is_409(api: Api, outcome: str) -> None:
    if outcome == "cancelled":
        task_id = api.created(t2v())["id"]
        assert api.http.post(f"/_mock/tasks/{task_id}/cancel").status_code == 200
    else:
        task_id = run_to_end(api, t2v(), **(scenario("fail=service_error") if outcome == "failed" else {}))[0]["id"]
    before = api.task(task_id)
    assert before["status"] == ("completed" if outcome == "completed" else "failed")
    assert error_code(api.http.post(f"/_mock/tasks/{task_id}/cancel"), 409)
    assert api.task(task_id) == before


def test_cancel_of_an_unknown_task_is_404(api: Api) -> None:
    assert error_code(api.http.post("/_mock/tasks/task-unified-1757169743-zzzzzzzz/cancel"), 404)


# -- seeded determinism -------------------------------------------------------------------

SEEDED_BODIES = [t2v(), t2v(duration=10, quality="1080p"), {"model": REF, "prompt": "p", "video_url": VID},
                 t2v(quality="4k", sound="on")]


def seeded_run(seed: int) -> tuple[list[str], list[float]]:
    """Id suffixes and the queue, processing durations of the same requests on a fresh server."""
    suffixes, durations = [], []
    with LiveServer(Settings(speed=0, seed=seed)) as live:
        api = Api(live)
        try:
            for body in SEEDED_BODIES:
                task_id = api.created(body)["id"]
                suffixes.append(ID_PATTERN.fullmatch(task_id)[2])
                line = timeline(api, task_id)
                durations += [line["processing_from"] - line["created"], line["ends"] - line["processing_from"]]
        finally:
            api.http.close()
    return suffixes, durations


def test_same_seed_same_ids_and_timelines_other_seed_differs() -> None:
    first, again, other = seeded_run(1234), seeded_run(1234), seeded_run(4321)
    assert first[0] == again[0]
    assert first[1] == pytest.approx(again[1], abs=1e-4)
    assert len(set(first[0])) == len(SEEDED_BODIES)
    assert other[0] != first[0]
    assert other[1] != pytest.approx(first[1], abs=1e-4)
