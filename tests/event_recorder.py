"""A trial observer for unit tests of the fault layer: keeps the events it is given, sees no engine."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import TypeAdapter

from durable_chaos.faults.context import Injection, activated
from durable_chaos.faults.injectors.http import model_faults
from durable_chaos.faults.model import Fault
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker

FAULT: TypeAdapter[Fault] = TypeAdapter(Fault)


class EventRecorder:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def event(self, record: dict[str, Any]) -> None:
        self.events.append(record)

    def model_exchange(self, record: dict[str, Any]) -> None:
        pass

    def unit_context(self) -> dict[str, Any]:
        return {}

    def of(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == event]


@contextmanager
def injected_model_faults(*faults: dict[str, Any]) -> Iterator[tuple[EventRecorder, ArmedPlan]]:
    """The HTTP fault layer armed with ``faults`` (as a scenario writes them), outside any engine: the
    recorder that sees its events and the plan (which faults fired)."""
    recorder = EventRecorder()
    plan = ArmedPlan([FAULT.validate_python(f) for f in faults])
    with model_faults(), activated(Injection(plan, UnitTracker(), recorder)):
        yield recorder, plan
