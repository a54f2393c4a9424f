"""The run as text: terminal lines, a Markdown or JSON report; and the key's redaction.

Everything written anywhere goes through a :class:`Redactor`, so a target that
echoes the key (in a header or a message) cannot make it appear.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mock_server import __version__
from mock_server.redaction import redact

from .runner import RunResult

VERDICTS = {0: "no drift", 1: "drift"}


class Redactor:
    """Replaces each secret (as is, and as JSON escapes it) with ``<redacted>``, then masks what
    :func:`~mock_server.redaction.redact` masks everywhere (URL user info, other ``sk-`` keys)."""

    MASK = "<redacted>"

    def __init__(self, *secrets: str | None) -> None:
        forms = {form for secret in secrets if secret for form in (secret, json.dumps(secret)[1:-1])}
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, self.MASK)
        return redact(text)


def summary(result: RunResult) -> str:
    """The one-line verdict."""
    counts = ", ".join(f"{result.count(v)} {v}" for v in ("ok", "drift", "skipped"))
    spent = (f"{result.spent} credits spent by the recorded run" if result.budget is None
             else f"{result.spent} credits spent (budget {result.budget})")
    differences = len(result.differences)
    return (f"summary: {len(result.outcomes)} probes: {counts}; {differences} difference(s); {spent}; "
            f"{VERDICTS[result.exit_code]} (exit {result.exit_code})")


def terminal(result: RunResult) -> list[str]:
    """The lines printed after the per-probe lines: the differences, then the summary."""
    lines = []
    if result.differences:
        lines.append("differences (probe: aspect: expected / actual):")
        lines += [f"  {d.probe}: {d.aspect}: expected {d.expected} / actual {d.actual}" for d in result.differences]
    lines += [f"note: {note}" for note in result.notes]
    lines.append(summary(result))
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(str(cell)) for cell in row) + " |" for row in rows]
    return lines


def markdown(result: RunResult) -> str:
    """The report as Markdown."""
    budget = "replay of a recording" if result.budget is None else f"budget {result.budget} credits"
    lines = ["# evolink-mock drift report", "", f"Target: `{result.target}` ({budget}).", "",
             f"**{summary(result).removeprefix('summary: ')}**", ""]
    if result.differences:
        lines += ["## Differences", ""]
        lines += _table(("probe", "aspect", "expected", "actual"),
                        ((f"`{d.probe}`", d.aspect, d.expected, d.actual) for d in result.differences))
        lines.append("")
    lines += ["## Probes", ""]
    lines += _table(("probe", "result", "detail", "what it checks"),
                    ((f"`{o.probe.name}`", o.verdict, "; ".join(filter(None, [o.detail, *o.notes])),
                      o.probe.description) for o in result.outcomes))
    if result.notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def as_json(result: RunResult) -> str:
    """The report as JSON (credit amounts as exact decimal strings)."""
    document = {
        "tool": f"evolink-mock drift {__version__}",
        "target": result.target,
        "budget": None if result.budget is None else str(result.budget),
        "spent": str(result.spent),
        "verdict": VERDICTS[result.exit_code],
        "exit_code": result.exit_code,
        "counts": {v: result.count(v) for v in ("ok", "drift", "skipped")},
        "differences": [d.as_dict() for d in result.differences],
        "probes": [{"name": o.probe.name, "result": o.verdict, "detail": o.detail, "cost": str(o.cost),
                    "notes": o.notes, "checks": o.probe.description} for o in result.outcomes],
        "notes": result.notes,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_report(path: Path, result: RunResult, redact: Redactor) -> None:
    """Write the report in the format the file's extension names (``.md`` or ``.json``)."""
    text = markdown(result) if path.suffix.lower() == ".md" else as_json(result)
    path.write_text(redact(text), encoding="utf-8")
