"""URL fields accept exactly the absolute URLs RFC 3986 allows (issue 15, failure 3).

One table of URLs, each checked against all three judges: openapi.yaml's pattern
(as the emulator's validator reads it), the emulator (a live server), and the kit's
request checks (``check_request``). They must agree on every URL, for
``callback_url`` and every media URL field of every model (the fields come from the
contract: every property whose schema is the URL pattern). The hosts are public, so
the callback guard (test_hosts.py) has nothing to refuse: it must not refuse a valid
URL either.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
import pytest
from conftest import T2V, Api

from contracts.conformance import check_request
from contracts.factories import RequestFactory
from mock_server.contract import api_contract

CREATE = "https://api.evolink.ai/v1/videos/generations"
HEADERS = {"Authorization": "Bearer sk-url-table-check", "Content-Type": "application/json"}

#: (URL, valid?): what RFC 3986 (with RFC 3987's international characters) allows of an absolute http(s) URL.
URLS: list[tuple[str, bool]] = [
    ("https://hooks.example.com?token=abc", True),  # the issue's input: an empty path before the query
    ("https://hooks.example.com#done", True),  # ... and before a fragment
    ("https://hooks.example.com", True),
    ("https://hooks.example.com/", True),
    ("https://hooks.example.com:8443/evolink", True),
    ("https://hooks.example.com:/evolink", True),  # an empty port is allowed
    ("https://hooks.example.com:65535/", True),
    ("https://[2606:4700:4700::1111]/hook", True),  # IPv6 literals
    ("https://[2606:4700:4700::1111]:8443/hook", True),
    ("https://[2606:4700:4700:0:0:0:0:1111]/", True),
    ("https://8.8.8.8/hook", True),
    ("https://bücher.example/hook", True),  # internationalised hosts
    ("https://例え.テスト/フック?名前=値#節", True),
    ("https://xn--bcher-kva.example/hook", True),
    ("https://emoji.example/🎬", True),
    ("https://bob:s3cret@hooks.example.com/h", True),  # user info (sent as Basic auth)
    ("https://token@hooks.example.com/h", True),
    ("https://hooks.example.com/a%20b/c?q=%2F&x=1;y=2", True),
    ("https://hooks.example.com/p;params/a:b@c!$&'()*+,=~._-", True),
    ("https://hooks.example.com/?a=b/c?d#e/f?g", True),
    ("https://ex%41mple.com/x", True),  # percent-encoding in the host
    ("HTTPS://HOOKS.EXAMPLE.COM/HOOK", True),  # the scheme is case-insensitive
    ("http://hooks.example.com/hook", True),  # http: a callback refuses it by rule, not by syntax (below)
    ("https://hooks.example.com/" + "a" * (2048 - 26), True),  # 2048 characters
    ("https://hooks.example.com/" + "a" * (2049 - 26), False),
    ("https://hooks.example.com/a b", False),  # a space
    ("https://exa mple.com/", False),
    ("https://hooks.example.com/x\n", False),
    ("https://hooks.example.com/a\tb", False),
    ("https://hooks.example.com/%zz", False),  # a broken percent-encoding
    ("https://hooks.example.com/%4", False),
    ("https://hooks.example.com/a<b>", False),
    ("https://hooks.example.com/a\\b", False),
    ("https://hooks.example.com/{x}", False),
    ("https://hooks.example.com/a|b", False),
    ("https://hooks.example.com/`x`", False),
    ('https://hooks.example.com/"x"', False),
    ("https://hooks.example.com/\u0085", False),  # a C1 control
    ("https://hooks.example.com/\ue000", False),  # private use, allowed only in the query
    ("https://hooks.example.com/?\ue000", True),
    ("https://hooks.example.com/\ufdd0", False),  # a noncharacter
    ("https://hooks.example.com:99999/", False),  # beyond the port range
    ("https://hooks.example.com:8x/", False),
    ("https://hooks.example.com:-1/", False),
    ("https:///hook", False),  # no host
    ("https://:8443/hook", False),
    ("https://@hooks.example.com/hook", True),  # empty user info is allowed
    ("https://a@b@hooks.example.com/", False),  # "@" is not allowed in user info
    ("https://[2606:4700::1111/", False),  # an unclosed IPv6 literal
    ("https://[1:2:3:4:5:6:7:8:9]/", False),
    ("https://[2606:4700::1111::1]/", False),
    ("https://[v1.fe]/", False),  # IPvFuture: no client connects to it (README)
    ("https://[fe80::1%25eth0]/", False),  # a zone id (RFC 6874, not RFC 3986)
    ("https://2606:4700::1111/", False),  # an IPv6 address needs its brackets
    ("ftp://hooks.example.com/hook", False),
    ("ws://hooks.example.com/hook", False),
    ("https:/hooks.example.com/hook", False),
    ("//hooks.example.com/hook", False),
    ("hooks.example.com/hook", False),
    ("/hook", False),
    ("", False),
]


def url_fields() -> Iterator[tuple[str, str, bool]]:
    """``(model, field, is a list)`` for every property of every model whose schema is the URL pattern."""
    pattern = api_contract().schemas["MediaUrl"]["pattern"]
    for model, body in api_contract().models.items():
        for name, prop in body.schema["properties"].items():
            if not isinstance(prop, dict):  # ``false``: a field the model refuses
                continue
            if prop.get("pattern") == pattern:
                yield model, name, False
            elif prop.get("items", {}).get("pattern") == pattern:
                yield model, name, True


FIELDS = list(url_fields())


def _first_model_with(name: str) -> tuple[str, bool]:
    return next((model, listed) for model, field, listed in FIELDS if field == name)


def _body(name: str, url: str) -> dict[str, Any]:
    model, listed = _first_model_with(name)
    return {**RequestFactory(seed=3).body(model), name: [url] if listed else url}


def test_every_url_field_uses_the_one_pattern() -> None:
    names = {name for _, name, _ in FIELDS}
    assert {"callback_url", "image_start", "image_end", "image_urls", "video_url", "video_urls", "video"} <= names
    contract = api_contract().schemas
    assert contract["CallbackUrl"]["pattern"] == contract["MediaUrl"]["pattern"]
    assert contract["CallbackUrl"]["maxLength"] == contract["MediaUrl"]["maxLength"] == 2048


@pytest.fixture
def poor(api: Api) -> Api:
    """No credits: a body accepted up to billing answers 402, nothing is created."""
    api.grant(0)
    return api


@pytest.mark.parametrize(("url", "valid"), URLS, ids=[repr(url)[:70] for url, _ in URLS])
def test_the_pattern_the_emulator_and_the_kit_agree(poor: Api, url: str, valid: bool) -> None:
    media = api_contract().schemas["MediaUrl"]
    pattern = jsonschema_rs.validator_for({"type": "string", "pattern": media["pattern"],
                                           "maxLength": media["maxLength"]})
    assert pattern.is_valid(url) is valid, "openapi.yaml's pattern"
    for name in sorted({field for _, field, _ in FIELDS}):
        body = _body(name, url)
        https_only = name == "callback_url" and url.lower().startswith("http:")
        response = poor.create(body)
        report = check_request("POST", CREATE, HEADERS, body)
        if valid and not https_only:
            assert response.status_code == 402, (name, response.text)
            assert report.ok, (name, str(report))
        else:
            assert response.status_code == 400, (name, response.text)
            assert name in response.json()["error"]["message"], (name, response.text)
            assert not report.ok and any(name in f"{p.field} {p.message}" for p in report.problems), str(report)


def test_issue_input_a_callback_url_with_a_query_and_no_path(api: Api) -> None:
    """Issue 15, failure 3: ``https://hooks.example.com?token=abc`` got 400 "must be an absolute URL"."""
    body = {"model": T2V, "prompt": "a lighthouse", "callback_url": "https://hooks.example.com?token=abc"}
    created = api.created(body)
    assert created["status"] == "pending"
    assert api.admin_task(created["id"])["params"]["callback_url"] == "https://hooks.example.com?token=abc"
