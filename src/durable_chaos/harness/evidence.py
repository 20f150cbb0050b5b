"""What the checkers judge: the outcomes, history and ledger of one trial, as plain data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from durable_chaos.fixtures.engines.base import RunOutcome

GOLDEN = "golden"


def is_faulted(role: str) -> bool:
    """The faulted run and its resumes (``faulted``, ``resume-1``, ...), as opposed to the golden run."""
    return role != GOLDEN


@dataclass(frozen=True)
class Evidence:
    """Everything a property checker may look at. Checkers are pure functions of this."""

    golden: RunOutcome
    faulted: RunOutcome
    events: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    side_effecting_tools: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def faulted_events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if is_faulted(e["role"]) and (event is None or e["event"] == event)]

    def golden_ledger(self) -> list[dict[str, Any]]:
        return [e for e in self.ledger if not is_faulted(e["role"])]

    def faulted_ledger(self) -> list[dict[str, Any]]:
        return sorted((e for e in self.ledger if is_faulted(e["role"])), key=lambda e: e["t"])
