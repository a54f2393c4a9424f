"""Credits and billing (https://docs.evolink.ai/en/api-manual/account-management/get-credits):
the price table in exact decimals, video-edit billed
seconds, reserve -> charge / refund, the 402, auto-provisioning and re-granting an account.

Every ledger read checks ``GET /_mock/accounts/{key}`` against ``GET /v1/credits`` and the
invariant ``balance + reserved + charged == granted``. JSON numbers are parsed as decimals so
a value like ``27.000000000000004`` cannot pass for 27.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from conftest import EDIT, I2V, REF, T2V, Api, assert_error

from contracts.server import LiveServer
from mock_server import Settings

IMG = "https://example.com/a.jpg"
VID = "https://example.com/v.mp4"
SCENARIO = "X-Mock-Scenario"
EPS = 1e-3  # a step past an instant, far above float rounding of epoch seconds
LEDGER = ("granted", "balance", "reserved", "charged")

#: EvoLink's published credits per second by (quality, sound). 4k is the mock's assumed price.
TEXT_IMAGE_RATES = {
    ("720p", "off"): "5.4", ("720p", "on"): "7.2036",
    ("1080p", "off"): "7.2036", ("1080p", "on"): "9.0018",
    ("4k", "off"): "9.6096", ("4k", "on"): "12.0084",
}
#: Reference-to-video and video edit: sound is forced off, so "on" costs the same.
VIDEO_INPUT_RATES = {"720p": "8.1", "1080p": "10.8054"}


def body_for(model: str, quality: str, sound: str, seconds: int) -> tuple[dict[str, Any], dict[str, str]]:
    """A create body (and scenario header) billing ``seconds`` of ``model``."""
    common = {"model": model, "prompt": "a lighthouse at dusk", "quality": quality, "sound": sound}
    if model == T2V:
        return {**common, "duration": seconds}, {}
    if model == I2V:
        return {**common, "image_start": IMG, "duration": seconds}, {}
    if model == REF:
        return {**common, "video_url": VID, "duration": seconds}, {}
    return {**common, "video_url": VID}, {SCENARIO: f"input_seconds={seconds}"}


def price_cases() -> list[Any]:
    cases = []
    for model in (T2V, I2V):
        for (quality, sound), rate in TEXT_IMAGE_RATES.items():
            for seconds in (3, 5, 7, 10, 15):
                cases.append(pytest.param(model, quality, sound, seconds, rate,
                                          id=f"{model[9:]}-{quality}-sound {sound}-{seconds}s"))
    for model in (REF, EDIT):
        for quality, rate in VIDEO_INPUT_RATES.items():
            for sound in ("off", "on"):
                for seconds in (3, 5, 7, 10):
                    cases.append(pytest.param(model, quality, sound, seconds, rate,
                                              id=f"{model[9:]}-{quality}-sound {sound}-{seconds}s"))
    return cases


def credits_of(value: Any) -> Decimal:
    """A JSON number parsed with ``parse_float=Decimal`` (ints stay ints) as a Decimal."""
    assert isinstance(value, (int, Decimal)) and not isinstance(value, bool), value
    return Decimal(value)


def ledger(api: Api) -> dict[str, Decimal]:
    """The key's ledger; checks /v1/credits agrees with it and the invariant holds."""
    response = api.http.get("/v1/credits")  # first: a new key is provisioned by its first request
    assert response.status_code == 200, response.text
    body = response.json(parse_float=Decimal)
    response = api.http.get(f"/_mock/accounts/{api.key}")
    assert response.status_code == 200, response.text
    account = {name: credits_of(value) for name, value in response.json(parse_float=Decimal).items()
               if name in LEDGER}
    assert body["success"] is True and body["message"] == "", body
    token, user = body["data"]["token"], body["data"]["user"]
    assert token["unlimited_credits"] is False
    assert credits_of(token["remaining_credits"]) == account["balance"]
    assert credits_of(token["used_credits"]) == account["charged"]
    assert {k: credits_of(v) for k, v in user.items()} == {"remaining_credits": account["balance"],
                                                            "used_credits": account["charged"]}
    assert account["balance"] + account["reserved"] + account["charged"] == account["granted"], account
    return account


def expect(granted: str, balance: str, reserved: str, charged: str) -> dict[str, Decimal]:
    return dict(zip(LEDGER, map(Decimal, (granted, balance, reserved, charged))))


def clock_now(api: Api) -> float:
    return api.http.get("/_mock/clock").json()["now"]


def advance_to(api: Api, t: float) -> None:
    now = clock_now(api)
    assert t >= now
    api.advance(t - now)


#: A 27-credit task: text-to-video, 5 s, 720p, no sound (5.4 x 5).
T2V_27: dict[str, Any] = {"model": T2V, "prompt": "a lighthouse at dusk", "duration": 5}


def scenario(items: str | None) -> dict[str, str]:
    return {SCENARIO: items} if items else {}


def task_count(api: Api) -> int:
    return api.http.get("/_mock/tasks", params={"key": api.key}).json()["total"]


# -- prices -------------------------------------------------------------------------------

@pytest.mark.parametrize(("model", "quality", "sound", "seconds", "rate"), price_cases())
def test_reserved_credits_are_price_per_second_times_seconds(api: Api, model: str, quality: str, sound: str,
                                                             seconds: int, rate: str) -> None:
    body, headers = body_for(model, quality, sound, seconds)
    response = api.create(body, **headers)
    assert response.status_code == 200, response.text
    created = response.json(parse_float=Decimal)
    expected = Decimal(rate) * seconds
    assert credits_of(created["usage"]["credits_reserved"]) == expected
    assert created["task_info"]["video_duration"] == seconds
    assert ledger(api)["reserved"] == expected


@pytest.mark.parametrize(("body", "expected"), [
    (T2V_27, "27"),
    ({"model": T2V, "prompt": "p", "duration": 7, "quality": "1080p"}, "50.4252"),
    ({"model": T2V, "prompt": "p", "duration": 7, "sound": "on"}, "50.4252"),
    ({"model": I2V, "prompt": "p", "image_start": IMG, "duration": 3}, "16.2"),
    ({"model": REF, "prompt": "p", "video_url": VID, "duration": 5}, "40.5"),
], ids=["5.4 x 5", "1080p 7.2036 x 7", "sound 7.2036 x 7", "i2v 5.4 x 3", "ref 8.1 x 5"])
def test_money_is_exact(api: Api, body: dict[str, Any], expected: str) -> None:
    response = api.create(body)
    assert response.status_code == 200, response.text
    reserved = response.json(parse_float=Decimal)["usage"]["credits_reserved"]
    assert credits_of(reserved) == Decimal(expected)
    assert response.json()["usage"]["credits_reserved"] == float(expected)


@pytest.mark.parametrize(("input_seconds", "billed"), [
    ("2", 3), ("3", 3), ("4.2", 5), ("9.01", 10), ("10", 10), ("12", 10), (None, 5),
])
def test_video_edit_bills_the_input_length_rounded_up_and_clamped(api: Api, input_seconds: str | None,
                                                                  billed: int) -> None:
    created = api.created({"model": EDIT, "prompt": "make it snow", "video_url": VID},
                          **scenario(input_seconds and f"input_seconds={input_seconds}"))
    assert created["task_info"]["video_duration"] == billed
    assert Decimal(str(created["usage"]["credits_reserved"])) == Decimal("8.1") * billed
    assert api.admin_task(created["id"])["params"]["seconds"] == billed


# -- reserve, charge, refund --------------------------------------------------------------

@pytest.mark.parametrize(("items", "settled"), [
    (None, expect("100", "73", "0", "27")),
    ("fail=service_error", expect("100", "100", "0", "0")),
    ("fail=content_policy_violation", expect("100", "100", "0", "0")),
], ids=["completed: charged", "late failure: refunded", "early failure: refunded"])
def test_reserve_at_create_then_charge_or_refund_at_the_end(api: Api, items: str | None,
                                                            settled: dict[str, Decimal]) -> None:
    api.grant(100)
    assert ledger(api) == expect("100", "100", "0", "0")
    task_id = api.created(T2V_27, **scenario(items))["id"]
    assert ledger(api) == expect("100", "73", "27", "0")
    line = api.admin_task(task_id)["timeline"]
    advance_to(api, line["ends"] - 0.01)
    assert ledger(api) == expect("100", "73", "27", "0"), "nothing settles before the end"
    advance_to(api, line["ends"] + EPS)
    assert ledger(api) == settled
    assert api.task(task_id)["status"] == ("completed" if items is None else "failed")
    api.advance(86400)
    assert ledger(api) == settled, "a task settles once"


def test_cancel_refunds_in_full(api: Api) -> None:
    api.grant(100)
    task_id = api.created(T2V_27)["id"]
    line = api.admin_task(task_id)["timeline"]
    advance_to(api, (line["processing_from"] + line["ends"]) / 2)
    assert ledger(api) == expect("100", "73", "27", "0")
    assert api.http.post(f"/_mock/tasks/{task_id}/cancel").status_code == 200
    assert ledger(api) == expect("100", "100", "0", "0")
    assert api.admin_task(task_id)["billing"]["state"] == "refunded"
    api.advance(86400)
    assert ledger(api) == expect("100", "100", "0", "0")


def test_several_tasks_settle_independently(api: Api) -> None:
    api.grant(1000)
    done = api.created(T2V_27)["id"]
    failed = api.created({"model": T2V, "prompt": "p", "duration": 7, "quality": "1080p"},
                         **scenario("fail=unknown_error"))["id"]
    stuck = api.created({"model": REF, "prompt": "p", "video_url": VID}, **scenario("stuck"))["id"]
    assert ledger(api) == expect("1000", "882.0748", "117.9252", "0")  # 27 + 50.4252 + 40.5
    ends = max(api.admin_task(t)["timeline"]["ends"] for t in (done, failed))
    advance_to(api, ends + EPS)
    assert ledger(api) == expect("1000", "932.5", "40.5", "27")
    assert api.admin_task(stuck)["billing"]["state"] == "reserved"


# -- 402 ----------------------------------------------------------------------------------

def test_402_when_the_balance_cannot_cover_the_reservation(api: Api) -> None:
    api.grant(26.9999)
    before = ledger(api)
    error = assert_error(api.create(T2V_27), 402, "insufficient_quota", "insufficient_quota")
    assert error["message"]
    assert ledger(api) == before == expect("26.9999", "26.9999", "0", "0")
    assert task_count(api) == 0


def test_a_balance_of_exactly_27_covers_a_27_credit_task(api: Api) -> None:
    api.grant(27)
    api.created(T2V_27)
    assert ledger(api) == expect("27", "0", "27", "0")
    assert_error(api.create(T2V_27), 402, "insufficient_quota", "insufficient_quota")
    assert ledger(api) == expect("27", "0", "27", "0")
    assert task_count(api) == 1


def test_refund_makes_the_credits_usable_again(api: Api) -> None:
    api.grant(27)
    task_id = api.created(T2V_27)["id"]
    assert api.create(T2V_27).status_code == 402
    assert api.http.post(f"/_mock/tasks/{task_id}/cancel").status_code == 200
    api.created(T2V_27)
    assert ledger(api) == expect("27", "0", "27", "0")


# -- provisioning and re-granting ----------------------------------------------------------

def test_a_new_key_is_provisioned_with_10000_credits(api: Api) -> None:
    assert api.http.get(f"/_mock/accounts/{api.key}").status_code == 404  # never seen yet
    response = api.http.get("/v1/credits")
    assert response.status_code == 200, response.text
    assert ledger(api) == expect("10000", "10000", "0", "0")


@pytest.mark.parametrize("credits", [Decimal("50"), 50, 50.0, "50"])
def test_the_credits_setting_sets_the_grant_of_new_keys(credits: Any) -> None:
    with LiveServer(Settings(speed=0, credits=credits)) as live:
        api = Api(live)
        try:
            assert ledger(api) == expect("50", "50", "0", "0")
            api.created(T2V_27)
            assert ledger(api) == expect("50", "23", "27", "0")
            assert api.create(T2V_27).status_code == 402
        finally:
            api.http.close()


@pytest.mark.parametrize(("items", "settled"), [
    (None, expect("100", "73", "0", "27")),
    ("fail=service_error", expect("100", "100", "0", "0")),
], ids=["then completes", "then fails"])
def test_put_recreates_the_account_and_keeps_a_running_reservation(api: Api, items: str | None,
                                                                   settled: dict[str, Decimal]) -> None:
    first = api.created(T2V_27)["id"]
    advance_to(api, api.admin_task(first)["timeline"]["ends"] + EPS)
    assert ledger(api) == expect("10000", "9973", "0", "27")
    running = api.created(T2V_27, **scenario(items))["id"]
    assert ledger(api) == expect("10000", "9946", "27", "27")
    api.grant(100)
    assert ledger(api) == expect("100", "73", "27", "0")  # charged reset, reservation kept
    advance_to(api, api.admin_task(running)["timeline"]["ends"] + EPS)
    assert ledger(api) == settled


def test_put_below_the_reserved_amount_is_409(api: Api) -> None:
    api.created(T2V_27)
    before = ledger(api)
    response = api.http.put(f"/_mock/accounts/{api.key}", json={"granted": 26.9999})
    assert response.status_code == 409, response.text
    assert set(response.json()["error"]) == {"code", "message", "type"}
    assert ledger(api) == before
    api.grant(27)
    assert ledger(api) == expect("27", "0", "27", "0")
