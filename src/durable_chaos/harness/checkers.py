"""Property checkers: pure functions from a trial's :class:`Evidence` to a :class:`Verdict`.

Each returns held (True), violated (False, with an explanation naming the unit), or not applicable
(None). Exact definitions are in docs/properties.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from durable_chaos.fixtures.engines.base import RunOutcome
from durable_chaos.harness.accounting import engine_attempt, model_calls
from durable_chaos.harness.evidence import (
    GOLDEN,
    Evidence,
    VariantRuns,
    reference_role,
    variant_role,
)


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
    why = (
        " (the engine refused to recover a nondeterministic workflow: see stable_cache_keys)"
        if evidence.faulted_events("step_mismatch")
        else ""
    )
    return Verdict(False, f"the run did not complete after {faults} fault(s): {evidence.faulted.error}{why}")


def completes_within(evidence: Evidence) -> Verdict:
    """The faulted run completes after at most ``expect.max_resumes_to_complete`` resumes."""
    bound = evidence.max_resumes_to_complete
    if bound is None:
        return Verdict(None, "no bound set (expect.max_resumes_to_complete)")
    resumes = evidence.resumes()
    kills = len(evidence.faulted_events("killed")) or len(
        [f for f in evidence.faulted_events("fault") if f["fault"]["kind"] == "kill"]
    )
    if evidence.faulted.completed and resumes <= bound:
        return Verdict(True, f"the run completed after {resumes} resume(s); the bound is {bound}")
    if evidence.faulted.completed:
        return Verdict(
            False,
            f"the run completed only after {resumes} resume(s), more than the bound of {bound}: its worker "
            f"was killed {kills} time(s) and every kill cost a new worker and a recovery. Raise "
            "expect.max_resumes_to_complete if this many crashes are expected.",
        )
    return Verdict(
        False,
        f"the run did not complete within {bound} resume(s): it used {resumes} and ended with "
        f"{evidence.faulted.error}",
    )


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
    """Every attempt and resume of the same logical unit has the same identity in the engine: the same
    cache key (Prefect), the same function at the same step id (DBOS)."""
    if evidence.faulted_events("cache_key"):
        return _stable_cache_keys(evidence)
    if step_observations(evidence.faulted_events()):
        return stable_step_identity(evidence)
    if evidence.extra.get("engine") == "temporal":
        return Verdict(None, "not implemented for Temporal yet (its history replay would be the check)")
    return Verdict(None, "the engine reported no cache keys or steps for this run")


def _stable_cache_keys(evidence: Evidence) -> Verdict:
    """Prefect: every attempt and resume of the same logical task computes the same cache key."""
    groups = logical_cache_units(evidence)
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


STEP_EVENTS = frozenset({"checkpoint", "replay", "step_mismatch"})
CONVERSATION_CHANGING_FAULTS = frozenset({"malformed_output", "tool_error"})
"""Faults after which the agent legitimately sends other requests than the golden run (a retry prompt)."""


def step_observations(events: list[dict[str, Any]]) -> list[tuple[str, str, int, str]]:
    """(role, workflow id, step id, function name) of every step the engine journaled or replayed, and
    both names of a step it refused because its journal recorded another function at that id."""
    found: list[tuple[str, str, int, str]] = []
    for event in events:
        engine = event.get("engine") or {}
        if event["event"] not in STEP_EVENTS or engine.get("function_id") is None:
            continue
        where = (event["role"], str(engine["workflow_id"]), int(engine["function_id"]))
        if event["event"] == "step_mismatch":
            found.append((*where, str(engine["recorded_function_name"])))
        found.append((*where, str(engine["function_name"])))
    return found


def step_names(observations: list[tuple[str, str, int, str]]) -> dict[tuple[str, int], list[str]]:
    """The distinct function names seen at each (workflow, step id), in order of appearance."""
    names: dict[tuple[str, int], list[str]] = {}
    for _, workflow, step, name in observations:
        seen = names.setdefault((workflow, step), [])
        if name not in seen:
            seen.append(name)
    return names


def relative_workflow(workflow: str, roots: list[str]) -> str:
    """A workflow's id relative to the run's root workflow (``""`` for the root, ``"-5"`` for the child
    it started at step 5, ...), so the golden run's and the faulted run's workflows can be paired."""
    root = max((r for r in roots if workflow.startswith(r)), key=len, default=None)
    return workflow if root is None else workflow[len(root) :]


def run_roots(outcome: RunOutcome) -> list[str]:
    """The root workflows of a run, as its outcome names them: the workflow it ran (or recovered) and,
    for a ``new_run`` resume, the one it abandoned."""
    ids = outcome.engine_ids or {}
    return [str(ids[key]) for key in ("workflow_id", "abandoned_workflow_id") if ids.get(key)]


def _workflow_label(relative: str) -> str:
    return "the root workflow" if relative == "" else f"child workflow '<root>{relative}'"


def stable_step_identity(evidence: Evidence) -> Verdict:
    """DBOS: within each workflow, every execution (first run, step retries, recoveries) calls the same
    function at the same step id; and the faulted run's steps are the golden run's, modulo ids."""
    faulted = step_observations(evidence.faulted_events())
    conflict = _journal_conflict(evidence, faulted)
    if conflict is not None:
        return conflict
    units = len(step_names(faulted))
    struck = {f["fault"]["kind"] for f in evidence.faulted_events("fault")} & CONVERSATION_CHANGING_FAULTS
    if struck:
        return Verdict(
            True,
            f"{units} step(s), each with one function across executions; not compared with the golden run "
            f"because a {', '.join(sorted(struck))} fault legitimately changed the conversation",
        )
    golden = _relative_steps(step_observations(evidence.role_events(GOLDEN)), run_roots(evidence.golden))
    ours = _relative_steps(faulted, run_roots(evidence.faulted))
    paired = sorted((key, golden[key], name) for key, name in ours.items() if key in golden)
    diverged = [(key, was, now) for key, was, now in paired if was != now]
    if diverged:
        (relative, step), was, now = diverged[0]
        return Verdict(
            False,
            f"{len(diverged)} step(s) differ from the golden run's with the same inputs; first: step {step} "
            f"of {_workflow_label(relative)} was {was!r} in the golden run and {now!r} in the faulted run. "
            "The workflow's path depends on something outside its inputs and its journal (a file, the "
            "clock, a random draw, process state): a recovery may take another path than the interrupted "
            "execution (DBOS then refuses it with DBOSUnexpectedStepError). Read such values inside a step.",
        )
    return Verdict(
        True,
        f"{units} step(s), each with one function across executions; {len(paired)} of them paired with the "
        "golden run's, all the same function",
    )


def _relative_steps(
    observations: list[tuple[str, str, int, str]], roots: list[str]
) -> dict[tuple[str, int], str]:
    """The first function name journaled at each (workflow relative to the run's roots, step id)."""
    return {
        (relative_workflow(workflow, roots), step): names[0]
        for (workflow, step), names in step_names(observations).items()
    }


def _journal_conflict(evidence: Evidence, faulted: list[tuple[str, str, int, str]]) -> Verdict | None:
    """A step id at which two executions of the same workflow called different functions, if any."""
    conflicts = {key: names for key, names in step_names(faulted).items() if len(names) > 1}
    if not conflicts:
        return None
    (workflow, step), names = min(conflicts.items(), key=lambda item: (item[0][1], item[0][0]))
    refused = [e for e in evidence.faulted_events("step_mismatch") if e["engine"]["workflow_id"] == workflow]
    if refused:
        error_type = str(refused[0]["engine"].get("error") or "").partition(":")[0] or "a step mismatch"
        how = f"DBOS refused the {refused[0]['role']} execution ({error_type}), so the run was not recovered"
    else:
        roles = dict.fromkeys(role for role, wf, sid, _ in faulted if (wf, sid) == (workflow, step))
        how = f"seen in roles {', '.join(roles)}"
    relative = relative_workflow(workflow, run_roots(evidence.faulted))
    return Verdict(
        False,
        f"{len(conflicts)} step id(s) changed function between executions of the same workflow; first: "
        f"step {step} of {_workflow_label(relative)} ({workflow}) was {names[0]!r} when journaled and "
        f"{names[1]!r} when executed again; {how}. The workflow is not deterministic: its code took another "
        "path when re-executed, because it decides on something outside its inputs and its journal (a file, "
        "the clock, a random draw, process state). Read such values inside a step, so the journal replays "
        "them.",
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


def first_difference(
    a: Any, b: Any, path: str = "output", labels: tuple[str, str] = ("golden", "faulted")
) -> str | None:
    """The path of the first difference between two jsonable values, or None if equal.

    A missing key differs from a ``None`` value, and ``True`` differs from ``1``.
    """
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            diff = first_difference(a.get(key, _MISSING), b.get(key, _MISSING), f"{path}.{key}", labels)
            if diff:
                return diff
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = first_difference(x, y, f"{path}[{i}]", labels)
            if diff:
                return diff
        return None
    differ = f"{path}: {labels[0]} {_show(a)} vs {labels[1]} {_show(b)}"
    if type(a) is not type(b) and (
        isinstance(a, bool) or isinstance(b, bool) or a is _MISSING or b is _MISSING
    ):
        return differ
    return None if a == b else differ


def _show(value: Any) -> str:
    return "(missing)" if value is _MISSING else repr(value)


def output_difference(
    evidence: Evidence, expected: Any, actual: Any, labels: tuple[str, str] = ("golden", "faulted")
) -> str | None:
    """How ``actual`` differs from ``expected`` (``None`` when it matches), as a phrase that follows
    "differs": the scenario's comparator on the jsonable outputs when it names one, else structural
    equality (:func:`first_difference`)."""
    golden, other = jsonable(expected), jsonable(actual)
    if evidence.comparator is None:
        diff = first_difference(golden, other, labels=labels)
        return None if diff is None else f"at {diff}"
    name = evidence.comparator_name or "the scenario's comparator"
    try:
        answer = evidence.comparator(golden, other)
    except Exception as exc:  # noqa: BLE001 - the user's comparator failing is a verdict, not a crash
        return f"by comparator {name}, which raised {type(exc).__name__}: {exc}"
    same, reason = answer if isinstance(answer, tuple) else (answer, None)
    if same:
        return None
    return f"by comparator {name}" + (f": {reason}" if reason else f" ({labels[0]} vs {labels[1]})")


def output_matches_golden(evidence: Evidence) -> Verdict:
    """The faulted run's output equals the golden run's: structurally, or by the scenario's comparator."""
    if not evidence.faulted.completed:
        return Verdict(None, "the faulted run has no output to compare")
    diff = output_difference(evidence, evidence.golden.output, evidence.faulted.output)
    if diff is None:
        how = f" by comparator {evidence.comparator_name}" if evidence.comparator is not None else ""
        return Verdict(True, f"the output equals the golden run's{how}")
    return Verdict(False, f"the output differs from the golden run's {diff}")


def bounded_retries(evidence: Evidence) -> Verdict:
    """No logical unit makes more engine-level attempts than its engine retry policy allows, within one
    process and one attempt of the enclosing flow."""
    attempts: dict[tuple[Any, ...], dict[tuple[Any, ...], None]] = {}
    bounds: dict[tuple[Any, ...], int] = {}
    sends: dict[tuple[Any, ...], int] = {}
    units: dict[tuple[Any, ...], dict[str, Any]] = {}
    for event in evidence.faulted_events("invoke"):
        engine = event.get("engine") or {}
        attempt = engine_attempt(engine)
        if attempt is None or engine.get("max_attempts") is None:
            continue  # not inside a durable unit with a retry policy (e.g. a DBOS function tool)
        key = (event["role"], engine.get("epoch"), event["unit"]["kind"], event["unit"]["fingerprint"])
        attempts.setdefault(key, {})[attempt] = None
        bounds[key] = max(bounds.get(key, 1), int(engine["max_attempts"]))
        sends[key] = sends.get(key, 0) + 1
        units[key] = event["unit"]
    if not attempts:
        return Verdict(None, "no unit ran under an engine retry policy the adapter reports")
    over = [key for key in attempts if len(attempts[key]) > bounds[key]]
    if not over:
        most = max(attempts, key=lambda k: len(attempts[k]))
        return Verdict(
            True,
            f"{len({(k[2], k[3]) for k in attempts})} unit(s) within their retry policy; the most attempted, "
            f"{_unit_label(units[most])}, made {len(attempts[most])} of {bounds[most]} allowed attempt(s)",
        )
    key = over[0]
    made, allowed = len(attempts[key]), bounds[key]
    instances = len({a[:-1] for a in attempts[key]})
    kind = "task runs" if next(iter(attempts[key]))[0] == "task" else "steps"
    return Verdict(
        False,
        f"{len(over)} unit(s) retried beyond their policy; first: {_unit_label(units[key])} made {made} "
        f"engine-level attempts in role {key[0]} where its policy allows {allowed}, as {instances} separate "
        f"{kind} ({sends[key]} HTTP send(s) or calls in all). Something retries it on top of the "
        "engine: a retry loop around agent.run or inside the tool, or new tasks/steps for the same request. "
        "Retry layers multiply (SDK x engine x your loop): keep one layer in charge of retries.",
    )


def _sent(evidence: Evidence, role: str) -> list[dict[str, Any]]:
    """The distinct model requests a run sent, each once, in order of first send."""
    first: dict[str, dict[str, Any]] = {}
    for send in evidence.role_ledger(role):
        first.setdefault(send["fingerprint"], send)
    return list(first.values())


def _variant_problem(evidence: Evidence, variant: VariantRuns, answered_before: set[str]) -> str | None:
    """Why one variant's shared-context run got results that belong to another run, if it did."""
    if not variant.reference.completed:
        return None  # a setup error of the trial: nothing to compare with
    own = _sent(evidence, reference_role(variant.name))
    sent = {s["fingerprint"] for s in _sent(evidence, variant_role(variant.name))}
    if not variant.shared.completed:
        return (
            f"variant {variant.name!r} completes in a fresh engine context but failed after the other runs "
            f"had filled the shared one: {variant.shared.error}"
        )
    missing = [s for s in own if s["fingerprint"] not in sent and s["fingerprint"] not in answered_before]
    if missing:
        units = ", ".join(_unit_label(s["unit"]) for s in missing)
        return (
            f"variant {variant.name!r} sent {len(own) - len(missing)} of the {len(own)} model request(s) it "
            f"makes in a fresh engine context, yet completed: {units} "
            "got a result cached for a different request of another run. The cache key does not cover "
            "everything the result depends on (a cache policy that hashes only part of the inputs, such as "
            "the task source or the step's position, without the messages and the run id)."
        )
    diff = output_difference(
        evidence, variant.reference.output, variant.shared.output, labels=("fresh context", "shared context")
    )
    if diff is not None:
        return (
            f"variant {variant.name!r} returned another output in the shared engine context than in a fresh "
            f"one (it differs {diff}): it received another run's cached results"
        )
    return None


def no_false_cache_sharing(evidence: Evidence) -> Verdict:
    """Runs that differ in their inputs never receive each other's cached results."""
    if not evidence.variants:
        return Verdict(None, "the scenario declares no variants (runs with other inputs)")
    answered = {s["fingerprint"] for s in evidence.golden_ledger()}
    problems = []
    for variant in evidence.variants:
        problem = _variant_problem(evidence, variant, answered)
        if problem:
            problems.append(problem)
        answered |= {s["fingerprint"] for s in evidence.role_ledger(variant_role(variant.name))}
    if problems:
        return Verdict(
            False, f"{len(problems)} variant(s) shared results with other runs; first: {problems[0]}"
        )
    return Verdict(
        True,
        f"{len(evidence.variants)} variant(s), each sent its own model requests and returned its own output "
        "in the engine context the golden run had filled",
    )


CHECKERS: dict[str, Checker] = {
    "completes": completes,
    "completes_within": completes_within,
    "no_duplicate_model_calls": no_duplicate_model_calls,
    "stable_cache_keys": stable_cache_keys,
    "tools_exactly_once": tools_exactly_once,
    "output_matches_golden": output_matches_golden,
    "bounded_retries": bounded_retries,
    "no_false_cache_sharing": no_false_cache_sharing,
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
