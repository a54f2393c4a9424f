"""Per-task scenarios: how one task will behave, chosen by the test.

A scenario comes from the ``X-Mock-Scenario`` header or, for clients that
cannot set headers, a ``[mock: ...]`` marker in the prompt. Items are
``;``-separated: ``fail=<task error code>``, ``stuck``, ``queue=<s>``,
``processing=<s>``, ``input_seconds=<s>`` (video edit billing). Unknown items
and bad values are a 400 that names them all (up to :data:`NAMED`, each quoted
with at most :data:`~mock_server.errors.QUOTED` characters).
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import excerpt, invalid_request

MARKER = re.compile(r"\[mock:([^\]]*)\]", re.IGNORECASE)
MAX_SECONDS = 30 * 86400.0
ITEMS = "fail=<code>, stuck, queue=<s>, processing=<s>, input_seconds=<s>"
NAMED = 5  # bad items a 400 names; past them it says how many more


@dataclass(frozen=True)
class Scenario:
    """A task's scripted behaviour; ``None`` fields fall back to the defaults."""

    fail: str | None = None
    stuck: bool = False
    queue: float | None = None
    processing: float | None = None
    input_seconds: float | None = None

    def describe(self) -> str:
        """The scenario in its own item syntax (for the admin view)."""
        parts = [f"fail={self.fail}"] if self.fail else []
        parts += ["stuck"] if self.stuck else []
        parts += [f"{name}={getattr(self, name):g}" for name in ("queue", "processing", "input_seconds")
                  if getattr(self, name) is not None]
        return ";".join(parts)


#: The scenario of a task nobody scripted.
NONE = Scenario()


class _BadItem(Exception):
    """One scenario item that cannot be read: ``problem`` names it, ``hint`` (if any) says what would do."""

    def __init__(self, problem: str, hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.hint = hint


def _seconds(name: str, raw: str, *, positive: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    low_ok = value > 0 if positive else value >= 0
    if not (math.isfinite(value) and low_ok and value <= MAX_SECONDS):
        bound = "> 0" if positive else ">= 0"
        raise _BadItem(f"{name}={excerpt(raw)!r} must be a number of seconds {bound} and at most "
                       f"{MAX_SECONDS:.0f} ({MAX_SECONDS / 86400:g} days)")
    return value


def _item(scenario: Scenario, item: str, codes: tuple[str, ...]) -> Scenario:
    """``scenario`` with one item applied; :class:`_BadItem` when the item is unknown or its value bad."""
    name, sep, value = (s.strip() for s in item.partition("="))
    name = name.lower()
    if name == "stuck" and not sep:
        return replace(scenario, stuck=True)
    if name == "fail" and sep:
        if value not in codes:
            raise _BadItem(f"fail={excerpt(value)!r} is not a task error code", "task error codes: " + ", ".join(codes))
        return replace(scenario, fail=value)
    if name in ("queue", "processing", "input_seconds") and sep:
        seconds: dict[str, Any] = {name: _seconds(name, value, positive=name != "queue")}
        return replace(scenario, **seconds)
    raise _BadItem(f"unknown item {excerpt(item)!r}", f"items: {ITEMS}")


def _parsed(texts: Iterable[str], error_codes: Iterable[str], base: Scenario) -> Scenario:
    """The items of ``texts``, in order, on top of ``base``: a 400 naming the bad ones (up to :data:`NAMED`)."""
    scenario = base
    codes = error_codes if isinstance(error_codes, tuple) else tuple(error_codes)
    bad: list[str] = []
    hints: dict[str, None] = {}  # each once, in order
    for text in texts:
        for item in (part.strip() for part in text.split(";")):
            if not item:
                continue
            try:
                scenario = _item(scenario, item, codes)
            except _BadItem as error:
                bad.append(error.problem)
                if error.hint:
                    hints[error.hint] = None
    if bad:
        shown = "; ".join(bad[:NAMED]) + (f"; and {len(bad) - NAMED} more" if len(bad) > NAMED else "")
        help_ = f" ({'; '.join(hints)})" if hints else ""
        raise invalid_request(f"bad scenario item{'s' if len(bad) > 1 else ''}: {shown}{help_}")
    return scenario


def parse(text: str, error_codes: Iterable[str], base: Scenario = NONE) -> Scenario:
    """Parse ``;``-separated items on top of ``base``; a 400 naming every bad item (up to :data:`NAMED`)."""
    return _parsed((text,), error_codes, base)


def from_request(header: str | None, prompt: object, error_codes: Iterable[str], base: Scenario = NONE) -> Scenario:
    """The scenario of a create request: ``base``, then prompt markers, then the header on top
    (a 400 naming the bad items of all of them)."""
    texts = MARKER.findall(prompt) if isinstance(prompt, str) and "[" in prompt else []
    if header:
        texts.append(header)
    return _parsed(texts, error_codes, base) if texts else base
