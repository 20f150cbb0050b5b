"""What a trial is, as data (light: collection builds these without importing the runner)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from durable_chaos.scenario.model import Plan, Scenario


@dataclass(frozen=True)
class TrialSpec:
    """One trial: a scenario, an engine, a fault plan."""

    scenario: Scenario
    engine: str
    plan: Plan
    point: Any = None
    """A sweep's trial: its :class:`~durable_chaos.explore.sweep.CrashPoint` (None otherwise)."""

    @property
    def id(self) -> str:
        return f"{self.engine}-{self.plan.name}"

    @property
    def title(self) -> str:
        return f"{self.scenario.name}[{self.id}]"
