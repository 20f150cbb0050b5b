"""The golden run, made once per scenario, engine and session, and reused by every trial of them.

A trial's golden run (no faults) depends on the scenario's target, inputs, cassette and engine options,
never on the fault plan, so the runner makes it for the first trial of a (scenario x engine) and hands
its outcome, and a copy of the history and ledger records it wrote, to every later trial of the pair.
Each trial's history and ledger then read exactly as if it had made the golden run itself, and the
checkers, which are pure functions of them, judge it the same way.

Not reused (a fresh golden run each time): when recording (the cassette is being written), when the
scenario has variants (they run in the golden run's own engine context, whose caches the golden run
must have filled for that trial), and when the golden run failed or missed the cassette (each trial
reports that itself).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from durable_chaos.infra.engines import RunOutcome
from durable_chaos.infra.ledger import Ledger
from durable_chaos.run.records.history import History
from durable_chaos.scenario.trial_specs import TrialSpec


def golden_key(spec: TrialSpec) -> tuple[str, ...]:
    """What the golden run depends on: the scenario (file and contents, less its plans and
    expectations) and the engine."""
    scenario = spec.scenario
    contents = scenario.model_dump_json(exclude={"plans", "expect", "description", "sweep", "explore"})
    return (str(scenario.path), spec.engine, contents)


@dataclass(frozen=True)
class GoldenRun:
    """A finished golden run: its outcome, its cassette misses and the records it wrote."""

    outcome: RunOutcome
    misses: list[str]
    events: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def snapshot(cls, outcome: RunOutcome, history: History, ledger: Ledger) -> GoldenRun:
        """Taken right after the golden run, when the trial's history and ledger hold only its records."""
        return cls(copy.deepcopy(outcome), [], history.events(), ledger.entries())

    def replay_into(self, history: History, ledger: Ledger) -> tuple[RunOutcome, list[str]]:
        """Write the golden run's records into a new trial's history and ledger; its outcome and misses."""
        for event in self.events:
            history.append(event)
        for entry in self.entries:
            ledger.append(entry)
        return copy.deepcopy(self.outcome), list(self.misses)
