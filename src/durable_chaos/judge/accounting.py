"""Model calls and tokens: which sends were first sends, expected re-executions or duplicates, and
what a naive restart would have spent. Pure functions of the ledger and the history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from durable_chaos import events
from durable_chaos.faults.model import FAILING_KINDS
from durable_chaos.infra.ledger import tokens
from durable_chaos.judge.evidence import GOLDEN, Evidence
from durable_chaos.judge.network_effects import network_failures


@dataclass(frozen=True)
class ModelCalls:
    golden: int
    total: int
    duplicates: int
    expected_reexecutions: int
    duplicate_sends: list[dict[str, Any]] = field(default_factory=list)
    concurrent: int = 0
    """Model requests of the golden run that were in flight together with another: when more than one,
    how a fault or kill lands among them depends on scheduling, and so can the counts."""
    mcp_listings: int = 0
    """MCP tool listings (``<server>:tools/list``) the golden run made: a durable MCP wrapper that lists
    a server's tools on every model request multiplies them (and, as its own unit, the engine's work)."""
    mcp_listing_units: int = 0
    """Of those, the listings the engine ran as a durable unit of their own (a step or an activity the
    engine names), rather than inline in the workflow."""

    @property
    def mcp_listings_per_model_request(self) -> float:
        """MCP tool listings per model request of the golden run (0 without model requests)."""
        return self.mcp_listings / self.golden if self.golden else 0.0


@dataclass(frozen=True)
class Tokens:
    golden: int
    spent: int
    naive_restart: int
    saved: int


def checkpoint_times(evidence: Evidence) -> dict[str, float]:
    """For each model request fingerprint, when its response was first checkpointed.

    A response is checkpointed when it was delivered to the agent (history ``ok``) and the durable
    unit that received it was then recorded by the engine (a ``checkpoint`` event for the same unit
    attempt, as the engine's rules pair them: a task run attempt, a step, an activity). Where the
    engine names no unit, delivery counts as the checkpoint. A send of the same request *after* that
    moment is a duplicate: the engine should have replayed it.
    """
    checkpoints: dict[tuple[Any, ...], float] = {}
    rules = evidence.rules
    for c in evidence.faulted_events(events.CHECKPOINT):
        key = rules.unit_attempt_key(c.get("engine") or {})
        if key is not None and not c["engine"].get("error"):
            checkpoints.setdefault(key, c["t"])
    times: dict[str, float] = {}
    for ok in evidence.faulted_events(events.OK):
        if ok["unit"]["kind"] != "model_request" or int(ok.get("status") or 200) >= 400:
            continue
        key = rules.unit_attempt_key(ok.get("engine") or {})
        if key is not None:
            at = checkpoints.get(key)
            if at is None:
                continue
        else:
            at = ok["t"]
        fp = ok["unit"]["fingerprint"]
        times[fp] = min(times.get(fp, at), at)
    return times


def model_calls(evidence: Evidence) -> ModelCalls:
    """Classify every model exchange of the faulted run and its resumes."""
    checkpointed = checkpoint_times(evidence)
    seen: set[str] = set()
    duplicates: list[dict[str, Any]] = []
    reexecutions = 0
    sends = evidence.faulted_ledger()
    for send in sends:
        fp = send["fingerprint"]
        if fp in checkpointed and checkpointed[fp] < send["t"]:
            duplicates.append(send)
        elif fp in seen:
            reexecutions += 1
        seen.add(fp)
    return ModelCalls(
        golden=len(evidence.golden_ledger()),
        total=len(sends),
        duplicates=len(duplicates),
        expected_reexecutions=reexecutions,
        duplicate_sends=duplicates,
        concurrent=concurrent_model_requests(evidence),
        **mcp_listings(evidence),
    )


LISTING = ":tools/list"
"""How an MCP unit that lists its server's tools is named (``<server>:tools/list``)."""


def mcp_listings(evidence: Evidence) -> dict[str, int]:
    """The golden run's MCP tool listings (each executed once there) and how many ran as a durable unit
    the engine names (its rules give the listing's unit attempt a key)."""
    listings = [
        e
        for e in evidence.role_events(GOLDEN, events.EXECUTE)
        if (e.get("unit") or {}).get("kind") == "mcp" and str(e["unit"].get("name", "")).endswith(LISTING)
    ]
    units = [e for e in listings if evidence.rules.unit_attempt_key(e.get("engine") or {}) is not None]
    return {"mcp_listings": len(listings), "mcp_listing_units": len(units)}


def concurrent_model_requests(evidence: Evidence) -> int:
    """How many of the golden run's model request attempts overlapped in time with another one (a
    concurrent fan-out): their order, and so which of them a selector or a kill strikes, depends on
    scheduling."""
    open_at: dict[tuple[Any, ...], float] = {}
    spans: list[tuple[float, float]] = []
    for event in evidence.role_events(GOLDEN):
        unit = event.get("unit") or {}
        if unit.get("kind") != "model_request":
            continue
        key = (event.get("pid"), unit.get("fingerprint"), event.get("attempt"))
        if event["event"] == events.INVOKE:
            open_at[key] = event["t"]
        elif event["event"] in (events.OK, events.FAIL) and key in open_at:
            spans.append((open_at.pop(key), event["t"]))
    spans.sort()
    overlapping: set[int] = set()
    for i, (_start, end) in enumerate(spans):
        for j in range(i + 1, len(spans)):
            if spans[j][0] >= end:
                break
            overlapping |= {i, j}
    return len(overlapping)


FAILING_FAULTS = FAILING_KINDS
"""Fault kinds that fail the unit they strike (``Traits.fails_unit``). A ``network`` fault fails no unit
by itself: the units that failed while its toxic was applied count instead (:func:`network_failures`), a
lost model response as a request that was sent. ``restart`` faults are not counted: they act on the
engine's own infrastructure (its database, its API server), which a system without checkpoints does not
have."""


def restart_losses(evidence: Evidence) -> int:
    """Tokens a naive system (no checkpoints) would lose to the faults: each unit struck by a
    failing fault, or failed by the network while a network fault was applied, forces one restart
    from scratch, losing the golden run's model calls made before that unit (and the struck request
    itself when the fault hit after it was sent)."""
    golden_sends = sorted(evidence.golden_ledger(), key=lambda e: e["t"])
    first_invoke: dict[str, float] = {}
    for event in evidence.events:
        if event["role"] == GOLDEN and event["event"] == events.INVOKE:
            first_invoke.setdefault(event["unit"]["fingerprint"], event["t"])
    struck: dict[str, bool] = {}
    for fault in evidence.faulted_events(events.FAULT):
        if fault["fault"]["kind"] in FAILING_FAULTS:
            fp = fault["unit"]["fingerprint"]
            struck[fp] = struck.get(fp, False) or fault["fault"]["phase"] == "after"
    for fp, sent in network_failures(evidence.events).items():
        struck[fp] = struck.get(fp, False) or sent
    lost = 0
    for fp, after in struck.items():
        if fp not in first_invoke:
            continue
        lost += tokens([s for s in golden_sends if s["t"] < first_invoke[fp]])
        if after:
            lost += tokens([s for s in golden_sends if s["fingerprint"] == fp][:1])
    return lost


def token_use(evidence: Evidence) -> Tokens:
    """Tokens of the golden run, of the durable faulted run, and of a naive restart.

    ``naive_restart`` is what re-running the whole agent from scratch after each failure would
    have spent: one whole clean run plus the work each restart throws away (:func:`restart_losses`).
    A run that did not complete saved nothing: ``saved`` is 0 then.
    """
    golden = tokens(evidence.golden_ledger())
    spent = tokens(evidence.faulted_ledger())
    naive = golden + restart_losses(evidence)
    saved = naive - spent if evidence.faulted.completed else 0
    return Tokens(golden=golden, spent=spent, naive_restart=naive, saved=saved)
