"""A trial's result: its verdict, what the checkers found, and its line of the JSON report.

Reports and the pytest plugin import this, not the runner: it imports nothing at run time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from durable_chaos.infra.engines import RunOutcome
    from durable_chaos.judge.accounting import ModelCalls, Tokens
    from durable_chaos.judge.checkers import Verdict
    from durable_chaos.judge.evidence import VariantRuns
    from durable_chaos.judge.pricing import Cost
    from durable_chaos.scenario.trial_specs import TrialSpec

UNIT_KEYS = ("kind", "name", "fingerprint")
"""What fault coverage reads of a golden-run unit."""


@dataclass
class TrialResult:
    spec: TrialSpec
    verdict: str
    reason: str
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    calls: ModelCalls | None = None
    tokens: Tokens | None = None
    golden: RunOutcome | None = None
    faulted: RunOutcome | None = None
    fired: list[int] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    workdir: Path | None = None
    seconds: float = 0.0
    resumes: int = 0
    cost: Cost | None = None
    variants: list[VariantRuns] = field(default_factory=list)
    harness_changes: list[str] = field(default_factory=list)
    """What the harness changed in how the engine ran the user's units (the engine adapter's list)."""
    upgrade: dict[str, Any] | None = None
    """An upgrade trial's versions: ``{"from": N, "to": N+1, "resumed_on_n_plus_1": bool}``."""

    def __repr__(self) -> str:  # the fields hold the whole history: megabytes
        return f"<TrialResult {self.spec.title}: {self.verdict}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))  # Hypothesis's printer would show the dataclass's fields

    def to_report(self) -> dict[str, Any]:
        """This trial in the JSON report (version 1)."""
        plan = self.spec.plan
        return {
            "scenario": self.spec.scenario.name,
            "scenario_file": str(self.spec.scenario.path) if self.spec.scenario.path else None,
            "engine": self.spec.engine,
            "plan": plan.name,
            "faults": [
                {**fault.model_dump(mode="json"), "fired": self.fired[i] if i < len(self.fired) else 0}
                for i, fault in enumerate(plan.faults)
            ],
            "verdict": self.verdict,
            "reason": self.reason,
            "expected_violations": self.spec.scenario.expect_for(plan).violations,
            "properties": {name: v.as_dict() for name, v in self.verdicts.items()},
            "model_calls": {
                "golden": self.calls.golden if self.calls else 0,
                "total": self.calls.total if self.calls else 0,
                "duplicates": self.calls.duplicates if self.calls else 0,
                "expected_reexecutions": self.calls.expected_reexecutions if self.calls else 0,
                "depends_on_scheduling": bool(self.calls and self.calls.concurrent > 1),
                "mcp_listings": self.calls.mcp_listings if self.calls else 0,
                "mcp_listing_units": self.calls.mcp_listing_units if self.calls else 0,
                "mcp_listings_per_model_request": (
                    round(self.calls.mcp_listings_per_model_request, 3) if self.calls else 0.0
                ),
            },
            "tokens": {
                "golden": self.tokens.golden if self.tokens else 0,
                "spent": self.tokens.spent if self.tokens else 0,
                "naive_restart": self.tokens.naive_restart if self.tokens else 0,
                "saved": self.tokens.saved if self.tokens else 0,
            },
            "cost": self.cost.as_dict() if self.cost else None,
            "resumes": self.resumes,
            "resume_mode": self.spec.scenario.resume,
            "resume_worker": self.spec.scenario.resume_worker,
            "variants": [
                {"name": v.name, "completed": v.shared.completed, "fresh_completed": v.reference.completed}
                for v in self.variants
            ],
            "harness_changes": list(self.harness_changes),
            "upgrade": self.upgrade,
            "seconds": round(self.seconds, 3),
            "ran": self.calls is not None,
            "point": self._point(),
            "coverage_events": self._coverage_events(),
        }

    def _coverage_events(self) -> list[dict[str, Any]]:
        """The few history events fault coverage is computed from (a plain trial's golden-run units and
        the faults that fired, see :mod:`durable_chaos.explore.coverage`), so that ``durable-chaos merge``
        can compute it again over every shard's trials; empty for a sweep's trial (its point says it)."""
        from durable_chaos.events import FAULT, INVOKE

        if self.spec.point is not None:
            return []
        kept: list[dict[str, Any]] = []
        for event in self.events:
            unit = event.get("unit")
            if not isinstance(unit, dict):
                continue
            if event.get("event") == INVOKE and event.get("role") == "golden":
                kept.append({"event": INVOKE, "role": "golden", "unit": {k: unit.get(k) for k in UNIT_KEYS}})
            elif event.get("event") == FAULT and isinstance(event.get("fault"), dict):
                fault = {"kind": event["fault"].get("kind"), "phase": event["fault"].get("phase")}
                where = {"fingerprint": unit.get("fingerprint")}
                kept.append({"event": FAULT, "role": event.get("role"), "unit": where, "fault": fault})
        return kept

    def _point(self) -> dict[str, Any] | None:
        """A sweep's trial: its crash point and the sweep's table (what ``durable-chaos merge`` rebuilds
        the sweep's matrix and coverage from); None for other trials."""
        point, sweep = self.spec.point, self.spec.scenario.sweep
        if point is None or not is_dataclass(point) or isinstance(point, type):
            return None
        return asdict(point) | {"sweep": sweep.model_dump(mode="json") if sweep is not None else None}
