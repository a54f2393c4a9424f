"""The paid probe's flow: credits before, create, poll to the end, download, credits after.

Compared on the way: the create answer (usage units, id shape, estimate),
every poll against the emulator's body for the same status, the status
order (pending -> processing -> completed, never back), progress that never
falls and ends at 100, a result that downloads as an MP4 (bytes 4..8 are
``ftyp``; the key is never sent to the result host), and ``used_credits``
rising by exactly the price.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from .compare import DETERMINISTIC, Comparison, at
from .exchange import API_KEY, Answer, NotRecorded, Request, Target, TargetUnavailable
from .oracle import Expected, number
from .probes import CREDITS, TASKS, Probe

_ORDER = {"pending": 0, "processing": 1, "completed": 2, "failed": 2}
_TERMINAL = ("completed", "failed")
_USED = "data.token.used_credits"


@dataclass(frozen=True)
class Timing:
    """How often to poll and for how long at most (seconds)."""

    poll_interval: float = 10.0
    max_wait: float = 900.0


@dataclass
class Flow:
    """What the flow saw: the create answer and notes worth printing (statuses, results host)."""

    created: Answer
    notes: list[str] = field(default_factory=list)


def _keyed(method: str, path: str) -> Request:
    return Request(method, path, {"Authorization": f"Bearer {API_KEY}"})


def run_flow(probe: Probe, expected: Expected, target: Target, timing: Timing, comparison: Comparison) -> Flow:
    """Run the whole paid flow for ``probe``, adding differences to ``comparison``."""
    credits = _keyed("GET", CREDITS)
    before = target.send(probe.name, "credits_before", credits)
    request = probe.request()
    created = target.send(probe.name, "", request)
    comparison.answer(request.method, request.path, expected.answer, created)
    flow = Flow(created)
    task_id = at(created.body, "id") if created.is_json else None
    if created.status != 200 or not isinstance(task_id, str):
        return flow
    last = _poll(probe, expected, target, timing, comparison, flow, task_id)
    status = last.get("status")
    if status == "failed":
        comparison.add("lifecycle", "completed", f"failed: {at(last, 'error.code', None)}")
    elif status == "completed":
        _download(probe, target, comparison, flow, last)
    if status in _TERMINAL:
        charge = expected.cost if status == "completed" else Decimal(0)  # a failed task is refunded
        _charged(probe, target, comparison, flow, before, credits, charge)
    return flow


def _poll(probe: Probe, expected: Expected, target: Target, timing: Timing, comparison: Comparison, flow: Flow,
          task_id: str) -> dict[str, Any]:
    """Poll until a terminal status, the time limit or the recording's end; return the last body."""
    request = _keyed("GET", TASKS + task_id)
    last: dict[str, Any] = flow.created.body
    seen = [(last.get("status"), last.get("progress"))]
    deadline = target.monotonic() + timing.max_wait
    polls = 0
    while last.get("status") not in _TERMINAL:
        if target.monotonic() >= deadline:
            comparison.add("lifecycle", f"completed within {timing.max_wait:g} s",
                           f"still {last.get('status')} after {polls} polls")
            break
        target.sleep(timing.poll_interval)
        try:
            answer = target.send(probe.name, f"poll_{polls + 1}", request)
        except NotRecorded:
            comparison.add("lifecycle", "completed", f"still {last.get('status')} where the recording ends")
            break
        polls += 1
        status = answer.body.get("status") if answer.is_json and isinstance(answer.body, dict) else None
        # The emulator's body for this status; without one (e.g. failed) only the status and the schema count.
        reference = expected.task_bodies.get(status) if isinstance(status, str) else None
        values = DETERMINISTIC["getTask"] + (() if status == "processing" else ("progress",))
        comparison.answer(request.method, request.path, Answer(200, body=reference, is_json=reference is not None),
                          answer, values=values, label=f"poll {polls}")
        if answer.status != 200 or status is None:
            break
        last = answer.body
        seen.append((status, last.get("progress")))
    _check_sequence(comparison, seen)
    flow.notes.append(f"statuses over {polls} polls: {_summary(seen)}")
    return last


def _check_sequence(comparison: Comparison, seen: list[tuple[Any, Any]]) -> None:
    """Statuses never go back; progress never falls; a completed task is at 100."""
    statuses = [status for status, _ in seen]
    ranks = [_ORDER.get(status, -1) for status in statuses]
    if any(b < a for a, b in itertools.pairwise(ranks)) or -1 in ranks:
        comparison.add("lifecycle order", "pending -> processing -> completed", " -> ".join(map(str, statuses)))
    progress = [p for _, p in seen if isinstance(p, int)]
    if any(b < a for a, b in itertools.pairwise(progress)):
        comparison.add("lifecycle progress", "never decreasing", ", ".join(map(str, progress)))
    if statuses[-1] == "completed" and seen[-1][1] != 100:
        comparison.add("lifecycle progress", "100 when completed", str(seen[-1][1]))


def _summary(seen: list[tuple[Any, Any]]) -> str:
    runs: list[list[Any]] = []
    for status, _ in seen:
        if runs and runs[-1][0] == status:
            runs[-1][1] += 1
        else:
            runs.append([status, 1])
    return " -> ".join(f"{status} x{count}" if count > 1 else str(status) for status, count in runs)


def _download(probe: Probe, target: Target, comparison: Comparison, flow: Flow, body: dict[str, Any]) -> None:
    """The first result downloads as an MP4; its host is noted."""
    results = body.get("results")
    url = results[0] if isinstance(results, list) and results and isinstance(results[0], str) else None
    if url is None:
        return  # the schema check already reported it
    flow.notes.append(f"results host: {urlsplit(url).hostname}")
    try:
        answer = target.send(probe.name, "download", Request("GET", url, download=True))
    except TargetUnavailable as exc:
        comparison.add("download", "an MP4", f"could not download: {exc}")
        return
    except NotRecorded:
        flow.notes.append("the download is not in the recording")
        return
    if answer.status != 200 or answer.prefix[4:8] != b"ftyp":
        comparison.add("download", '200 and an MP4 (bytes 4..8 = "ftyp")', f"{answer.status}, first bytes "
                       f"{answer.prefix[:8]!r}")


def _charged(probe: Probe, target: Target, comparison: Comparison, flow: Flow, before: Answer, credits: Request,
             charge: Decimal) -> None:
    """``used_credits`` rose by exactly ``charge``."""
    try:
        after = target.send(probe.name, "credits_after", credits)
    except NotRecorded:
        flow.notes.append("the balance after the task is not in the recording")
        return
    used_before, used_after = (number(at(answer.body, _USED)) if answer.is_json else None for answer in (before, after))
    if used_before is None or used_after is None:
        comparison.add("credits", f"{_USED} readable before and after", f"{before.status}, {after.status}")
        return
    rise = used_after - used_before
    if rise != charge:
        comparison.add("credits", f"{_USED} +{charge}", f"+{rise} (other use of the key at the same time "
                       "would also show here)")
