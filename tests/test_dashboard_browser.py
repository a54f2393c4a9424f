"""The dashboard in a real headless Chromium (Debian's ``chromium``, driven by Playwright) against a live server.

Each test opens the page on a fresh emulator (manual clock) and drives the API
with httpx beside it; the page must follow without a reload. Waits are
Playwright's own (``expect``/``wait_for``), never sleeps.

``EVOLINK_MOCK_SCREENSHOTS=DIR`` (e.g. ``examples/dashboard``) makes the tests write
the README's screenshots there.
"""
from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from contracts.receiver import CallbackReceiver
from contracts.server import LiveServer
from mock_server import Emulator, Settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# The closed network here floods a default Chromium with failed connections: switch them off.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = os.environ.get("EVOLINK_MOCK_SCREENSHOTS")
T2V = {"model": "kling-o3-text-to-video", "prompt": "a lighthouse at dusk"}
KEY = "sk-dashboard-browser-0001"
ADMIN_TOKEN = "dashboard-s3cret"
APPEARS = 2000  # ms: the bound for a new task to show up without a reload


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def live() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, seed=5)) as server:
        yield server


@pytest.fixture
def api(live: LiveServer) -> Iterator[httpx.Client]:
    """A fresh emulator behind the live server, and a client of its API."""
    live.use(Emulator(Settings(speed=0, seed=5, allow_local_callbacks=True)))
    with httpx.Client(base_url=live.base_url, timeout=30, headers={"Authorization": f"Bearer {KEY}"}) as client:
        yield client


@pytest.fixture
def page(browser: Browser, live: LiveServer, api: httpx.Client) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1180, "height": 760})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    context.close()


def shot(page: Page, name: str, *, full_page: bool = False) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=full_page)


def create(api: httpx.Client, scenario: str = "queue=20;processing=100", **extra: object) -> str:
    response = api.post("/v1/videos/generations", json={**T2V, **extra}, headers={"X-Mock-Scenario": scenario})
    assert response.status_code == 200, response.text
    task_id: str = response.json()["id"]
    return task_id


def advance(api: httpx.Client, seconds: float) -> None:
    assert api.post("/_mock/clock/advance", json={"seconds": seconds}).status_code == 200


def row(page: Page, task_id: str) -> object:
    return page.locator(f'#tasks-rows tr[data-key="{task_id}"]')


def test_a_new_task_appears_without_reload_and_its_progress_follows_the_clock(page: Page, live: LiveServer,
                                                                              api: httpx.Client) -> None:
    page.goto(live.base_url + "/", wait_until="domcontentloaded")  # / sends a browser to the dashboard
    expect(page).to_have_url(re.compile(r"/_mock/ui/#/tasks$"))
    expect(page.locator("#clock-speed")).to_have_text("(manual clock)")
    task_id = create(api)
    task = row(page, task_id)
    expect(task).to_be_visible(timeout=APPEARS)
    bar = task.locator("progress")
    expect(task.locator(".status")).to_have_text("pending")
    advance(api, 50)  # 20 s queued, then 30 of 100 s processing
    expect(task.locator(".status")).to_have_text("processing")
    expect(bar).to_have_attribute("value", "30")
    advance(api, 25)
    expect(bar).to_have_attribute("value", "55")
    # keys are masked after a few characters everywhere on the page
    expect(task).to_contain_text(KEY[:7] + "…")
    assert KEY not in page.content()
    other = api.post("/v1/videos/generations", json=T2V, headers={"Authorization": "Bearer sk-other-browser-01"})
    other_row = row(page, other.json()["id"])
    expect(other_row).to_be_visible(timeout=APPEARS)
    shot(page, "tasks")
    filters = page.get_by_role("region", name="Tasks")
    filters.get_by_label("Key").select_option(label=KEY[:7] + "…")
    expect(other_row).to_have_count(0)
    expect(task).to_be_visible()
    filters.get_by_label("Status").select_option("completed")
    expect(page.locator("#tasks-rows tr")).to_have_count(0)
    filters.get_by_label("Status").select_option("processing")
    expect(task).to_be_visible()


def test_plus_ten_minutes_completes_the_task(page: Page, live: LiveServer, api: httpx.Client) -> None:
    task_id = create(api)
    page.goto(live.base_url + "/_mock/ui/")
    task = row(page, task_id)
    expect(task.locator(".status")).to_have_text("pending")
    page.get_by_role("button", name="+10 min").click()
    expect(task.locator(".status")).to_have_text("completed")
    expect(task.locator("progress")).to_have_attribute("value", "100")
    assert api.get(f"/v1/tasks/{task_id}").json()["status"] == "completed"


def test_the_task_page_plays_the_result_and_shows_its_callbacks_and_billing(page: Page, live: LiveServer,
                                                                            api: httpx.Client) -> None:
    with CallbackReceiver() as hook:
        task_id = create(api, "queue=5;processing=60", callback_url=hook.url, duration=7)
        page.goto(f"{live.base_url}/_mock/ui/#/tasks/{task_id}")
        expect(page.get_by_role("heading", name=f"Task {task_id}")).to_be_visible()
        expect(page.locator("#task-billing")).to_contain_text("reserved")
        page.get_by_role("button", name="+10 min").click()
        hook.wait_for(1)
        attempts = page.locator("#task-callbacks tr")
        expect(attempts).to_have_count(1)
        expect(attempts.first).to_contain_text("delivered")
        expect(attempts.first).to_contain_text("200")
    expect(page.locator("#task-billing")).to_contain_text("charged")
    expect(page.locator("#task-ledger tr")).to_have_count(2)  # reserve, then charge
    expect(page.locator("#task-json")).to_contain_text('"status": "completed"')
    video = page.locator("#task-video")
    expect(video).to_be_visible()
    video.evaluate("v => new Promise((done, failed) => v.readyState >= 1 ? done()"
                   " : (v.onloadedmetadata = done, v.onerror = () => failed(v.error)))")
    assert video.evaluate("v => v.duration") == pytest.approx(7, abs=0.1)
    expect(page.locator("#timeline .end")).to_have_count(1)
    shot(page, "task", full_page=True)


def test_a_rate_limit_rule_added_through_the_form_answers_429(page: Page, live: LiveServer,
                                                             api: httpx.Client) -> None:
    page.goto(live.base_url + "/_mock/ui/#/faults")
    page.get_by_label("Kind").select_option("rate_limit")
    page.get_by_label("Route").select_option("create")
    page.get_by_label("Times").fill("1")
    page.get_by_label("Retry-After (s)").fill("3")
    page.get_by_role("button", name="Add the rule").click()
    rule = page.locator("#faults-rows tr").first
    expect(rule).to_contain_text("rate_limit")
    refused = api.post("/v1/videos/generations", json=T2V)
    assert refused.status_code == 429 and refused.headers["retry-after"] == "3", refused.text
    expect(rule).to_contain_text("1 (spent)")  # how often it fired
    # the form's validation is the admin API's: a bad rule is refused with its message
    page.get_by_label("Kind").select_option("latency")
    page.get_by_role("button", name="Add the rule").click()
    expect(page.locator("#fault-error-message")).to_contain_text("latency_ms is required")
    shot(page, "faults")
    rule.get_by_role("button", name="Delete fault-1").click()
    expect(page.locator("#faults-rows tr")).to_have_count(0)
    assert api.post("/v1/videos/generations", json=T2V).status_code == 200


def test_accounts_show_the_ledger_and_models_mark_assumed_prices(page: Page, live: LiveServer,
                                                                 api: httpx.Client) -> None:
    create(api, "queue=0;processing=10;fail=generation_timeout")
    advance(api, 60)
    page.goto(live.base_url + "/_mock/ui/#/accounts")
    account = page.locator("#accounts-rows tr").first
    expect(account).to_contain_text("10000")
    account.get_by_role("button").click()
    entries = page.locator("#ledger-rows tr")
    expect(entries).to_have_count(3)  # grant, reserve, refund
    expect(entries.nth(2)).to_contain_text("refund")
    assert KEY not in page.content()
    shot(page, "accounts")
    page.get_by_role("link", name="Models and prices").click()
    t2v = page.locator('#models-rows tr[data-key="kling-o3-text-to-video"]')
    expect(t2v.locator("li.assumed")).to_have_count(2)  # 4k, with and without sound
    page.get_by_label("Find a model").fill("veo3.1-fast")
    expect(page.locator("#models-rows tr")).to_have_count(2)  # the model and its alias
    expect(page.locator('#models-rows tr[data-key="veo3.1-fast"]')).to_contain_text("alias of veo3.1-fast-beta")
    expect(page.locator('#models-rows tr[data-key="veo3.1-fast"]')).to_contain_text("720p: 25.7/call")


def test_with_an_admin_token_the_page_shows_nothing_until_it_is_entered(browser: Browser) -> None:
    with LiveServer(Settings(speed=0, admin_token=ADMIN_TOKEN)) as guarded:
        with httpx.Client(base_url=guarded.base_url, headers={"Authorization": f"Bearer {KEY}"}) as client:
            task_id = client.post("/v1/videos/generations", json=T2V).json()["id"]
        context = browser.new_context()
        page = context.new_page()
        answered: list[tuple[str, int]] = []
        page.on("response", lambda r: answered.append((r.url, r.status)) if "/_mock/" in r.url else None)
        try:
            page.goto(guarded.base_url + "/_mock/ui/")
            token = page.get_by_label("Admin token")
            expect(token).to_be_visible()
            expect(page.locator("#view-tasks")).to_be_hidden()
            content = page.content()
            assert task_id not in content and KEY[:7] not in content
            data = [(url, status) for url, status in answered if not url.split("?")[0].endswith((".js", ".css", "/"))]
            assert data and all(status == 401 for _, status in data), data
            token.fill("wrong")
            page.get_by_role("button", name="Open the dashboard").click()
            expect(page.locator("#error")).to_contain_text("refused")
            expect(page.locator("#view-tasks")).to_be_hidden()
            token.fill(ADMIN_TOKEN)
            page.get_by_role("button", name="Open the dashboard").click()
            expect(row(page, task_id)).to_be_visible()
            page.get_by_role("button", name="+10 s").click()  # later calls carry the token too
            expect(page.locator("#status")).to_have_text("Advanced the clock +10 s")
        finally:
            context.close()
