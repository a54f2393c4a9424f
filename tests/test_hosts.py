"""The callback-host guard, by table (issue 15, failure 4): every special-purpose range and every
IPv6 form that embeds an IPv4 address, classified as IANA's registries say.

The table is written from the registries (https://www.iana.org/assignments/iana-ipv4-special-registry/,
https://www.iana.org/assignments/iana-ipv6-special-registry/), not from the code's data: an address
is allowed only where the registry says "Globally Reachable: True", or outside every special block
(for IPv6: inside 2000::/3). Each row goes through ``internal_host`` (the one function) and a sample
of them through the API, as ``callback_url``.
"""
from __future__ import annotations

import pytest
from conftest import T2V, Api, assert_error

from contracts.server import LiveServer
from mock_server import Settings
from mock_server.core.hosts import internal_host

#: (host, internal?, a fragment of the reason) -- the registry entry that decides.
HOSTS: list[tuple[str, bool, str]] = [
    # IPv4 special-purpose registry, each block's first and last address where they differ
    ("0.0.0.0", True, "This host on this network"),
    ("0.255.255.255", True, "This network"),
    ("10.0.0.0", True, "Private-Use"), ("10.255.255.255", True, "Private-Use"),
    ("100.64.0.0", True, "Shared Address Space"), ("100.127.255.255", True, "Shared Address Space"),
    ("127.0.0.1", True, "Loopback"), ("127.255.255.254", True, "Loopback"),
    ("169.254.169.254", True, "Link Local"),
    ("172.16.0.1", True, "Private-Use"), ("172.31.255.255", True, "Private-Use"),
    ("192.0.0.0", True, "IPv4 Service Continuity Prefix"), ("192.0.0.8", True, "IPv4 dummy address"),
    ("192.0.0.9", False, ""), ("192.0.0.10", False, ""),  # PCP and TURN anycast: globally reachable
    ("192.0.0.170", True, "NAT64/DNS64 Discovery"), ("192.0.0.171", True, "NAT64/DNS64 Discovery"),
    ("192.0.0.255", True, "IETF Protocol Assignments"),
    ("192.0.2.1", True, "TEST-NET-1"),
    ("192.31.196.1", False, ""),  # AS112-v4
    ("192.52.193.1", False, ""),  # AMT
    ("192.88.99.1", True, "6to4 Relay Anycast"), ("192.88.99.2", True, "6a44"),
    ("192.168.0.1", True, "Private-Use"),
    ("192.175.48.1", False, ""),  # Direct Delegation AS112 Service
    ("198.18.0.1", True, "Benchmarking"), ("198.19.255.255", True, "Benchmarking"),
    ("198.51.100.7", True, "TEST-NET-2"), ("203.0.113.7", True, "TEST-NET-3"),
    ("240.0.0.1", True, "Reserved"), ("255.255.255.255", True, "Limited Broadcast"),
    ("224.0.0.1", True, "Multicast"), ("239.255.255.250", True, "Multicast"),
    # global IPv4 addresses, including the edges of the blocks above
    ("8.8.8.8", False, ""), ("1.1.1.1", False, ""), ("9.255.255.255", False, ""), ("11.0.0.0", False, ""),
    ("100.63.255.255", False, ""), ("100.128.0.0", False, ""), ("172.15.255.255", False, ""),
    ("172.32.0.0", False, ""), ("192.167.255.255", False, ""), ("223.255.255.255", False, ""),
    # the resolver's legacy IPv4 spellings
    ("2130706433", True, "127.0.0.1, Loopback"), ("0x7f000001", True, "127.0.0.1"), ("127.1", True, "127.0.0.1"),
    ("0177.0.0.1", True, "127.0.0.1"), ("0251.0376.0251.0376", True, "169.254.169.254"), ("10.1", True, "10.0.0.1"),
    ("%31%32%37.0.0.1", True, "127.0.0.1"),  # percent-encoded
    ("１２７.０.０.１", True, "127.0.0.1"), ("１２７。０。０。１", True, "127.0.0.1"),  # noqa: RUF001 - fullwidth
    # IPv6 special-purpose registry
    ("::1", True, "Loopback"), ("::", True, "Unspecified"),
    ("100::1", True, "Discard-Only"), ("100:0:0:1::1", True, "Dummy IPv6 Prefix"),
    ("2001:2::1", True, "Benchmarking"), ("2001:10::1", True, "ORCHID"), ("2001:db8::1", True, "Documentation"),
    ("2001:1::1", False, ""), ("2001:1::2", False, ""), ("2001:1::3", False, ""),  # anycast: globally reachable
    ("2001:1::4", True, "IETF Protocol Assignments"),
    ("2001:3::1", False, ""), ("2001:4:112::1", False, ""), ("2001:20::1", False, ""), ("2001:30::1", False, ""),
    ("2620:4f:8000::1", False, ""),  # Direct Delegation AS112 Service
    ("3fff::1", True, "Documentation"), ("5f00::1", True, "Segment Routing"),
    ("fc00::1", True, "Unique-Local"), ("fdff:ffff::1", True, "Unique-Local"),
    ("fe80::1", True, "Link-Local"), ("febf::1", True, "Link-Local"), ("fe80::1%25eth0", True, "Link-Local"),
    ("ff02::1", True, "Multicast"),
    ("4000::1", True, "outside 2000::/3"), ("e000::1", True, "outside 2000::/3"),
    ("2606:4700:4700::1111", False, ""), ("2001:4860:4860::8888", False, ""), ("3ffe:ffff::1", False, ""),
    # IPv6 forms that embed an IPv4 address
    ("64:ff9b::7f00:1", True, "embedding 127.0.0.1, Loopback"),  # the issue's input: NAT64 of 127.0.0.1
    ("64:ff9b::a9fe:a9fe", True, "embedding 169.254.169.254"),
    ("64:ff9b::808:808", False, ""),  # NAT64 of a global address: globally reachable
    ("64:ff9b:1::a00:1", True, "local use"),
    ("::ffff:127.0.0.1", True, "embedding 127.0.0.1"), ("::ffff:7f00:1", True, "embedding 127.0.0.1"),
    ("::ffff:8.8.8.8", True, "IPv4-mapped"),  # not globally reachable itself
    ("::127.0.0.1", True, "embedding 127.0.0.1"),  # IPv4-compatible (deprecated)
    ("2002:7f00:1::1", True, "6to4 embedding 127.0.0.1"), ("2002:a00:1::1", True, "embedding 10.0.0.1"),
    ("2002:808:808::1", True, "6to4"),  # 6to4 is not globally reachable (N/A)
    ("2001:0:7f00:1::1", True, "TEREDO embedding 127.0.0.1"),  # Teredo server 127.0.0.1
    ("2001:0:808:808:0:0:80ff:fffe", True, "embedding 127.0.0.1"),  # Teredo client 127.0.0.1 (obfuscated)
    # names
    ("localhost", True, "resolves locally"), ("LOCALHOST.", True, "resolves locally"),
    ("api.localhost", True, "resolves locally"), ("printer.local", True, "resolves locally"),
    ("db.internal", True, "resolves locally"), ("router.home.arpa", True, "resolves locally"),
    ("ＬＯＣＡＬＨＯＳＴ", True, "resolves locally"), ("lo\u00adcalhost", True, "resolves locally"),  # noqa: RUF001
    ("hooks.example.com", False, ""), ("localhost.example.com", False, ""), ("notlocalhost", False, ""),
    ("xn--bcher-kva.example", False, ""),
]


@pytest.mark.parametrize(("host", "internal", "reason"), HOSTS, ids=[row[0] for row in HOSTS])
def test_internal_host_classifies_as_the_registries_say(host: str, internal: bool, reason: str) -> None:
    found = internal_host(host)
    if internal:
        assert found is not None and reason in found, found
    else:
        assert found is None, found


def test_issue_input_nat64_of_loopback_is_refused(api: Api) -> None:
    """Issue 15, failure 4: ``https://[64:ff9b::7f00:1]/hook`` (NAT64 of 127.0.0.1) passed the guard."""
    response = api.create({"model": T2V, "prompt": "p", "callback_url": "https://[64:ff9b::7f00:1]/hook"})
    assert_error(response, 400, "invalid_request", "invalid_request_error", "callback_url",
                 "internal host (64:ff9b::7f00:1)", "127.0.0.1", "EVOLINK_MOCK_ALLOW_LOCAL_CALLBACKS")
    assert response.headers["X-Mock-Rule"] == "callback_url"


def _as_url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


SAMPLE = [row for row in HOSTS if "%" not in row[0]][::4]


@pytest.mark.parametrize(("host", "internal", "reason"), SAMPLE, ids=[row[0] for row in SAMPLE])
def test_the_api_refuses_exactly_the_internal_hosts(api: Api, host: str, internal: bool, reason: str) -> None:
    api.grant(0)  # accepted up to billing: 402, nothing created
    response = api.create({"model": T2V, "prompt": "p", "callback_url": f"https://{_as_url_host(host)}/hook"})
    if internal:
        assert_error(response, 400, "invalid_request", "invalid_request_error", "internal host", reason)
    else:
        assert response.status_code == 402, response.text


UNREADABLE = ["https://ex\U0001f60dample.com/hook", "https://xn--zz.com/hook"]  # no valid IDNA name


@pytest.mark.parametrize("url", UNREADABLE)
def test_a_host_no_client_can_send_to_is_refused(api: Api, url: str) -> None:
    """The schema's pattern takes these; httpx, which delivers callbacks, cannot read their hosts."""
    response = api.create({"model": T2V, "prompt": "p", "callback_url": url})
    assert_error(response, 400, "invalid_request", "invalid_request_error", "callback_url", "host no HTTP client")
    assert response.headers["X-Mock-Rule"] == "callback_url"
    assert api.account()["reserved"] == 0


@pytest.mark.parametrize("url", UNREADABLE)
def test_local_callbacks_allowed_still_refuse_an_unreadable_host(url: str) -> None:
    with LiveServer(Settings(speed=0, allow_local_callbacks=True)) as server:
        client = Api(server)
        response = client.create({"model": T2V, "prompt": "p", "callback_url": url})
        assert_error(response, 400, "invalid_request", "invalid_request_error", "IDNA" if "\U0001f60d" in url
                     else "A-label")
        accepted = client.create({"model": T2V, "prompt": "p", "callback_url": "http://127.0.0.1:9/hook"})
        assert accepted.status_code == 200, accepted.text
        client.http.close()
