"""What a trial is, as data (light: collection builds these without importing the runner)."""

from __future__ import annotations

from dataclasses import dataclass

from durable_chaos.harness.scenario import Plan, Scenario


@dataclass(frozen=True)
class TrialSpec:
    """One trial: a scenario, an engine, a fault plan."""

    scenario: Scenario
    engine: str
    plan: Plan

    @property
    def id(self) -> str:
        return f"{self.engine}-{self.plan.name}"

    @property
    def title(self) -> str:
        return f"{self.scenario.name}[{self.id}]"
