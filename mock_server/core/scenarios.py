"""Per-task scenarios: how one task will behave, chosen by the test.

A scenario comes from the ``X-Mock-Scenario`` header or, for clients that
cannot set headers, a ``[mock: ...]`` marker in the prompt. Items are
``;``-separated: ``fail=<task error code>``, ``stuck``, ``queue=<s>``,
``processing=<s>``, ``input_seconds=<s>`` (video edit billing). Unknown items
and bad values are a 400 that names them.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..errors import invalid_request

MARKER = re.compile(r"\[mock:([^\]]*)\]", re.IGNORECASE)
MAX_SECONDS = 30 * 86400.0
ITEMS = "fail=<code>, stuck, queue=<s>, processing=<s>, input_seconds=<s>"


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


def _seconds(name: str, raw: str, *, positive: bool) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    low_ok = value > 0 if positive else value >= 0
    if not (math.isfinite(value) and low_ok and value <= MAX_SECONDS):
        bound = "> 0" if positive else ">= 0"
        raise invalid_request(f"scenario item {name}={raw!r} must be a number of seconds {bound} "
                              f"and at most {MAX_SECONDS:g}")
    return value


def parse(text: str, error_codes: Iterable[str], base: Scenario = NONE) -> Scenario:
    """Parse ``;``-separated items on top of ``base``; 400 on anything unknown."""
    scenario = base
    codes = error_codes if isinstance(error_codes, tuple) else tuple(error_codes)
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        name, sep, value = (s.strip() for s in item.partition("="))
        name = name.lower()
        if name == "stuck" and not sep:
            scenario = replace(scenario, stuck=True)
        elif name == "fail" and sep:
            if value not in codes:
                raise invalid_request(f"scenario item fail={value!r}: not a task error code; use one of "
                                      + ", ".join(codes))
            scenario = replace(scenario, fail=value)
        elif name in ("queue", "processing", "input_seconds") and sep:
            seconds: dict[str, Any] = {name: _seconds(name, value, positive=name != "queue")}
            scenario = replace(scenario, **seconds)
        else:
            raise invalid_request(f"unknown scenario item {item!r}; items are {ITEMS}")
    return scenario


def from_request(header: str | None, prompt: object, error_codes: Iterable[str], base: Scenario = NONE) -> Scenario:
    """The scenario of a create request: ``base``, then prompt markers, then the header on top."""
    scenario = base
    if isinstance(prompt, str) and "[" in prompt:
        for marker in MARKER.findall(prompt):
            scenario = parse(marker, error_codes, scenario)
    if header:
        scenario = parse(header, error_codes, scenario)
    return scenario
