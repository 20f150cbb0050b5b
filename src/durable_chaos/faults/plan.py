"""An armed fault plan: decides, at each unit boundary, whether a fault fires."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from durable_chaos.faults.model import Fault, Phase, Selector
from durable_chaos.faults.units import UnitRef, UnitTracker


@dataclass
class ArmedPlan:
    """The faults of one plan with how often each has fired so far."""

    faults: Sequence[Fault]
    fired: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.fired:
            self.fired = [0] * len(self.faults)

    def select(
        self,
        tracker: UnitTracker,
        unit: UnitRef,
        attempt: int,
        phase: Phase,
        *,
        streaming: bool = False,
        where: Callable[[Fault], bool] | None = None,
        resumed: bool = False,
    ) -> tuple[int, Fault] | None:
        """The first fault that strikes this unit attempt at this phase, counted as fired.
        ``streaming``: the unit is a model request whose response streams (stream faults need one).
        ``where``: only faults it accepts are considered (the others stay armed for another place).
        ``resumed``: this process resumes a killed run (faults ``during: recovery`` fire only then)."""
        for index, fault in enumerate(self.faults):
            selector = fault.at
            if self.fired[index] >= selector.times or selector.phase != phase:
                continue
            if where is not None and not where(fault):
                continue
            if fault.streaming_only and not streaming:
                continue
            if not fault.fires_in(resumed=resumed):
                continue
            if not (fault.applies_to(unit.kind) and strikes(selector, tracker, unit, attempt)):
                continue
            self.fired[index] += 1
            return index, fault
        return None

    def unfired(self) -> list[tuple[int, Fault]]:
        """Faults that never fired: a trial with any of these is an error, never a pass."""
        return [(i, f) for i, f in enumerate(self.faults) if self.fired[i] == 0]


def strikes(selector: Selector, tracker: UnitTracker, unit: UnitRef, attempt: int) -> bool:
    """Whether ``selector`` picks this attempt of this unit (kind, name, occurrence, attempt; the
    caller checks the phase)."""
    if not selector.matches_unit(unit.kind, unit.name):
        return False
    if selector.occurrence is not None and tracker.occurrence(unit, selector) != selector.occurrence:
        return False
    return selector.attempt is None or selector.attempt == attempt
