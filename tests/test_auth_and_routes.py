"""Authentication, route errors and the admin API (https://docs.evolink.ai/en/api-manual/task-management/get-task-detail
and the README's "Admin API"). Tests that reset the emulator, limit bodies or set an admin token
run on their own servers, never on the shared session one.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from conftest import EDIT, I2V, REF, T2V, Api, assert_error
from starlette.routing import Route

from contracts.server import LiveServer
from mock_server import Settings, create_app
from mock_server.core.service import KEY_PATTERN, MAX_KEY_LENGTH
from mock_server.redaction import redact

T2V_BODY = {"model": T2V, "prompt": "a lighthouse at dusk"}
BODIES = {
    T2V: T2V_BODY,
    I2V: {"model": I2V, "prompt": "p", "image_start": "https://example.com/a.jpg"},
    REF: {"model": REF, "prompt": "p", "video_url": "https://example.com/v.mp4"},
    EDIT: {"model": EDIT, "prompt": "p", "video_url": "https://example.com/v.mp4"},
}
UNKNOWN_ID = "task-unified-1757169743-zzzzzzzz"
ADMIN_TOKEN = "s3cret"


def error_code(response: httpx.Response, status: int) -> str:
    """The answer is the API's error shape with this status; return its code."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "type"}, body
    assert all(isinstance(v, str) and v for v in body["error"].values()), body
    return body["error"]["code"]


def assert_unauthorized(response: httpx.Response) -> None:
    assert_error(response, 401, "unauthorized", "authentication_error")


def clock_now(http: httpx.Client) -> float:
    response = http.get("/_mock/clock")
    assert response.status_code == 200, response.text
    return response.json()["now"]


@pytest.fixture(scope="module")
def own() -> Iterator[LiveServer]:
    """A private emulator for tests that reset it or need an exact clock."""
    with LiveServer(Settings(speed=0)) as live:
        yield live


@pytest.fixture(scope="module")
def guarded() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, admin_token=ADMIN_TOKEN)) as live:
        yield live


@pytest.fixture(scope="module")
def small_bodies() -> Iterator[LiveServer]:
    with LiveServer(Settings(speed=0, max_body_bytes=2048)) as live:
        yield live


def plain_client(server: LiveServer, **headers: str) -> httpx.Client:
    """An httpx client of ``server`` (plain HTTP: no TLS context to build)."""
    return httpx.Client(base_url=server.base_url, timeout=30, verify=False, headers=headers)


@pytest.fixture(scope="module")
def anonymous(server: LiveServer) -> Iterator[httpx.Client]:
    """A client of the session server with no Authorization header."""
    with plain_client(server) as client:
        yield client


# -- 401 ----------------------------------------------------------------------------------

PUBLIC_ROUTES = {
    "create": ("POST", "/v1/videos/generations", T2V_BODY),
    "task": ("GET", f"/v1/tasks/{UNKNOWN_ID}", None),
    "credits": ("GET", "/v1/credits", None),
}
BAD_AUTHORIZATION = {
    "no header": None,
    "basic": "Basic c2stYWJjZGVmZ2hpams6",
    "bearer without key": "Bearer",
    "bearer abc": "Bearer abc",
    "sk- plus 5": "Bearer sk-short",
    "sk- plus 7": "Bearer sk-abcdefg",
    "bad char !": "Bearer sk-abcdefgh!",
    "bad char .": "Bearer sk-abcd.efghij",
    "space inside key": "Bearer sk-abcd efghij",
    "key without scheme": "sk-abcdefghijkl",
    "sk- plus 198": "Bearer sk-" + "a" * 198,
}


def call(http: httpx.Client, route: str, authorization: str | None, body: Any = None) -> httpx.Response:
    method, path, default_body = PUBLIC_ROUTES[route]
    headers = {"Authorization": authorization} if authorization is not None else {}
    payload = body if body is not None else default_body
    return http.request(method, path, json=payload, headers=headers)


@pytest.mark.parametrize("authorization", BAD_AUTHORIZATION.values(), ids=BAD_AUTHORIZATION.keys())
@pytest.mark.parametrize("route", PUBLIC_ROUTES)
def test_bad_authorization_is_401_on_every_public_route(anonymous: httpx.Client, route: str,
                                                        authorization: str | None) -> None:
    assert_unauthorized(call(anonymous, route, authorization))


@pytest.mark.parametrize(("route", "status"), [("create", 200), ("task", 404), ("credits", 200)])
def test_sk_with_underscore_and_dash_is_a_valid_key(anonymous: httpx.Client, route: str, status: int) -> None:
    response = call(anonymous, route, "Bearer sk-ABCdef_-12")
    assert response.status_code == status, response.text


def test_a_key_longer_than_the_bound_is_refused_and_makes_no_account(server: LiveServer, anonymous: httpx.Client,
                                                                    api: Api) -> None:
    longest, over = "sk-" + "a" * (MAX_KEY_LENGTH - 3), "sk-" + "b" * (MAX_KEY_LENGTH - 2)
    assert call(anonymous, "credits", f"Bearer {longest}").status_code == 200
    for route in PUBLIC_ROUTES:
        assert_unauthorized(call(anonymous, route, f"Bearer {over}"))
    for method in ("GET", "PUT", "DELETE"):
        response = api.http.request(method, f"/_mock/accounts/{over}", json={"granted": 5})
        assert_error(response, 400, "invalid_request", "invalid_request_error", f"8 to {MAX_KEY_LENGTH - 3}")
    assert server.emulator.account(over) is None
    assert server.emulator.account(longest) is not None


def test_a_revoked_key_gets_401_everywhere(api: Api) -> None:
    task_id = api.created(T2V_BODY)["id"]
    response = api.http.delete(f"/_mock/accounts/{api.key}")
    assert response.status_code == 200, response.text
    assert response.json()["revoked"] is True
    assert_unauthorized(api.create(T2V_BODY))
    assert_unauthorized(api.http.get(f"/v1/tasks/{task_id}"))
    assert_unauthorized(api.http.get("/v1/credits"))
    api.grant(100)  # PUT re-creates the account, un-revoked
    assert api.http.get("/v1/credits").status_code == 200


def test_revoking_an_unknown_key_is_404(api: Api) -> None:
    assert error_code(api.http.delete("/_mock/accounts/sk-never-seen-key-0"), 404)


@pytest.mark.parametrize("body", [
    b"{not json", b"", b'{"model": "kling-o9"}', b'{"model": "kling-o3-text-to-video", "duration": "5"}',
], ids=["bad json", "empty", "unknown model", "bad field"])
def test_authentication_comes_before_the_body(anonymous: httpx.Client, body: bytes) -> None:
    response = anonymous.post("/v1/videos/generations", content=body,
                              headers={"Authorization": "Bearer abc", "Content-Type": "application/json"})
    assert_unauthorized(response)


# -- task ownership and ids ---------------------------------------------------------------

def test_polling_another_keys_task_is_403(api: Api) -> None:
    task_id = api.created(T2V_BODY)["id"]
    other = Api(api.server)
    try:
        assert_error(other.http.get(f"/v1/tasks/{task_id}"), 403, "permission_denied", "invalid_request_error")
    finally:
        other.http.close()
    assert api.task(task_id)["id"] == task_id


def test_unknown_well_formed_id_is_404(api: Api) -> None:
    assert_error(api.http.get(f"/v1/tasks/{UNKNOWN_ID}"), 404, "task_not_found", "invalid_request_error",
                 UNKNOWN_ID)


@pytest.mark.parametrize("task_id", [
    "abc", "task-unified-", "task-unified-123-abc", "task-unified-1757169743-" + "a" * 100,
    "task-unified-1757169743-ABCDEFGH", "task-1757169743-abcdefgh", "task-unified-1757169743-abc_defg",
], ids=["abc", "prefix only", "short epoch", "over-long", "upper-case suffix", "no unified", "underscore"])
def test_malformed_id_is_400_invalid_task_id(api: Api, task_id: str) -> None:
    assert_error(api.http.get(f"/v1/tasks/{task_id}"), 400, "invalid_task_id", "invalid_request_error")


# -- model access -------------------------------------------------------------------------

@pytest.mark.parametrize("model", [I2V, REF, EDIT])
def test_model_outside_the_accounts_models_is_403(api: Api, model: str) -> None:
    api.grant(1000, models=[T2V])
    assert_error(api.create(BODIES[model]), 403, "model_access_denied", "invalid_request_error", model)
    account = api.account()
    assert account["reserved"] == 0 and account["balance"] == 1000
    assert api.created(T2V_BODY)["model"] == T2V


def test_account_without_a_models_list_may_use_every_model(api: Api) -> None:
    api.grant(1000, models=[T2V])
    api.grant(1000)
    for body in BODIES.values():
        api.created(body)


# -- route and body errors ----------------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/nope"), ("GET", "/v1/nope"), ("POST", "/v1/videos"), ("GET", "/v1/tasks"),
    ("GET", "/v1/tasks/" + UNKNOWN_ID + "/extra"), ("GET", "/_mock/nope"), ("GET", "/"),
])
def test_unknown_route_is_404_in_the_error_shape(api: Api, method: str, path: str) -> None:
    response = api.http.request(method, path)
    assert error_code(response, 404)
    assert response.json()["error"]["message"].endswith("the dashboard is at /_mock/ui/"), response.text


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("GET", "/v1/videos/generations", {"POST"}),
    ("PUT", "/v1/videos/generations", {"POST"}),
    ("POST", f"/v1/tasks/{UNKNOWN_ID}", {"GET"}),
    ("DELETE", "/v1/credits", {"GET"}),
    ("PUT", "/_mock/tasks", {"GET"}),
    ("GET", "/_mock/reset", {"POST"}),
    ("POST", "/_mock/accounts/sk-abcdefghijk", {"GET", "PUT", "DELETE"}),
])
def test_wrong_method_is_405_with_an_allow_header(api: Api, method: str, path: str, allowed: set[str]) -> None:
    response = api.http.request(method, path)
    assert error_code(response, 405)
    assert allowed <= {m.strip() for m in response.headers.get("allow", "").split(",")}, response.headers


@pytest.mark.parametrize(("content", "content_type"), [
    (b'{"model": "kling-o3-text-to-video", "prompt": ', "application/json"),
    (b"", "application/json"),
    (b"   ", "application/json"),
    (b'{"model": "kling-o3-text-to-video", "prompt": "p"}', "text/plain"),
    (b"model=kling-o3-text-to-video&prompt=p", "application/x-www-form-urlencoded"),
    (b'{"model": "kling-o3-text-to-video", "prompt": "p"}', None),
], ids=["bad json", "empty", "blank", "text/plain", "form", "no content-type"])
def test_unreadable_body_is_400_invalid_request(api: Api, content: bytes, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.http.post("/v1/videos/generations", content=content, headers=headers)
    assert_error(response, 400, "invalid_request", "invalid_request_error")
    account = api.account()
    assert account["reserved"] == 0 and account["balance"] == account["granted"]


def test_json_content_type_with_charset_is_accepted(api: Api) -> None:
    response = api.http.post("/v1/videos/generations", content=b'{"model": "kling-o3-text-to-video", "prompt": "p"}',
                             headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 200, response.text


def _chunks(data: bytes) -> Iterator[bytes]:
    for i in range(0, len(data), 500):
        yield data[i:i + 500]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_body_over_max_body_bytes_is_413(small_bodies: LiveServer, framing: str) -> None:
    api = Api(small_bodies)
    try:
        big = ('{"model": "kling-o3-text-to-video", "prompt": "' + "x" * 2100 + '"}').encode()
        content: Any = big if framing == "content-length" else _chunks(big)
        response = api.http.post("/v1/videos/generations", content=content,
                                 headers={"Content-Type": "application/json"})
        assert error_code(response, 413)
        assert api.http.get("/_mock/tasks", params={"key": api.key}).json()["total"] == 0
        assert api.created({"model": T2V, "prompt": "x" * 1800})["status"] == "pending"  # under the limit
    finally:
        api.http.close()


# -- admin API ----------------------------------------------------------------------------

def test_health_is_ok(anonymous: httpx.Client) -> None:
    response = anonymous.get("/_mock/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_clock_reports_now_and_speed(api: Api) -> None:
    body = api.http.get("/_mock/clock").json()
    assert set(body) >= {"now", "speed"}
    assert body["speed"] == 0  # the session server runs a manual clock
    assert abs(body["now"] - api.http.get("/_mock/health").json()["now"]) < 1e-6  # a manual clock stands still


@pytest.mark.parametrize("seconds", [300, 0.5, 0, 86400])
def test_advance_moves_now_by_exactly_the_seconds(own: LiveServer, seconds: float) -> None:
    with plain_client(own) as http:
        before = clock_now(http)
        response = http.post("/_mock/clock/advance", json={"seconds": seconds})
        assert response.status_code == 200, response.text
        assert response.json()["now"] - before == seconds
        assert response.json()["speed"] == 0
        assert clock_now(http) == response.json()["now"]


@pytest.mark.parametrize("body", [
    {"seconds": -1}, {"seconds": "10"}, {"seconds": True}, {"seconds": None}, {"seconds": 10, "extra": 1},
    {}, [10],
], ids=["negative", "string", "boolean", "null", "unknown field", "missing", "array"])
def test_bad_advance_is_400_and_leaves_the_clock(api: Api, body: Any) -> None:
    before = clock_now(api.http)
    response = api.http.post("/_mock/clock/advance", json=body)
    assert_error(response, 400, "invalid_request", "invalid_request_error")
    assert clock_now(api.http) == before


def test_reset_forgets_tasks_and_accounts_but_keeps_the_time(own: LiveServer) -> None:
    api = Api(own)
    try:
        task_id = api.created(T2V_BODY)["id"]
        api.account()
        before = api.advance(10)
        response = api.http.post("/_mock/reset")
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "ok"
        assert error_code(api.http.get(f"/_mock/accounts/{api.key}"), 404)
        assert error_code(api.http.get(f"/_mock/tasks/{task_id}"), 404)
        assert api.http.get("/_mock/tasks").json()["total"] == 0
        assert clock_now(api.http) >= before
        assert_error(api.http.get(f"/v1/tasks/{task_id}"), 404, "task_not_found", "invalid_request_error")
        assert api.account()["granted"] == 10000  # the key is provisioned afresh
    finally:
        api.http.close()


def test_tasks_lists_and_filters_by_key(api: Api) -> None:
    other = Api(api.server)
    try:
        mine = [api.created(T2V_BODY)["id"] for _ in range(2)]
        theirs = other.created(T2V_BODY)["id"]
        listed = api.http.get("/_mock/tasks", params={"key": api.key}).json()
        assert listed["total"] == 2
        assert [t["task"]["id"] for t in listed["tasks"]] == mine  # creation order
        assert {t["key"] for t in listed["tasks"]} == {redact(api.key)}  # keys show as a prefix only
        assert all({"timeline", "outcome", "billing"} <= set(t) for t in listed["tasks"])
        assert [t["task"]["id"] for t in api.http.get("/_mock/tasks", params={"key": other.key}).json()["tasks"]] \
            == [theirs]
        everything = api.http.get("/_mock/tasks", params={"limit": 10000}).json()
        assert {*mine, theirs} <= {t["task"]["id"] for t in everything["tasks"]}
        last = api.http.get("/_mock/tasks", params={"key": api.key, "limit": 1}).json()
        assert last["total"] == 2 and [t["task"]["id"] for t in last["tasks"]] == mine[-1:]
    finally:
        other.http.close()


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "10001", "1.5"])
def test_tasks_bad_limit_is_400(api: Api, limit: str) -> None:
    assert_error(api.http.get("/_mock/tasks", params={"limit": limit}), 400, "invalid_request",
                 "invalid_request_error", "limit")


def test_admin_task_of_an_unknown_id_is_404(api: Api) -> None:
    assert error_code(api.http.get(f"/_mock/tasks/{UNKNOWN_ID}"), 404)


def test_admin_openapi_is_yaml_3_1(api: Api) -> None:
    response = api.http.get("/_mock/openapi.yaml")
    assert response.status_code == 200
    assert "yaml" in response.headers["content-type"]
    document = yaml.safe_load(response.text)
    assert document["openapi"] == "3.1.0"
    key = document["components"]["schemas"]["ApiKey"]
    assert (key["pattern"], key["maxLength"]) == (f"^{KEY_PATTERN.pattern}$", MAX_KEY_LENGTH)
    assert {"/_mock/health", "/_mock/reset", "/_mock/clock", "/_mock/clock/advance", "/_mock/accounts/{key}",
            "/_mock/tasks", "/_mock/tasks/{task_id}", "/_mock/tasks/{task_id}/cancel"} <= set(document["paths"])


# -- admin token --------------------------------------------------------------------------

def admin_operations() -> list[Any]:
    """Every (method, path) of the app under /_mock/ except health, path parameters filled in."""
    filler = {"key": "sk-never-seen-key-1", "task_id": UNKNOWN_ID}
    operations = []
    for route in create_app(Settings(speed=0)).routes:
        if not isinstance(route, Route) or not route.path.startswith("/_mock/") or route.path == "/_mock/health":
            continue
        path = re.sub(r"\{(\w+)(:\w+)?\}", lambda m: filler.get(m[1], "x"), route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            operations.append(pytest.param(method, path, id=f"{method} {route.path}"))
    return operations


@pytest.mark.parametrize("token", [None, "", "wrong", "S3CRET", "s3cret2"],
                         ids=["none", "empty", "wrong", "case", "longer"])
@pytest.mark.parametrize(("method", "path"), admin_operations())
def test_admin_routes_need_the_admin_token(guarded: LiveServer, method: str, path: str, token: str | None) -> None:
    headers = {"X-Mock-Admin-Token": token} if token is not None else {}
    with plain_client(guarded) as http:
        response = http.request(method, path, json={}, headers=headers)
    assert error_code(response, 401) == "admin_token_required"


WITH_TOKEN = [
    ("GET", "/_mock/clock", None, 200),
    ("POST", "/_mock/clock/advance", {"seconds": 1}, 200),
    ("GET", "/_mock/accounts/sk-never-seen-key-2", None, 404),
    ("PUT", "/_mock/accounts/sk-put-by-admin-1", {"granted": 5}, 200),
    ("DELETE", "/_mock/accounts/sk-never-seen-key-3", None, 404),
    ("GET", "/_mock/tasks", None, 200),
    ("GET", f"/_mock/tasks/{UNKNOWN_ID}", None, 404),
    ("POST", f"/_mock/tasks/{UNKNOWN_ID}/cancel", None, 404),
    ("GET", "/_mock/openapi.yaml", None, 200),
    ("POST", "/_mock/reset", None, 200),
]


@pytest.mark.parametrize(("method", "path", "body", "status"), WITH_TOKEN, ids=[f"{m} {p}" for m, p, *_ in WITH_TOKEN])
def test_admin_routes_work_with_the_right_token(guarded: LiveServer, method: str, path: str, body: Any,
                                                status: int) -> None:
    with plain_client(guarded, **{"X-Mock-Admin-Token": ADMIN_TOKEN}) as http:
        response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    if status >= 400:
        assert error_code(response, status) != "admin_token_required"


def test_health_and_public_api_ignore_the_admin_token(guarded: LiveServer) -> None:
    api = Api(guarded)
    try:
        assert api.http.get("/_mock/health").json()["status"] == "ok"
        task_id = api.created(T2V_BODY)["id"]
        assert api.task(task_id)["status"] == "pending"
        assert api.http.get("/v1/credits").json()["data"]["token"]["remaining_credits"] == 10000 - 27
        assert_unauthorized(api.http.get("/v1/credits", headers={"Authorization": "Bearer abc",
                                                                  "X-Mock-Admin-Token": ADMIN_TOKEN}))
    finally:
        api.http.close()
