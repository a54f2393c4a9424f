"""``evolink-mock drift``: the subcommand's arguments. The drift code is imported only when it runs."""
from __future__ import annotations

import argparse
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from urllib.parse import urlsplit

from mock_server.redaction import redact as mask_credentials

KEY_ENV = "EVOLINK_API_KEY"
MIN_KEY_LENGTH = 8
DESCRIPTION = """\
Probe a server (the real API, another emulator) or a recording for drift from openapi.yaml and
the behaviour the emulator encodes. Each probe is one request; a fresh in-process emulator
answers it too, and every difference (status, error shape, schema, keys, values) is printed.
Probes the emulator refuses cost nothing; paid probes are sent only within --max-credits."""
EPILOG = f"""\
safe first command (free: --max-credits defaults to 0, so only probes that fail validation are sent):
  export {KEY_ENV}=sk-...      # rather than --api-key, which would stay in your shell history
  evolink-mock drift --base-url https://api.evolink.ai --report drift.md

the paid probe too (one short 720p text-to-video; its cost is printed before it is sent):
  evolink-mock drift --base-url https://api.evolink.ai --max-credits 20

offline, from a recording (no network, no key):
  evolink-mock drift --base-url https://api.evolink.ai --record drift-run/
  evolink-mock drift --replay drift-run/

exit status: 0 no drift, 1 drift, 2 could not run. The key never appears in any output."""


def _credits(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of credits >= 0 (got {text!r})")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0 (got {text!r})")
    return value


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``drift`` on the ``evolink-mock`` parser."""
    p = subparsers.add_parser("drift", help="probe the real API (or a recording) for drift from openapi.yaml",
                              description=DESCRIPTION, epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-url", metavar="URL", help="the server to probe, e.g. https://api.evolink.ai")
    p.add_argument("--api-key", metavar="KEY", help=f"the key to probe with (default: ${KEY_ENV})")
    p.add_argument("--max-credits", type=_credits, default=Decimal(0), metavar="N",
                   help="credits the run may spend (default 0: only free probes are sent)")
    p.add_argument("--report", type=Path, metavar="FILE", help="also write a report: FILE.md or FILE.json")
    p.add_argument("--record", type=Path, metavar="DIR", help="write every exchange to DIR, key redacted")
    p.add_argument("--replay", type=Path, metavar="DIR",
                   help="compare a recording made with --record instead of a server (no network)")
    p.add_argument("--timeout", type=_seconds, default=30.0, metavar="S", help="seconds per request (default 30)")
    p.add_argument("--poll-interval", type=_seconds, default=10.0, metavar="S",
                   help="seconds between polls of the paid probe's task (default 10)")
    p.add_argument("--max-wait", type=_seconds, default=900.0, metavar="S",
                   help="seconds the paid probe's task may take (default 900)")
    p.set_defaults(run=run)


def _problem(args: argparse.Namespace, key: str | None) -> str | None:
    """Why the arguments cannot make a run, or None."""
    if args.report is not None and args.report.suffix.lower() not in (".md", ".json"):
        return f"--report must end in .md (Markdown) or .json (got {args.report.name})"
    if args.report is not None and not args.report.resolve().parent.is_dir():
        return f"--report: the folder {args.report.parent} does not exist"
    if args.replay is not None:
        return "--record and --replay cannot be combined" if args.record is not None else None
    if not args.base_url:
        return "--base-url URL is required (or --replay DIR to compare a recording)"
    parts = urlsplit(args.base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"--base-url must be an http(s) URL such as https://api.evolink.ai (got {args.base_url!r})"
    if not key:
        return f"no API key: set {KEY_ENV} (or pass --api-key)"
    if len(key) < MIN_KEY_LENGTH:
        return f"the API key is shorter than {MIN_KEY_LENGTH} characters: not a real key"
    return None


def _fail(message: str) -> int:
    print(f"evolink-mock drift: {mask_credentials(message)}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Run the drift probes; 0 no drift, 1 drift, 2 could not run."""
    key = (args.api_key or os.environ.get(KEY_ENV) or "").strip() or None
    problem = _problem(args, key)
    if problem:
        return _fail(problem)

    from mock_server import __version__

    from .exchange import LiveTarget, Target
    from .lifecycle import Timing
    from .probes import catalogue
    from .recording import Recorder, ReplayTarget
    from .report import Redactor, terminal, write_report
    from .runner import CouldNotRun, Runner

    redact = Redactor(key, os.environ.get(KEY_ENV))

    def out(line: str) -> None:
        print(redact(line), flush=True)

    probes = catalogue()
    live = None
    target: Target
    try:
        if args.replay is not None:
            target = replay = ReplayTarget(args.replay)
            description, budget = f"recording {args.replay}", None
        else:
            target = live = LiveTarget(args.base_url, key or "", timeout=args.timeout,
                                       user_agent=f"evolink-mock-drift/{__version__}")
            description, budget = args.base_url.rstrip("/"), args.max_credits
        recorder = Recorder(target, args.record, redact) if args.record is not None else None
    except (OSError, ValueError) as exc:
        return _fail(redact(str(exc)))
    spend = "replaying" if budget is None else f"budget {budget} credits"
    out(f"evolink-mock drift: {len(probes)} probes against {description} ({spend})")
    runner = Runner(recorder or target, description, budget=budget,
                    timing=Timing(args.poll_interval, args.max_wait), log=out)
    try:
        result = runner.run(probes)
    except CouldNotRun as exc:
        return _fail(redact(str(exc)))
    except KeyboardInterrupt:
        return _fail("interrupted: no verdict")
    finally:
        if recorder is not None:
            recorder.close()
        if live is not None:
            live.close()
    if args.replay is not None:
        unknown = sorted(replay.probes - {probe.name for probe in probes})
        if unknown:
            result.notes.append("the recording has exchanges of probes this version does not know: "
                                + ", ".join(unknown))
    for line in terminal(result):
        out(line)
    if args.report is not None:
        try:
            write_report(args.report, result, redact)
        except OSError as exc:
            return _fail(redact(f"cannot write the report: {exc}"))
        out(f"report written to {args.report}")
    return result.exit_code
