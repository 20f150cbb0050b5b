"""Model calls and tokens: which sends were first sends, expected re-executions or duplicates, and
what a naive restart would have spent. Pure functions of the ledger and the history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from durable_chaos.fixtures.ledger import tokens
from durable_chaos.harness.evidence import Evidence


@dataclass(frozen=True)
class ModelCalls:
    golden: int
    total: int
    duplicates: int
    expected_reexecutions: int
    duplicate_sends: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Tokens:
    golden: int
    spent: int
    naive_restart: int
    saved: int


def checkpoint_times(evidence: Evidence) -> dict[str, float]:
    """For each model request fingerprint, when its response was first checkpointed.

    A response is checkpointed when it was delivered to the agent (history ``ok``) and, where the
    engine reports checkpoints, the durable unit attempt that received it then completed. A send of
    the same request *after* that moment is a duplicate: the engine should have replayed it.
    """
    checkpoints = {
        (c["engine"].get("task_run_id"), c["engine"].get("task_run_count")): c["t"]
        for c in evidence.faulted_events("checkpoint")
        if c.get("engine")
    }
    times: dict[str, float] = {}
    for ok in evidence.faulted_events("ok"):
        if ok["unit"]["kind"] != "model_request":
            continue
        engine = ok.get("engine") or {}
        if engine.get("task_run_id") is not None:
            at = checkpoints.get((engine["task_run_id"], engine.get("task_run_count")))
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
    )


def token_use(evidence: Evidence) -> Tokens:
    """Tokens of the golden run, of the durable faulted run, and of a naive restart.

    ``naive_restart`` is what re-running the whole agent from scratch after the first fault would
    have spent: the work done up to that fault (lost by a restart) plus one whole clean run.
    """
    golden = tokens(evidence.golden_ledger())
    sends = evidence.faulted_ledger()
    spent = tokens(sends)
    faults = evidence.faulted_events("fault")
    if not faults:
        naive = spent
    else:
        first = min(f["t"] for f in faults)
        naive = tokens([s for s in sends if s["t"] <= first]) + golden
    return Tokens(golden=golden, spent=spent, naive_restart=naive, saved=naive - spent)
