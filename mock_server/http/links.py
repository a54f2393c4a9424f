"""The base of every absolute link the emulator builds (result files today, any link tomorrow).

One rule, in :func:`link_base`: ``EVOLINK_MOCK_PUBLIC_URL`` when set; otherwise the
origin the client reached, which :func:`base_url` reads from the request: the
``X-Forwarded-Proto`` and ``X-Forwarded-Host`` headers when the peer is a trusted
proxy (``EVOLINK_MOCK_TRUSTED_PROXIES``, loopback by default, as uvicorn's
``forwarded-allow-ips``), else the ``Host`` header and the connection's scheme.
Links are ``link_base(...) + path`` (``core.views.result_url``).
"""
from __future__ import annotations

import functools
import ipaddress
import re

from starlette.types import Scope

from ..config import Settings, proxy_networks
from .requests import headers_of

_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
_SCHEMES = ("http", "https")
_ORIGINS: dict[tuple[str, str], str] = {}


def link_base(settings: Settings, request_origin: str) -> str:
    """The base links start with: the public URL when configured, else the origin the request came through."""
    return settings.public_url or request_origin


@functools.lru_cache(maxsize=256)
def trusted(peer: str, trusted_proxies: str) -> bool:
    """Whether the connection's peer address is one of ``trusted_proxies`` (``*``: any)."""
    networks = proxy_networks(trusted_proxies)
    if networks is None:
        return True
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in network for network in networks)


def _first(value: str | None) -> str:
    """The first (client-facing) entry of a forwarded header that proxies append to."""
    return value.split(",", 1)[0].strip() if value else ""


def base_url(scope: Scope, headers: dict[str, str] | None = None) -> str:
    """``scheme://host[:port]`` every link of this request starts with (see the module docstring);
    ``headers``: :func:`~.requests.headers_of` the scope, when the caller has them already."""
    settings: Settings = scope["app"].state.emulator.settings
    return link_base(settings, _request_origin(scope, headers or headers_of(scope), settings.trusted_proxies))


def _request_origin(scope: Scope, headers: dict[str, str], trusted_proxies: str) -> str:
    """The origin the client reached: forwarded by a trusted proxy, else the Host header (else the socket)."""
    scheme, host = scope.get("scheme", "http"), headers.get("host", "")
    if "x-forwarded-host" in headers or "x-forwarded-proto" in headers:
        client = scope.get("client")
        if client and trusted(client[0], trusted_proxies):
            proto, forwarded = _first(headers.get("x-forwarded-proto")).lower(), _first(headers.get("x-forwarded-host"))
            scheme = proto if proto in _SCHEMES else scheme
            host = forwarded if forwarded and _HOST.fullmatch(forwarded) else host
    key = (scheme, host)
    origin = _ORIGINS.get(key)
    if origin is None:
        if not _HOST.fullmatch(host):
            address, port = scope.get("server") or ("127.0.0.1", 80)
            address = f"[{address}]" if ":" in str(address) else str(address)
            host = f"{address}:{port}" if port else address
        origin = f"{scheme}://{host}"
        if len(_ORIGINS) < 1024:  # bounded: hosts are few, hostile clients are not
            _ORIGINS[key] = origin
    return origin
