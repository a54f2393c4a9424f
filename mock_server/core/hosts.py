"""Which callback hosts are internal: names and IP literals, classified as IANA's registries say.

An IP literal is internal unless it is globally reachable: the most specific
block of the IANA special-purpose address registry that holds it decides
("Globally Reachable: True" is the only way through; False and N/A are
internal); outside every block an IPv4 address is global, an IPv6 address
only in 2000::/3, the global unicast space of the IPv6 address space
registry. Multicast is never a callback target. An IPv6 address that embeds
an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo) is also
internal when the embedded address is: ``64:ff9b::7f00:1`` is NAT64's
127.0.0.1. Names: ``localhost`` and the special-use suffixes a resolver
keeps local. No DNS is resolved (the emulator works offline).

A host is judged in every form a client could connect to: as written, after
percent-decoding and after the UTS 46 mapping browsers and WHATWG parsers
apply (fullwidth digits and ideographic full stops spell 127.0.0.1 too), and in the resolver's
legacy IPv4 spellings (``0177.0.0.1``, ``2130706433``).

Registries: https://www.iana.org/assignments/iana-ipv4-special-registry/,
https://www.iana.org/assignments/iana-ipv6-special-registry/,
https://www.iana.org/assignments/ipv6-address-space/,
https://www.iana.org/assignments/special-use-domain-names/
"""
from __future__ import annotations

import contextlib
import functools
import ipaddress
import socket
from urllib.parse import unquote

import httpx
import idna
import rfc3986

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: ``(block, name, globally reachable)`` of the IANA special-purpose address registries, plus multicast.
SPECIAL_PURPOSE: tuple[tuple[str, str, bool], ...] = (
    ("0.0.0.0/8", '"This network"', False),
    ("0.0.0.0/32", '"This host on this network"', False),
    ("10.0.0.0/8", "Private-Use", False),
    ("100.64.0.0/10", "Shared Address Space", False),
    ("127.0.0.0/8", "Loopback", False),
    ("169.254.0.0/16", "Link Local", False),
    ("172.16.0.0/12", "Private-Use", False),
    ("192.0.0.0/24", "IETF Protocol Assignments", False),
    ("192.0.0.0/29", "IPv4 Service Continuity Prefix", False),
    ("192.0.0.8/32", "IPv4 dummy address", False),
    ("192.0.0.9/32", "Port Control Protocol Anycast", True),
    ("192.0.0.10/32", "Traversal Using Relays around NAT Anycast", True),
    ("192.0.0.170/32", "NAT64/DNS64 Discovery", False),
    ("192.0.0.171/32", "NAT64/DNS64 Discovery", False),
    ("192.0.2.0/24", "Documentation (TEST-NET-1)", False),
    ("192.31.196.0/24", "AS112-v4", True),
    ("192.52.193.0/24", "AMT", True),
    ("192.88.99.0/24", "Deprecated (6to4 Relay Anycast)", False),
    ("192.88.99.2/32", "6a44-relay anycast address", False),
    ("192.168.0.0/16", "Private-Use", False),
    ("192.175.48.0/24", "Direct Delegation AS112 Service", True),
    ("198.18.0.0/15", "Benchmarking", False),
    ("198.51.100.0/24", "Documentation (TEST-NET-2)", False),
    ("203.0.113.0/24", "Documentation (TEST-NET-3)", False),
    ("240.0.0.0/4", "Reserved", False),
    ("255.255.255.255/32", "Limited Broadcast", False),
    ("224.0.0.0/4", "Multicast", False),
    ("::1/128", "Loopback Address", False),
    ("::/128", "Unspecified Address", False),
    ("::ffff:0:0/96", "IPv4-mapped Address", False),
    ("64:ff9b::/96", "IPv4-IPv6 Translat.", True),
    ("64:ff9b:1::/48", "IPv4-IPv6 Translat. (local use)", False),
    ("100::/64", "Discard-Only Address Block", False),
    ("100:0:0:1::/64", "Dummy IPv6 Prefix", False),
    ("2001::/23", "IETF Protocol Assignments", False),
    ("2001::/32", "TEREDO", False),
    ("2001:1::1/128", "Port Control Protocol Anycast", True),
    ("2001:1::2/128", "Traversal Using Relays around NAT Anycast", True),
    ("2001:1::3/128", "DNS-SD Service Registration Protocol Anycast", True),
    ("2001:2::/48", "Benchmarking", False),
    ("2001:3::/32", "AMT", True),
    ("2001:4:112::/48", "AS112-v6", True),
    ("2001:10::/28", "Deprecated (previously ORCHID)", False),
    ("2001:20::/28", "ORCHIDv2", True),
    ("2001:30::/28", "Drone Remote ID Protocol Entity Tags (DETs) Prefix", True),
    ("2001:db8::/32", "Documentation", False),
    ("2002::/16", "6to4", False),
    ("2620:4f:8000::/48", "Direct Delegation AS112 Service", True),
    ("3fff::/20", "Documentation", False),
    ("5f00::/16", "Segment Routing (SRv6) SIDs", False),
    ("fc00::/7", "Unique-Local", False),
    ("fe80::/10", "Link-Local Unicast", False),
    ("ff00::/8", "Multicast", False),
)
_BLOCKS: tuple[tuple[Network, str, bool], ...] = tuple(sorted(
    ((ipaddress.ip_network(block), name, reachable) for block, name, reachable in SPECIAL_PURPOSE),
    key=lambda entry: entry[0].prefixlen, reverse=True))  # the most specific block first
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
LOCAL_NAMES = ("localhost",)
LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa")


def url_hosts(url: str) -> tuple[str, ...]:
    """The host of an absolute URL as written (RFC 3986/3987, brackets removed) and as httpx, which
    delivers callbacks, reads it (IDNA-encoded; left out when httpx cannot read the URL)."""
    hosts = []
    written = rfc3986.iri_reference(url).host
    if isinstance(written, str) and written:
        hosts.append(written[1:-1] if written.startswith("[") else written)
    with contextlib.suppress(httpx.InvalidURL, UnicodeDecodeError):
        hosts.append(httpx.URL(url).raw_host.decode("ascii"))
    return tuple(dict.fromkeys(hosts))


def unreadable_host(url: str) -> str | None:
    """Why httpx, which delivers callbacks, cannot read the host of the absolute URL ``url``
    (``"Invalid IDNA hostname: 'ex😍ample.com'"``, ``"Invalid A-label"``), or None when it can."""
    try:
        host = httpx.URL(url).host  # reading the host decodes its IDNA labels
    except (httpx.InvalidURL, UnicodeError) as exc:  # idna.IDNAError is a UnicodeError
        return str(exc) or type(exc).__name__
    return None if host else "no host"


def _forms(host: str) -> tuple[str, ...]:
    """``host`` as written, percent-decoded and UTS 46-mapped, lower-case, without a final dot."""
    decoded = unquote(host)
    try:
        mapped = idna.uts46_remap(decoded, std3_rules=False, transitional=False)
    except idna.IDNAError:
        mapped = decoded
    return tuple(dict.fromkeys(form.lower().rstrip(".") for form in (host, decoded, mapped)))


def _reachability(address: IPAddress) -> tuple[bool, str]:
    """``(globally reachable, the registry entry that says so)`` of one address."""
    for network, name, reachable in _BLOCKS:
        if address.version == network.version and address in network:
            return reachable, name
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return False, "Reserved by IETF (outside 2000::/3, the global unicast space)"
    return True, "global"


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries: IPv4-mapped, IPv4-compatible, NAT64 (RFC 6052),
    6to4 (its relay's address) or Teredo (its server's; the client's is checked too by the caller)."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[0]
    if any(address in prefix for prefix in _NAT64) or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def _literal(host: str) -> IPAddress | None:
    """``host`` as an IP address, including the resolver's legacy IPv4 spellings
    (``127.1``, ``0x7f000001``, ``0177.0.0.1``, ``2130706433``); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _address_reason(address: IPAddress) -> str | None:
    """Why ``address`` is internal (its registry entry, and the IPv4 address it embeds), or None."""
    reachable, name = _reachability(address)
    inner: list[ipaddress.IPv4Address | None] = []
    if isinstance(address, ipaddress.IPv6Address):
        inner = [embedded_ipv4(address), address.teredo[1] if address.teredo is not None else None]
    for embedded in filter(None, inner):
        reason = _address_reason(embedded)
        if reason is not None:
            return f"{name} embedding {embedded}, {reason}"
    if not reachable:
        return f"{name} embedding {inner[0]}" if inner and inner[0] is not None else name
    return None


@functools.lru_cache(maxsize=1024)
def internal_host(host: str) -> str | None:
    """Why ``host`` (a name or an IP literal, without brackets) is internal, or None when it is not.

    The reason names the registry entry, e.g. ``"Loopback"`` or
    ``"IPv4-IPv6 Translat. embedding 127.0.0.1, Loopback"``, after the address a
    spelling stands for when it is not the address itself (``"127.0.0.1, Loopback"``
    for ``2130706433``).
    """
    for name in _forms(host):
        if name in LOCAL_NAMES or name.endswith(LOCAL_SUFFIXES):
            return "a name that resolves locally"
        address = _literal(name.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) does not change the address
        if address is not None:
            reason = _address_reason(address)
            if reason is not None:
                return reason if str(address) == host.lower() else f"{address}, {reason}"
    return None
