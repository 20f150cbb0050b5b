"""What the checkers judge: the outcomes, history and ledger of one trial, as plain data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from durable_chaos.events import FAULT
from durable_chaos.faults.model import CONVERSATION_CHANGING_KINDS
from durable_chaos.infra.engines.base import EngineRules, RunOutcome

GOLDEN = "golden"
FAULTED = "faulted"
RESUME_PREFIX = "resume-"
VARIANT_PREFIX = "variant:"
REFERENCE_PREFIX = "reference:"
WARM_UP_PREFIX = "warm-up-"
"""A warm resume's warm-up run (``warm-up-<n>`` before ``resume-<n>``): a complete run of its own in the
resume's worker, before it resumes the faulted run; not the faulted run's (no property counts it)."""

Comparator = Callable[[Any, Any], Any]
"""``(golden, faulted) -> bool | (bool, reason)`` on jsonable outputs (``expect.comparator``)."""


def unit_label(unit: dict[str, Any]) -> str:
    """``model_request #2 (gpt-4o)``: a unit as verdicts name it."""
    return f"{unit['kind']} #{unit['ordinal']} ({unit['name']})"


def is_faulted(role: str) -> bool:
    """The faulted run and its resumes (``faulted``, ``resume-1``, ...), as opposed to the golden run
    and the variant runs (``variant:<name>``, ``reference:<name>``)."""
    return role == FAULTED or role.startswith(RESUME_PREFIX)


def warm_up_role(resume_role: str) -> str:
    """The warm-up run of a warm resume (``resume-2`` -> ``warm-up-2``)."""
    return WARM_UP_PREFIX + resume_role.removeprefix(RESUME_PREFIX)


def variant_role(name: str) -> str:
    """The variant's run in the golden run's engine context, where caches could be shared."""
    return f"{VARIANT_PREFIX}{name}"


UPGRADED_REFERENCE = f"{REFERENCE_PREFIX}_upgraded"
"""An upgrade's N+1 run from scratch, in an engine context of its own (no variant name starts with ``_``)."""


def reference_role(name: str) -> str:
    """The variant's run in a fresh engine context of its own: what it sends when nothing is shared."""
    return f"{REFERENCE_PREFIX}{name}"


@dataclass(frozen=True)
class VariantRuns:
    """The two runs of one variant (the same scenario with other inputs)."""

    name: str
    reference: RunOutcome
    """In a fresh engine context: nothing to share with."""
    shared: RunOutcome
    """In the golden run's engine context (result storage, system database), after the golden run and
    the variants before it."""


@dataclass(frozen=True)
class Evidence:
    """Everything a property checker may look at. Checkers are pure functions of this."""

    golden: RunOutcome
    faulted: RunOutcome
    events: list[dict[str, Any]]
    ledger: list[dict[str, Any]]
    side_effecting_tools: tuple[str, ...] = ()
    idempotency: dict[str, Any] = field(default_factory=dict)
    """Tool name -> ``"call_id"`` or ``{"argument": name}`` for side-effecting tools declared idempotent."""
    effects: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Tool name -> (effects made by the golden run, by the faulted run and its resumes), as the
    scenario's ``effects`` functions observed them."""
    extra: dict[str, Any] = field(default_factory=dict)
    max_resumes_to_complete: int | None = None
    comparator: Comparator | None = None
    comparator_name: str | None = None
    variants: tuple[VariantRuns, ...] = ()
    rules: EngineRules = field(default_factory=EngineRules)
    """The engine's share of judgement (unit identity, hints), from its spec."""

    def faulted_events(self, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if is_faulted(e["role"]) and (event is None or e["event"] == event)]

    def role_events(self, role: str, event: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["role"] == role and (event is None or e["event"] == event)]

    def golden_ledger(self) -> list[dict[str, Any]]:
        return [e for e in self.ledger if e["role"] == GOLDEN]

    def faulted_ledger(self) -> list[dict[str, Any]]:
        return sorted((e for e in self.ledger if is_faulted(e["role"])), key=lambda e: e["t"])

    def role_ledger(self, role: str) -> list[dict[str, Any]]:
        return sorted((e for e in self.ledger if e["role"] == role), key=lambda e: e["t"])

    def resumes(self) -> int:
        """How many resumes (new worker processes after a kill) the faulted run needed."""
        return sum(
            1 for e in self.events if e["event"] == "run_start" and e["role"].startswith(RESUME_PREFIX)
        )

    def conversation_changed(self) -> str | None:
        """Why the faulted run may legitimately differ from a clean one: a fault that changes the
        conversation fired (a retry prompt) *and* the run sent a request the golden run never made;
        ``None`` otherwise."""
        changing = sorted(
            {f["fault"]["kind"] for f in self.faulted_events(FAULT)} & CONVERSATION_CHANGING_KINDS
        )
        asked = {send["fingerprint"] for send in self.golden_ledger()}
        other = [send for send in self.faulted_ledger() if send["fingerprint"] not in asked]
        if not (changing and other):
            return None
        return (
            f"{', '.join(changing)} changed the conversation ({unit_label(other[0]['unit'])} is a request "
            "the golden run never made)"
        )
