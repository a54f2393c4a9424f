"""``evolink-mock contract --base-url URL``: run the schemathesis conformance suite against a server."""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

DEFAULT_KEY = "sk-contract-suite-0001"
SUITE = Path(__file__).with_name("contract_tests.py")


def add_parser(sub: Any) -> None:
    """Register the ``contract`` subcommand."""
    parser = sub.add_parser(
        "contract", help="check a running server against openapi.yaml with schemathesis",
        description="Fuzz every public operation of a running server (an evolink-mock, or another emulator) "
                    "with schemathesis and check every answer against openapi.yaml, then follow the contract's "
                    "links (create, then poll); on an evolink-mock, also fuzz the admin operations that only "
                    "read (the GETs of /_mock/). Exit 0 when it conforms, 1 when it does not. What the run "
                    "changes: the suite's own key (--api-key) is granted credits and owns the tasks its valid "
                    "requests create. Everything else is left alone: other keys and their tasks, fault rules "
                    "(those that apply to every key fire on the suite's requests too), the clock (unless "
                    "--admin-writes). Valid requests create tasks: for the real API use "
                    "'evolink-mock drift', which stays free.",
        epilog="example: evolink-mock contract --base-url http://127.0.0.1:8000")
    parser.add_argument("--base-url", required=True, help="the server to check, e.g. http://127.0.0.1:8000")
    parser.add_argument("--api-key", default=DEFAULT_KEY,
                        help=f"the suite's own bearer key: on an evolink-mock it is granted credits and owns the "
                             f"run's tasks (default: {DEFAULT_KEY}, not EVOLINK_API_KEY, which is likely your "
                             "client's key)")
    parser.add_argument("--admin-token", default=os.environ.get("EVOLINK_MOCK_ADMIN_TOKEN"),
                        help="the target's admin token, if it has one (default: EVOLINK_MOCK_ADMIN_TOKEN)")
    parser.add_argument("--admin-writes", action="store_true",
                        help="also fuzz the admin operations that change state, on a server no one else uses: "
                             "the run resets the server's state (every task, key and fault rule), moves its "
                             "clock forward, revokes keys and adds fault rules. At the end it clears the fault "
                             "rules; the rest cannot be undone (the clock only moves forward)")
    parser.add_argument("--max-examples", type=int, default=None,
                        help="examples per operation (default 25; 100 with --deep)")
    parser.add_argument("--deep", action="store_true",
                        help="the deep run: schemathesis' coverage phase over every model's schema, and "
                             "--max-examples fuzzed requests per model (thousands of requests)")
    parser.add_argument("--allow-paid", action="store_true",
                        help="run even when the target is not an evolink-mock (its valid requests may cost money)")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER, help="passed on to pytest (after --)")
    parser.set_defaults(run=run)


def _admin_headers(admin_token: str | None) -> dict[str, str]:
    return {"X-Mock-Admin-Token": admin_token} if admin_token else {}


def _prepare_emulator(base_url: str, api_key: str, admin_token: str | None) -> bool:
    """True if the target is an evolink-mock; then give the suite's key enough credits for the run and warn
    of the fault rules that apply to every key (the suite's requests fire them too)."""
    import httpx

    try:
        health = httpx.get(f"{base_url}/_mock/health", timeout=10)
    except httpx.HTTPError as exc:
        raise ValueError(f"cannot reach {base_url}: {exc}") from None
    if health.status_code != 200 or health.headers.get("content-type", "").split(";")[0] != "application/json":
        return False
    granted = httpx.put(f"{base_url}/_mock/accounts/{api_key}", json={"granted": 10**12},
                        headers=_admin_headers(admin_token), timeout=10)
    if granted.status_code != 200:
        raise ValueError(f"could not grant credits to the suite's key: {granted.status_code} {granted.text[:200]}")
    rules = httpx.get(f"{base_url}/_mock/faults", headers=_admin_headers(admin_token), timeout=10).json()
    if shared := [rule["id"] for rule in rules if rule["key"] is None]:
        print("evolink-mock: warning: the suite's requests also fire the fault rules that apply to every key "
              f"(spending their 'times') and may fail by them: {', '.join(shared)}", file=sys.stderr)
    return True


def _clear_faults(base_url: str, admin_token: str | None) -> None:
    """Remove every fault rule of the emulator (those the fuzzed ``addFault``/``addScenario`` left)."""
    import httpx

    cleared = httpx.delete(f"{base_url}/_mock/faults", headers=_admin_headers(admin_token), timeout=10)
    if cleared.status_code != 200:
        raise ValueError(f"could not clear the fault rules the run added: {cleared.status_code} {cleared.text[:200]}")


def run(args: argparse.Namespace) -> int:
    """Run ``contracts/contract_tests.py`` under pytest against ``--base-url``."""
    import pytest

    base_url = args.base_url.rstrip("/")
    emulator = _prepare_emulator(base_url, args.api_key, args.admin_token)
    if not emulator and not args.allow_paid:
        raise ValueError(f"{base_url} is not an evolink-mock (no /_mock/health): the suite's valid requests would "
                         "create real tasks. Use 'evolink-mock drift' for the real API, or pass --allow-paid.")
    os.environ.update(EVOLINK_CONTRACT_BASE_URL=base_url, EVOLINK_CONTRACT_API_KEY=args.api_key,
                      EVOLINK_CONTRACT_DEEP="1" if args.deep else "0",
                      EVOLINK_CONTRACT_ADMIN_WRITES="1" if args.admin_writes else "0")
    if args.admin_writes:
        print(f"evolink-mock: warning: --admin-writes resets {base_url}, moves its clock forward, revokes keys "
              "and adds fault rules (cleared at the end)", file=sys.stderr)
    if args.max_examples is not None:
        os.environ["EVOLINK_CONTRACT_MAX_EXAMPLES"] = str(args.max_examples)
    if args.admin_token:
        os.environ["EVOLINK_CONTRACT_ADMIN_TOKEN"] = args.admin_token
    extra = [a for a in args.pytest_args if a != "--"]
    # this process imported the kit before pytest started: nothing to rewrite, nothing to warn about;
    # classic output: schemathesis counts each operation as collected but reports them all under their
    # test's one node id, so pytest's percentage (node ids reported of items collected) stops short of 100%
    try:
        return int(pytest.main([str(SUITE), "-p", "no:cacheprovider", "-q", "-o", "console_output_style=classic",
                                "-W", "ignore::pytest.PytestAssertRewriteWarning", *extra]))
    finally:  # also when the run is interrupted
        if args.admin_writes and emulator:
            _clear_faults(base_url, args.admin_token)
