"""The dashboard's server side: ``GET /``, the page's files, its event stream, ``GET /_mock/models``, the feed.

The page itself is tested in a browser (test_dashboard_browser.py).
"""
from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from conftest import T2V, Api, assert_error

from contracts.receiver import CallbackReceiver
from contracts.server import LiveServer
from mock_server import Emulator, Settings
from mock_server.families import registry
from mock_server.redaction import key_id
from mock_server.workers.feed import Feed

ADMIN_TOKEN = "dash-s3cret"
T2V_BODY = {"model": T2V, "prompt": "a lighthouse"}
SLOW = {"X-Mock-Scenario": "queue=10;processing=100"}


class Stream:
    """The dashboard's event stream, read event by event."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.iter_lines()

    def next(self) -> tuple[str, Any]:
        name, data = "message", ""
        for line in self._lines:
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line and data:
                return name, json.loads(data)
        raise AssertionError("the stream ended")

    def until(self, name: str) -> Any:
        while True:
            got, data = self.next()
            if got == name:
                return data


def stream(api: Api, **query: str) -> Any:
    return api.http.stream("GET", "/_mock/ui/events", params=query)


@pytest.fixture(scope="module")
def local() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, allow_local_callbacks=True)) as server:
        yield server


@pytest.fixture(scope="module")
def guarded() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, admin_token=ADMIN_TOKEN)) as server:
        yield server


# -- GET / --------------------------------------------------------------------------------------------
def test_root_sends_a_browser_to_the_dashboard(api: Api) -> None:
    response = api.http.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})
    assert response.status_code == 307 and response.headers["location"] == "/_mock/ui/"


@pytest.mark.parametrize(("method", "accept"), [("GET", "application/json"), ("GET", None), ("POST", "text/html"),
                                                ("DELETE", "*/*"), ("PUT", None)])
def test_root_answers_an_api_client_with_the_api_404(api: Api, method: str, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    assert_error(api.http.request(method, "/", headers=headers), 404, "not_found", "invalid_request_error", "/")


# -- the page's files and the admin token ---------------------------------------------------------------
def test_the_page_loads_without_the_admin_token_and_holds_no_data(guarded: LiveServer) -> None:
    key = "sk-dashboard-guarded-01"
    with httpx.Client(base_url=guarded.base_url, timeout=10) as http:
        task_id = http.post("/v1/videos/generations", json=T2V_BODY,
                            headers={"Authorization": f"Bearer {key}"}).json()["id"]
        for path, kind in [("/_mock/ui/", "text/html"), ("/_mock/ui/app.js", "javascript"),
                           ("/_mock/ui/style.css", "text/css")]:
            response = http.get(path)
            assert response.status_code == 200 and kind in response.headers["content-type"], path
            assert task_id not in response.text and key not in response.text
        for path in ("/_mock/ui/events", "/_mock/models"):
            assert_error(http.get(path), 401, "admin_token_required", "authentication_error")
        with http.stream("GET", "/_mock/ui/events", headers={"X-Mock-Admin-Token": ADMIN_TOKEN}) as opened:
            assert opened.status_code == 200 and opened.headers["content-type"].startswith("text/event-stream")
            tasks = Stream(opened).until("state")["tasks"]["shown"]
            assert [t["task"]["id"] for t in tasks] == [task_id]
        assert_error(http.get("/_mock/ui/nothing.js"), 404, "not_found", "invalid_request_error")


# -- the stream ---------------------------------------------------------------------------------------
def test_the_stream_sends_the_forms_lists_then_clock_and_state_and_follows_changes(api: Api) -> None:
    with stream(api, key=api.key) as opened:
        events = Stream(opened)
        name, meta = events.next()
        assert name == "meta"
        assert set(meta["models"]) == set(registry()) and "rate_limit" in meta["fault_kinds"]
        assert "generation_timeout" in meta["error_codes"] and meta["routes"] == ["create", "task", "credits", "files"]
        before = events.until("clock")["now"]
        assert events.until("state")["tasks"]["shown"] == []
        task_id = api.created(T2V_BODY, **SLOW)["id"]
        shown = events.until("state")["tasks"]["shown"]  # no change is announced: the next tick finds it
        assert [(t["task"]["id"], t["task"]["status"]) for t in shown] == [(task_id, "pending")]
        now = api.advance(40)  # 10 s queued, 30 of 100 processing
        assert events.until("clock")["now"] == pytest.approx(now) and now >= before + 40
        shown = events.until("state")["tasks"]["shown"]
        assert (shown[0]["task"]["status"], shown[0]["task"]["progress"]) == ("processing", 30)


def test_the_stream_filters_tasks_by_key_model_and_status(api: Api) -> None:
    first = api.created(T2V_BODY, **{"X-Mock-Scenario": "queue=0;processing=10"})["id"]
    second = api.created(T2V_BODY, **SLOW)["id"]
    api.advance(20)  # the first completed, the second processing

    def shown(**query: str) -> list[str]:
        with stream(api, key=api.key, **query) as opened:
            return [t["task"]["id"] for t in Stream(opened).until("state")["tasks"]["shown"]]

    assert shown() == [second, first]
    assert shown(status="completed") == [first]
    assert shown(status="processing", model=T2V) == [second]
    assert shown(model="kling-o3-video-edit") == []
    assert shown(limit="1") == [second]


def test_the_stream_shows_one_task_with_its_callback_attempts_and_ledger_and_one_accounts_ledger(
        local: LiveServer) -> None:
    api = Api(local)
    with CallbackReceiver() as hook:
        task_id = api.created({**T2V_BODY, "callback_url": hook.url}, **SLOW)["id"]
        api.advance(200)
        hook.wait_for(1)
    assert api.http.get("/_mock/callbacks", params={"task_id": task_id, "wait": 10}).status_code == 200
    with stream(api, task_id=task_id, account=api.key) as opened:
        state = Stream(opened).until("state")
    task = state["task"]
    assert task["task"]["id"] == task_id and task["billing"]["state"] == "charged"
    assert [(e["kind"], e["task_id"]) for e in task["ledger"]] == [("reserve", task_id), ("charge", task_id)]
    assert [(a["attempt"], a["status_code"]) for a in task["callbacks"]] == [(1, 200)]
    assert [e["kind"] for e in state["ledger"]] == ["grant", "reserve", "charge"]
    shown = state["accounts"]["shown"]  # keys as a prefix, told apart by their ids (issue 15: no key in full)
    assert key_id(api.key) in [a["key_id"] for a in shown] and api.key not in json.dumps(shown)
    with stream(api, task_id="task-unified-1757169743-zzzzzzzz") as opened:
        assert Stream(opened).until("state")["task"] == {"missing": "task-unified-1757169743-zzzzzzzz"}


@pytest.mark.parametrize(("query", "fragment"), [
    ({"status": "done"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "many"}, "limit"),
    ({"key": "not-a-key"}, "key"), ({"model": "kling-nope"}, "model"), ({"account": "sk-x"}, "account"),
])
def test_the_stream_refuses_bad_parameters_like_the_admin_api(api: Api, query: dict[str, str], fragment: str) -> None:
    assert_error(api.http.get("/_mock/ui/events", params=query), 400, "invalid_request", "invalid_request_error",
                 fragment)


def test_stopping_a_live_server_ends_its_open_streams() -> None:
    server = LiveServer(Settings(speed=0)).start()
    opened, ended = threading.Event(), threading.Event()

    def read() -> None:
        with httpx.stream("GET", server.base_url + "/_mock/ui/events", timeout=30) as response:
            for line in response.iter_lines():
                if line.startswith("event: state"):
                    opened.set()
        ended.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert opened.wait(10)
    server.stop()  # uvicorn waits for open responses: the stream must end for this to return
    reader.join(10)
    assert ended.is_set()


# -- the feed -----------------------------------------------------------------------------------------
def test_pages_watching_one_view_share_one_build_per_tick_and_a_change_ticks_at_once() -> None:
    async def scenario() -> None:
        emulator = Emulator(Settings(speed=0, seed=1))
        feed = Feed(emulator, tick=3600)  # no tick comes by itself within this test
        builds: list[str] = []

        def build(view: str) -> Any:
            builds.append(view)
            return len(builds)

        first, second, other = feed.watch("v", lambda: build("v")), feed.watch("v", lambda: build("v")), \
            feed.watch("w", lambda: build("w"))
        assert [await anext(first), await anext(second), await anext(other)] == [1, 1, 2]
        assert feed.watchers == 3
        emulator.advance(1)  # the emulator reports the change: a tick now
        assert [await anext(first), await anext(second)] == [3, 3]
        assert builds == ["v", "w", "v"]
        for watcher in (first, second, other):
            await watcher.aclose()
        assert feed.watchers == 0
        feed.close()

    asyncio.run(scenario())


# -- GET /_mock/models ---------------------------------------------------------------------------------
def test_models_lists_every_model_and_alias_with_its_prices_and_marks_the_assumed_ones(api: Api) -> None:
    models = api.http.get("/_mock/models").json()
    assert [m["id"] for m in models if "alias_of" not in m] == list(registry())
    assert {m["id"]: m["alias_of"] for m in models if "alias_of" in m} == registry().aliases
    for model in models:
        spec = registry()[model["id"]]
        rows = {(p.get(spec.tier_field), p.get("sound", False), p.get("duration")):
                (Decimal(str(p["credits"])), p["unit"], p["assumed"]) for p in model["prices"]}
        assert rows == {key: (rate.credits, spec.unit, rate.assumed) for key, rate in spec.rates.items()}
        assert model["assumed"] == spec.assumed
        assert model["family"] == spec.family and model["modes"] == list(spec.modes)
    t2v = next(m for m in models if m["id"] == T2V)
    assert {(p["quality"], p["sound"]) for p in t2v["prices"] if p["assumed"]} == {("4k", False), ("4k", True)}
