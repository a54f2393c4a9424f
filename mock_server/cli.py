"""``evolink-mock serve`` (and ``python -m mock_server``): run the emulator on uvicorn.

The full ``evolink-mock`` command (``serve``, ``contract``, ``drift``) lives in
the testing kit (:mod:`contracts.cli`); the emulator needs only this part.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .config import LOOPS, Settings
from .redaction import redact
from .resources import CONTRACT_ENV, contract_path

if TYPE_CHECKING:
    from starlette.applications import Starlette

def add_serve_parser(sub: Any) -> None:
    """Register ``serve`` on a sub-command parser."""
    p = sub.add_parser("serve", help="run the emulator (Starlette on uvicorn)",
                       description="Run the emulator. Options override the EVOLINK_MOCK_* environment variables.")
    p.add_argument("--host", help="interface to bind (EVOLINK_MOCK_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (EVOLINK_MOCK_PORT, default 8000)")
    p.add_argument("--speed", type=float,
                   help="mock seconds per wall second; 0 = manual clock (EVOLINK_MOCK_SPEED, default 60)")
    p.add_argument("--seed", type=int, help="seed for ids and timings (EVOLINK_MOCK_SEED)")
    p.add_argument("--store", help="state store: 'memory', 'sqlite:///FILE' (kept across restarts) or "
                                   "'redis://HOST:PORT/DB' (shared by machines) (EVOLINK_MOCK_STORE, default memory)")
    p.add_argument("--workers", type=int, help="server processes on the one port; more than 1 needs a SQLite or "
                                               "Redis store (EVOLINK_MOCK_WORKERS, default 1)")
    p.add_argument("--loop", choices=LOOPS,
                   help="event loop: auto is asyncio for one process over SQLite or Redis (it accepts a burst "
                        "of new connections at once), uvloop otherwise (EVOLINK_MOCK_LOOP, default auto)")
    p.add_argument("--contract", type=Path, metavar="FILE",
                   help=f"serve another openapi.yaml, e.g. with a model added "
                        f"({CONTRACT_ENV}, default: the bundled one)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="what the server logs (default info)")
    p.add_argument("--access-log", action="store_true", help="log every request (off by default: it is slow)")
    p.set_defaults(run=serve)


def freeze_survivors() -> None:
    """Keep full garbage collections short on a long-running server.

    A full collection walks every object the collector tracks: a pause that grows with what
    the server holds. Whatever survives start-up and each full collection is frozen
    (``gc.freeze``) and not walked again.
    The price: reference cycles among frozen objects are not collected until
    ``POST /_mock/reset``, which unfreezes them; plain garbage is still freed at once.
    (The memory store keeps tasks as plain tuples the collector stops tracking, so they are
    not walked either way; this bounds the rest: callback attempts, accounts, whatever a
    request leaves behind. ``bench/soak.py`` measures the result.)
    """
    def after_full_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            gc.freeze()

    gc.collect()
    gc.freeze()
    gc.callbacks.append(after_full_collection)


def serve(args: argparse.Namespace) -> int:
    """Start uvicorn on the configured host and port."""
    import uvicorn

    if args.contract is not None:
        if not args.contract.is_file():
            raise ValueError(f"--contract: no such file {args.contract}")
        os.environ[CONTRACT_ENV] = str(args.contract.resolve())
    if os.environ.get(CONTRACT_ENV, "").strip():
        check_contract()
    from .http.app import create_app

    settings = Settings.from_env(host=args.host, port=args.port, speed=args.speed, seed=args.seed, store=args.store,
                                 workers=args.workers, loop=args.loop)
    # proxy_headers off: the emulator reads X-Forwarded-* itself, from EVOLINK_MOCK_TRUSTED_PROXIES (http/links.py)
    options: dict[str, Any] = {"host": settings.host, "port": settings.port, "log_level": args.log_level,
                               "access_log": args.access_log, "lifespan": "on", "proxy_headers": False,
                               "loop": settings.event_loop}
    if settings.workers > 1:
        from .core.service import Emulator

        os.environ.update(settings.to_env())  # what each worker process reads (worker_app)
        first = Emulator(settings)  # the store is reachable; its seed and clock start are set once, here
        first.close()
        announce(settings, first.store_kind)
        uvicorn.run(f"{__name__}:worker_app", factory=True, workers=settings.workers, **options)
        return 0
    app = create_app(settings)
    freeze_survivors()
    announce(settings, app.state.emulator.store_kind)
    uvicorn.run(app, **options)
    return 0


def check_contract() -> None:
    """Compile the contract ``serve`` was given (``--contract`` or ``EVOLINK_MOCK_CONTRACT``) and its models,
    once for the process: a file that is not an EvoLink API contract is a one-line ``ValueError``, not a
    traceback."""
    import yaml

    from .families import registry

    path = contract_path()
    try:
        registry()
    except OSError as exc:
        raise ValueError(f"the contract {path}: {exc.strerror or exc}") from None
    except yaml.MarkedYAMLError as exc:
        where = f" (line {exc.problem_mark.line + 1})" if exc.problem_mark is not None else ""
        raise ValueError(f"the contract {path} is not valid YAML: {exc.problem or exc}{where}") from None
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        problem = f"it has no {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ValueError(f"the contract {path} is not an EvoLink API contract like the bundled openapi.yaml: "
                         f"{problem}") from None


def worker_app() -> Starlette:
    """One worker process's app (``serve --workers N``): the settings ``serve`` put in the environment."""
    from .http.app import create_app

    app = create_app(Settings.from_env())
    freeze_survivors()  # per worker: each has its own collector
    return app


def announce(settings: Settings, store_kind: str) -> None:
    """The one line ``serve`` prints on start: where, the clock, the credits, and a store other than memory
    (its URL, credentials masked) with the workers sharing it."""
    extra = ""
    if store_kind != "memory":
        shared = f"{settings.workers} workers over one " if settings.workers > 1 else ""
        extra = f", {shared}{store_kind} store, {redact(settings.store)}"
    clock = "manual clock (advance it with POST /_mock/clock/advance)" if settings.speed == 0 \
        else f"mock time at {settings.speed:g}x"
    where = f"http://{settings.host}:{settings.port}" if settings.port else f"{settings.host}, a free port"
    print(f"evolink-mock {__version__} on {where}: {clock}, {settings.credits} credits per new key{extra}",
          flush=True)


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; configuration errors exit 2 with one line on stderr."""
    try:
        code: int = args.run(args)
        return code
    except ValueError as exc:
        print(f"evolink-mock: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mock_server [options]``: ``evolink-mock serve [options]``."""
    parser = argparse.ArgumentParser(prog="python -m mock_server", description="Run the EvoLink API emulator.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_serve_parser(sub)
    return run(parser.parse_args(["serve", *(sys.argv[1:] if argv is None else argv)]))
