"""Property checkers: pure functions from a trial's :class:`Evidence` to a :class:`Verdict`.

Each returns held (True), violated (False, with an explanation naming the unit), or not applicable
(None). Exact definitions are in docs/properties.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from durable_chaos.harness.accounting import model_calls
from durable_chaos.harness.evidence import Evidence


@dataclass(frozen=True)
class Verdict:
    held: bool | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"held": self.held, "detail": self.detail}


Checker = Callable[[Evidence], Verdict]


def completes(evidence: Evidence) -> Verdict:
    """The faulted run finishes with an output (after retries and resumes)."""
    faults = len(evidence.faulted_events("fault"))
    if evidence.faulted.completed:
        return Verdict(True, f"the run completed; {faults} fault(s) fired")
    return Verdict(False, f"the run did not complete after {faults} fault(s): {evidence.faulted.error}")


def _unit_label(unit: dict[str, Any]) -> str:
    return f"{unit['kind']} #{unit['ordinal']} ({unit['name']})"


def no_duplicate_model_calls(evidence: Evidence) -> Verdict:
    """No model request is sent again after its response was checkpointed."""
    calls = model_calls(evidence)
    if calls.duplicates == 0:
        return Verdict(
            True,
            f"{calls.total} model call(s), none repeated after checkpoint; "
            f"{calls.expected_reexecutions} expected re-execution(s) of requests in flight at a fault",
        )
    first = calls.duplicate_sends[0]
    units = sorted({_unit_label(s["unit"]) for s in calls.duplicate_sends})
    return Verdict(
        False,
        f"{calls.duplicates} model call(s) were sent again after their response had been checkpointed: "
        f"{', '.join(units)} (first repeat at attempt {first['attempt']}, role {first['role']}). "
        "The engine re-executed completed work instead of replaying it: check that the retry or resume "
        "re-runs the same durable run (same flow run / workflow id) and that cache keys are stable.",
    )


ENGINE_TOOL_HINTS = {
    "dbos": "Under DBOS, plain function tools are not durable steps: they run in the workflow itself and "
    "run again on every recovery. Put the side effect in a @DBOS.step (or a DBOS step-wrapped toolset), or "
    "make it idempotent with an idempotency key.",
    "prefect": "The tool's Prefect task ran again: it had not completed (or its cached result could not be "
    "reused) when the run was retried or resumed. Make the side effect idempotent (an idempotency key) and "
    "check that the task's cache key is stable.",
}


def tools_exactly_once(evidence: Evidence) -> Verdict:
    """Each call of a side-effecting tool executes its body once per logical call, across retries,
    kills and resumes."""
    tools = set(evidence.side_effecting_tools)
    if not tools:
        return Verdict(None, "the scenario marks no tool as side-effecting")
    replayed = {
        (e["pid"], e["unit"]["fingerprint"], e["attempt"])
        for e in evidence.faulted_events("ok")
        if e["unit"]["kind"] == "tool_call" and e.get("replayed")
    }
    executions: dict[str, list[dict[str, Any]]] = {}
    for event in evidence.faulted_events("execute"):
        unit = event["unit"]
        if unit["kind"] != "tool_call" or unit["name"] not in tools:
            continue
        if (event["pid"], unit["fingerprint"], event["attempt"]) in replayed:
            continue  # its side effect sits in a journaled step, which the engine replayed
        executions.setdefault(unit["fingerprint"], []).append(event)
    repeated = {fp: runs for fp, runs in executions.items() if len(runs) > 1}
    if not repeated:
        return Verdict(True, f"{len(executions)} side-effecting call(s), each executed exactly once")
    runs = next(iter(repeated.values()))
    unit = runs[0]["unit"]
    roles = ", ".join(dict.fromkeys(r["role"] for r in runs))
    in_flight = any(
        f["unit"]["fingerprint"] == unit["fingerprint"] and f["fault"]["phase"] == "after"
        for f in evidence.faulted_events("fault")
    )
    if in_flight:
        why = (
            "It was in flight when a fault struck after its effect (the at-least-once window): only an "
            "idempotent tool survives that."
        )
    elif evidence.extra.get("resume") == "new_run":
        why = (
            "After the kill a fresh run with a new id was started instead of recovering the interrupted "
            "one, so nothing the interrupted run journaled (even a step-wrapped tool) could be replayed."
        )
    else:
        why = ENGINE_TOOL_HINTS.get(str(evidence.extra.get("engine")), "The engine re-executed it.")
    return Verdict(
        False,
        f"{len(repeated)} side-effecting call(s) executed more than once; first: tool {unit['name']!r} "
        f"(call {runs[0].get('call_id') or unit['fingerprint']}, {_unit_label(unit)}) ran {len(runs)} times "
        f"(roles {roles}). {why}",
    )


def logical_cache_units(evidence: Evidence) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Cache-key observations grouped by logical unit: (task name, position among same-named tasks
    within one attempt of the trial flow in one process). Retries of a task run keep their position."""
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    positions: dict[str, int] = {}
    counters: dict[tuple[Any, ...], int] = {}
    for event in evidence.faulted_events("cache_key"):
        engine = event["engine"]
        run_id = engine["task_run_id"]
        if run_id not in positions:
            scope = (event["role"], engine.get("epoch"), engine["task_name"])
            counters[scope] = counters.get(scope, 0) + 1
            positions[run_id] = counters[scope]
        groups.setdefault((engine["task_name"], positions[run_id]), []).append(event)
    return groups


def stable_cache_keys(evidence: Evidence) -> Verdict:
    """Every attempt and resume of the same logical unit computes the same cache key."""
    groups = logical_cache_units(evidence)
    if not groups:
        return Verdict(None, "the engine reported no cache keys for this run")
    unstable = {unit: obs for unit, obs in groups.items() if len({o["key"] for o in obs}) > 1}
    repeated = sum(1 for obs in groups.values() if len(obs) > 1)
    if not unstable:
        return Verdict(
            True, f"{len(groups)} unit(s), {repeated} seen more than once, each with one cache key"
        )
    (name, position), observations = next(iter(sorted(unstable.items())))
    keys = [o["key"] for o in observations]
    runs = {o["engine"].get("flow_run_id") for o in observations} - {None}
    if len(runs) > 1:
        return Verdict(
            False,
            f"{len(unstable)} unit(s) changed cache key between attempts; first: task {name!r} #{position} "
            f"ran in {len(runs)} different flow runs, and the cache key includes the flow run id. The "
            "interrupted run was not resumed: a new run (a fresh flow run, or a wrapper's fresh subflow) "
            "started instead, so no completed unit could be reused. Re-run the same flow run after a "
            "failure (flow retries, or re-executing that flow run id).",
        )
    return Verdict(
        False,
        f"{len(unstable)} unit(s) changed cache key between attempts; first: task {name!r} #{position} "
        f"had keys {', '.join(str(k)[:12] for k in dict.fromkeys(keys))}. Something in the unit's inputs "
        "changes on every attempt (a timestamp, a random id, the current time in an argument or in deps), "
        "so completed work can never be reused: make the inputs deterministic or exclude that field "
        "from the cache policy.",
    )


def jsonable(value: Any) -> Any:
    """A structural, comparable form of an agent output."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


_MISSING = object()


def first_difference(a: Any, b: Any, path: str = "output") -> str | None:
    """The path of the first difference between two jsonable values, or None if equal.

    A missing key differs from a ``None`` value, and ``True`` differs from ``1``.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            diff = first_difference(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = first_difference(x, y, f"{path}[{i}]")
            if diff:
                return diff
        return None
    if type(a) is not type(b) and (
        isinstance(a, bool) or isinstance(b, bool) or a is _MISSING or b is _MISSING
    ):
        return f"{path}: golden {_show(a)} vs faulted {_show(b)}"
    return None if a == b else f"{path}: golden {_show(a)} vs faulted {_show(b)}"


def _show(value: Any) -> str:
    return "(missing)" if value is _MISSING else repr(value)


def output_matches_golden(evidence: Evidence) -> Verdict:
    """The faulted run's output equals the golden run's, structurally."""
    if not evidence.faulted.completed:
        return Verdict(None, "the faulted run has no output to compare")
    diff = first_difference(jsonable(evidence.golden.output), jsonable(evidence.faulted.output))
    if diff is None:
        return Verdict(True, "the output equals the golden run's")
    return Verdict(False, f"the output differs from the golden run's at {diff}")


CHECKERS: dict[str, Checker] = {
    "completes": completes,
    "no_duplicate_model_calls": no_duplicate_model_calls,
    "stable_cache_keys": stable_cache_keys,
    "tools_exactly_once": tools_exactly_once,
    "output_matches_golden": output_matches_golden,
}


def check(evidence: Evidence, properties: list[str]) -> dict[str, Verdict]:
    """Run the named checkers."""
    return {name: CHECKERS[name](evidence) for name in properties}


def judge(verdicts: dict[str, Verdict], expected_violations: list[str], errors: list[str]) -> tuple[str, str]:
    """The trial's verdict (pass, fail, error) and a one-line reason.

    With expected violations (a known-bad agent), the trial passes only when exactly those
    properties are reported violated; reporting nothing, or something else, fails it.
    """
    if errors:
        return "error", "; ".join(errors)
    violated = sorted({name for name, v in verdicts.items() if v.held is False})
    expected = sorted(set(expected_violations))
    if violated == expected:
        if expected:
            return (
                "pass",
                f"the known-bad agent was caught: exactly {', '.join(expected)} violated, as expected",
            )
        return "pass", "every property held"
    if expected:
        return "fail", f"expected exactly {expected} to be violated, got {violated or 'no violation'}"
    return "fail", "violated: " + "; ".join(f"{n}: {verdicts[n].detail}" for n in violated)
