"""Settings from ``EVOLINK_MOCK_*`` environment variables (and CLI overrides)."""
from __future__ import annotations

import importlib.util
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx

DEFAULT_SPEED = 60.0  # a default 5 s task (about 250 s of mock time) ends in about 4 s of wall time
LOOPS = ("auto", "asyncio", "uvloop")  # EVOLINK_MOCK_LOOP: the server's event loop (Settings.event_loop)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one emulator."""

    host: str = "127.0.0.1"
    port: int = 8000
    speed: float = DEFAULT_SPEED
    seed: int | None = None
    admin_token: str | None = None
    store: str = "memory"  # memory, sqlite:///FILE or redis://HOST:PORT/DB
    workers: int = 1  # server processes on the one port (more than one needs a shared store)
    loop: str = "auto"  # the server's event loop: auto, asyncio or uvloop (see event_loop)
    credits: Decimal = Decimal(10000)
    allow_local_callbacks: bool = False
    max_concurrent: int | None = None
    max_body_bytes: int = 1 << 20
    max_tasks: int = 1_000_000  # beyond this the oldest finished tasks are forgotten (about 550 B each)
    public_url: str | None = None  # the base of every link the emulator builds (no trailing slash)
    trusted_proxies: str = "127.0.0.1,::1"  # peers whose X-Forwarded-Proto/-Host are believed: IPs, networks, *
    cors_origins: str | None = None  # "*" or a comma list of origins; None: no CORS
    prices: str | None = None  # a YAML or JSON file of price overrides per model and user group

    def __post_init__(self) -> None:
        if not isinstance(self.credits, Decimal) or not self.credits.is_finite():  # Settings(credits=100)
            object.__setattr__(self, "credits", _credits(self.credits))
        if self.public_url is not None and self.public_url.endswith("/"):  # links append "/files/..."
            object.__setattr__(self, "public_url", self.public_url.rstrip("/"))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``EVOLINK_MOCK_<NAME>`` for every field; ``overrides`` win when not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = env.get(f"EVOLINK_MOCK_{field.name.upper()}")
            if raw is not None and raw.strip() != "":
                values[field.name] = _parse(field.name, raw.strip())
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values).checked()

    def to_env(self) -> dict[str, str]:
        """These settings as ``EVOLINK_MOCK_*`` variables (what :meth:`from_env` reads back): for worker processes."""
        env = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if value is not None:
                env[f"EVOLINK_MOCK_{field.name.upper()}"] = ("1" if value else "0") if isinstance(value, bool) \
                    else str(value)
        return env

    def checked(self) -> Settings:
        """Raise ValueError naming the setting when a value is out of range."""
        problems = []
        if not (0 <= self.port < 65536):
            problems.append(f"EVOLINK_MOCK_PORT must be 0-65535, 0 for any free port (got {self.port})")
        if not (self.speed >= 0 and self.speed < float("inf")):
            problems.append(f"EVOLINK_MOCK_SPEED must be a finite number >= 0, 0 for a manual clock (got {self.speed})")
        if self.credits < 0:
            problems.append(f"EVOLINK_MOCK_CREDITS must be >= 0 (got {self.credits})")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            problems.append(f"EVOLINK_MOCK_MAX_CONCURRENT must be >= 1 (got {self.max_concurrent})")
        if self.max_tasks < 1:
            problems.append(f"EVOLINK_MOCK_MAX_TASKS must be >= 1 (got {self.max_tasks})")
        if self.max_body_bytes < 1024:
            problems.append(f"EVOLINK_MOCK_MAX_BODY_BYTES must be >= 1024 (got {self.max_body_bytes})")
        if self.workers < 1:
            problems.append(f"EVOLINK_MOCK_WORKERS must be >= 1 (got {self.workers})")
        elif self.workers > 1 and self.store == "memory":
            problems.append(f"EVOLINK_MOCK_WORKERS={self.workers} (--workers) needs a store the processes share: "
                            "set EVOLINK_MOCK_STORE (--store) to sqlite:///FILE or redis://HOST:PORT/DB "
                            "(the memory store lives inside one process)")
        if self.loop not in LOOPS:
            problems.append(f"EVOLINK_MOCK_LOOP must be auto, asyncio or uvloop (got {self.loop!r})")
        elif self.loop == "uvloop" and importlib.util.find_spec("uvloop") is None:
            problems.append("EVOLINK_MOCK_LOOP=uvloop (--loop) needs the uvloop package, which is not installed")
        problems += filter(None, (_public_url_problem(self.public_url), _proxies_problem(self.trusted_proxies),
                                  _origins_problem(self.cors_origins)))
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def event_loop(self) -> str:
        """The event loop uvicorn runs, ``"asyncio"`` or ``"uvloop"``: ``loop`` with ``auto`` resolved.

        ``auto`` is asyncio for one process over SQLite or Redis, and uvloop (when installed) otherwise.
        uvloop accepts one new connection per turn of its loop (libuv since 1.45:
        https://github.com/libuv/libuv/pull/3696), and under load one turn runs every request that is
        ready. Over a shared store a create is 0.4-0.6 ms of synchronous store calls, so with 64 busy
        connections a turn lasts 20-40 ms, and a client that opens 64 connections at once waits up to a
        second for the last one to be accepted: wrk's p99 over SQLite was 0.5 s while, on the wire, the
        server answered what it had read within 40 ms (p99 37 ms), and 1.3 s over Redis. asyncio accepts
        every waiting connection in one turn (https://bugs.python.org/issue27906), for up to about 35 us
        more CPU per request: about 8% of the throughput over SQLite, nothing measurable over Redis.
        uvloop stays where that trade goes the other way: over the memory store, 25 us is a quarter of a
        create and turns are short (a burst of 64 waited up to 160 ms); with several workers on one
        port, asyncio's greedy accept lets one worker take most of a burst (2 workers over Redis: 1,230
        creates/s against uvloop's 1,520).
        """
        if self.loop != "auto":
            return self.loop
        if (self.store != "memory" and self.workers == 1) or importlib.util.find_spec("uvloop") is None:
            return "asyncio"
        return "uvloop"

    @property
    def cors_origin_list(self) -> list[str]:
        """The allowed CORS origins (``["*"]`` for any); empty when CORS is off."""
        return [origin.strip().rstrip("/") for origin in (self.cors_origins or "").split(",") if origin.strip()]


def proxy_networks(trusted_proxies: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None:
    """The networks of ``EVOLINK_MOCK_TRUSTED_PROXIES`` (IPs or networks, comma-separated); None for ``*`` (any)."""
    items = [item.strip() for item in trusted_proxies.split(",") if item.strip()]
    if "*" in items:
        return None
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _public_url_problem(url: str | None) -> str | None:
    if url is None:
        return None
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or parsed.query \
            or parsed.fragment or parsed.userinfo:
        return f"EVOLINK_MOCK_PUBLIC_URL must be an http(s) URL without query, fragment or user info (got {url!r})"
    return None


def _proxies_problem(trusted_proxies: str) -> str | None:
    try:
        proxy_networks(trusted_proxies)
    except ValueError:
        return (f"EVOLINK_MOCK_TRUSTED_PROXIES must be *, or IP addresses and networks separated by commas "
                f"(got {trusted_proxies!r})")
    return None


def _origins_problem(origins: str | None) -> str | None:
    for origin in [] if origins is None else origins.split(","):
        origin = origin.strip().rstrip("/")
        if origin == "*":
            continue
        try:
            parsed = httpx.URL(origin)
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or parsed.raw_path != b"/" \
                or parsed.query or parsed.fragment or parsed.userinfo:
            return f"EVOLINK_MOCK_CORS_ORIGINS must be * or origins such as https://app.example.com (got {origin!r})"
    return None


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def _credits(value: object) -> Decimal:
    """Credits as an exact Decimal (``12.5`` is ``Decimal("12.5")``); ValueError unless a finite number."""
    try:
        credits = Decimal(str(value))
    except InvalidOperation:
        credits = Decimal("NaN")
    if not credits.is_finite():
        raise ValueError(f"EVOLINK_MOCK_CREDITS must be a number (got {value!r})")
    return credits


def _parse(name: str, raw: str) -> object:
    var = f"EVOLINK_MOCK_{name.upper()}"
    try:
        if name in ("port", "seed", "max_concurrent", "max_body_bytes", "max_tasks", "workers"):
            return int(raw)
        if name == "speed":
            return float(raw)
        if name == "credits":
            return _credits(raw)
    except ValueError:
        raise ValueError(f"{var} must be a number (got {raw!r})") from None
    if name == "allow_local_callbacks":
        if raw.lower() not in _TRUE + _FALSE:
            raise ValueError(f"{var} must be on ({', '.join(_TRUE)}) or off ({', '.join(_FALSE)}); got {raw!r}")
        return raw.lower() in _TRUE
    return raw
