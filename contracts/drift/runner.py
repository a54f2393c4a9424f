"""One drift run: ask the oracle, then send each probe the budget allows, and compare.

Free probes (the emulator refuses them) are always sent; a paid probe only
when its cost fits in what is left of the budget, which unexpected charges
(a target accepting a free probe) use up too. Budget arithmetic is exact
decimal. A probe that ``relies_on`` another is sent only if the target
refused that one (it is what keeps the probe free). The run stops, as
"could not run", when the target cannot be reached or refuses the key on
every route.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .compare import Comparison, Difference, operation_for, operations, reserved
from .exchange import Answer, NotRecorded, Target, TargetUnavailable
from .lifecycle import Timing, run_flow
from .oracle import Expected, Oracle
from .probes import Probe

Log = Callable[[str], None]


class CouldNotRun(Exception):
    """The run cannot say anything about drift (unreachable, key refused, nothing to compare)."""


@dataclass
class Outcome:
    """How one probe went: ``ok``, ``drift`` or ``skipped``."""

    probe: Probe
    verdict: str
    detail: str = ""
    cost: Decimal = Decimal(0)  # credits the target reserved for this probe
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    """Everything a report needs."""

    target: str
    budget: Decimal | None  # None in a replay
    outcomes: list[Outcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def differences(self) -> list[Difference]:
        return [d for outcome in self.outcomes for d in outcome.differences]

    @property
    def spent(self) -> Decimal:
        return sum((outcome.cost for outcome in self.outcomes), Decimal(0))

    def count(self, verdict: str) -> int:
        return sum(1 for outcome in self.outcomes if outcome.verdict == verdict)

    @property
    def exit_code(self) -> int:
        return 1 if self.differences else 0


class Runner:
    """Runs the probes against one target (live, recorded, or being recorded)."""

    def __init__(self, target: Target, description: str, *, budget: Decimal | None, timing: Timing,
                 log: Log) -> None:
        self.target = target
        self.result = RunResult(description, budget)
        self.timing = timing
        self.log = log
        self._refused: set[str] = set()  # probes the target answered with an error
        self._answered = False
        self._key_checks: dict[str, bool] = {}  # operation id -> the key was refused there

    @property
    def replay(self) -> bool:
        return self.result.budget is None

    def run(self, probes: Sequence[Probe]) -> RunResult:
        """Run every probe in order; raise :class:`CouldNotRun` when the run cannot conclude."""
        expected = Oracle().expect(probes)
        for probe in probes:
            outcome = self._probe(probe, expected[probe.name])
            self.result.outcomes.append(outcome)
            self.log(f"{outcome.verdict:<8}{probe.name}" + (f"  {outcome.detail}" if outcome.detail else ""))
            for note in outcome.notes:
                self.log(f"{'':8}  {note}")
        if not any(outcome.verdict != "skipped" for outcome in self.result.outcomes):
            raise CouldNotRun("nothing was compared: no probe could be sent or found in the recording")
        return self.result

    def _probe(self, probe: Probe, expected: Expected) -> Outcome:
        if probe.relies_on is not None and probe.relies_on not in self._refused:
            return Outcome(probe, "skipped", f"free only if the target refuses {probe.relies_on}, "
                           "and it did not (or that probe was not sent)")
        if not expected.free and not self.replay:
            refusal = self._over_budget(expected.cost)
            if refusal:
                return Outcome(probe, "skipped", refusal)
            self.log(f"{'paid':<8}{probe.name}: {expected.cost} credits "
                     f"(budget {self.result.budget}, spent {self.result.spent})")
        comparison = Comparison(probe.name)
        try:
            answer, notes = self._send(probe, expected, comparison)
        except NotRecorded as missing:
            return Outcome(probe, "skipped", str(missing))
        except TargetUnavailable as exc:
            what = f"lost {self.result.target} during {probe.name}" if self._answered \
                else f"cannot reach {self.result.target}"
            raise CouldNotRun(f"{what}: {exc}") from None
        self._answered = True
        if answer.status >= 400:
            self._refused.add(probe.name)
        self._check_key(probe, expected, answer)
        cost = self._cost(expected, answer, notes)
        verdict = "drift" if comparison.differences else "ok"
        detail = f"{len(comparison.differences)} difference(s)" if comparison.differences else ""
        if cost:
            detail = f"{detail}; {cost} credits" if detail else f"{cost} credits"
        return Outcome(probe, verdict, detail, cost, comparison.differences, notes + comparison.notes)

    def _over_budget(self, cost: Decimal) -> str | None:
        """Why a paid probe cannot be sent, or None when it fits."""
        budget = self.result.budget
        if budget is None or self.result.spent + cost <= budget:
            return None
        spent = f", {self.result.spent} already spent" if self.result.spent else ""
        return (f"costs {cost} credits, budget {budget}{spent} "
                f"(--max-credits {self.result.spent + cost} or more would send it)")

    def _send(self, probe: Probe, expected: Expected, comparison: Comparison) -> tuple[Answer, list[str]]:
        if probe.lifecycle:
            flow = run_flow(probe, expected, self.target, self.timing, comparison)
            return flow.created, flow.notes
        request = probe.request()
        answer = self.target.send(probe.name, "", request)
        comparison.answer(request.method, request.path, expected.answer, answer, names=probe.names,
                          not_names=probe.not_names)
        return answer, []

    def _cost(self, expected: Expected, answer: Answer, notes: list[str]) -> Decimal:
        """What the target reserved: its own figure, else the emulator's price for a created task."""
        if answer.status >= 400:
            return Decimal(0)
        if answer.is_json and isinstance(answer.body, dict) and "id" in answer.body:
            said = reserved(answer)
            if said is not None:
                return said
            priced = f"counted at the emulator's price, {expected.cost}" if expected.cost else "its cost is unknown"
            notes.append(f"the target created a task without saying what it reserved: {priced}")
        return expected.cost

    def _check_key(self, probe: Probe, expected: Expected, answer: Answer) -> None:
        """Stop when the first keyed probe of every route got a 401 the emulator did not give."""
        op = operation_for(probe.method, probe.path)
        if not probe.keyed or expected.answer.status == 401 or op is None or op.operation_id in self._key_checks:
            return
        self._key_checks[op.operation_id] = answer.status == 401
        if len(self._key_checks) == len(operations()) and all(self._key_checks.values()):
            raise CouldNotRun("the API key was refused (401) on every route: check --api-key / EVOLINK_API_KEY")
