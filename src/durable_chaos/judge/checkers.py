"""Property checkers: pure functions from a trial's :class:`Evidence` to a :class:`Verdict`.

Each returns held (True), violated (False, with an explanation naming the unit), or not applicable
(None). Exact definitions are in docs/properties.md; the table of properties, with each one's checker,
is :mod:`durable_chaos.properties`; ``CHECKERS`` maps each of its names to the function of that name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from durable_chaos import events
from durable_chaos.faults.model import CONVERSATION_CHANGING_KINDS, KILL_KINDS
from durable_chaos.jsonable import jsonable
from durable_chaos.judge.accounting import model_calls
from durable_chaos.judge.endpoints import stray_endpoints
from durable_chaos.judge.events import event_difference
from durable_chaos.judge.evidence import (
    GOLDEN,
    RESUME_PREFIX,
    Evidence,
    VariantRuns,
    is_faulted,
    reference_role,
    unit_label,
    variant_role,
)
from durable_chaos.judge.network_effects import network_effects
from durable_chaos.judge.restart_effects import restart_effects
from durable_chaos.judge.upgrades import changed_components, stale_replay
from durable_chaos.judge.usage import usage_difference
from durable_chaos.properties import PROPERTIES


@dataclass(frozen=True)
class Verdict:
    held: bool | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"held": self.held, "detail": self.detail}


Checker = Callable[[Evidence], Verdict]


def completes(evidence: Evidence) -> Verdict:
    """The faulted run finishes with an output (after retries and resumes); a golden run that failed
    (no faults, no harness error) is the agent's own bug and violates it too."""
    if not evidence.golden.completed:
        return Verdict(
            False,
            f"the golden run (no faults) failed: {evidence.golden.error}. The agent fails without any "
            "fault injected: fix that first (the other properties judge what its runs did anyway)",
        )
    faults = len(evidence.faulted_events(events.FAULT))
    effects = network_effects(evidence.events) + restart_effects(evidence.events, evidence.faulted.completed)
    network = "".join(f"; {sentence}" for sentence in effects)
    if evidence.faulted.completed:
        return Verdict(True, f"the run completed; {faults} fault(s) fired{network}")
    why = (
        " (the engine refused to recover a nondeterministic workflow: see stable_cache_keys)"
        if refused_identities(evidence)
        else ""
    )
    outside = sorted(
        {e["unit"]["name"] for e in evidence.faulted_events(events.FAULT) if e["fault"].get("outside_unit")}
    )
    units = "".join(f". {evidence.rules.not_a_unit_hint(name)}" for name in outside)
    return Verdict(
        False,
        f"the run did not complete after {faults} fault(s): {evidence.faulted.error}{why}{network}{units}",
    )


def completes_within(evidence: Evidence) -> Verdict:
    """The faulted run completes after at most ``expect.max_resumes_to_complete`` resumes."""
    bound = evidence.max_resumes_to_complete
    if bound is None:
        return Verdict(None, "no bound set (expect.max_resumes_to_complete)")
    resumes = evidence.resumes()
    kills = len(evidence.faulted_events(events.KILLED)) or len(
        [f for f in evidence.faulted_events(events.FAULT) if f["fault"]["kind"] in KILL_KINDS]
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


DURABLE_UNIT_NAMES = (("task_name", "task"), ("activity_type", "activity"))
"""Where an engine's unit context names the durable unit a request ran in (a Prefect task, a Temporal
activity), and what that unit is called."""


def sent_from(engine: dict[str, Any] | None) -> str:
    """`` in task 'outline'``: the durable unit a model request ran in, when the engine names it (in a
    plain flow or workflow, the user's own unit), else nothing."""
    for key, what in DURABLE_UNIT_NAMES:
        name = (engine or {}).get(key)
        if name:
            return f" in {what} {name!r}"
    return ""


FRESH_RUN_COST = (
    "not judged: the sweep's opt-in fresh mode made the harness itself abandon the run after the kill and "
    "start a new one, so nothing the abandoned run journaled could be reused; the cost of that recovery"
)


def forced_fresh_run(evidence: Evidence) -> bool:
    """Whether the harness (a sweep's ``fresh`` point), not the scenario's own ``resume: new_run``,
    started a fresh run after the kill: its repeats are the forced recovery's cost, not the user's."""
    return bool(evidence.extra.get("forced_fresh_run"))


def no_duplicate_model_calls(evidence: Evidence) -> Verdict:
    """No model request is sent again after its response was checkpointed."""
    calls = model_calls(evidence)
    if forced_fresh_run(evidence):
        return Verdict(
            None,
            f"{FRESH_RUN_COST}: {calls.duplicates} of {calls.total} model call(s) sent again after their "
            "response had been checkpointed in the abandoned run",
        )
    scheduling = (
        f" (counts depend on scheduling: {calls.concurrent} model requests ran concurrently, so which of "
        "them a fault or kill strikes varies from run to run)"
        if calls.concurrent > 1
        else ""
    )
    if calls.duplicates == 0:
        return Verdict(
            True,
            f"{calls.total} model call(s), none repeated after checkpoint; "
            f"{calls.expected_reexecutions} expected re-execution(s) of requests in flight at a fault"
            f"{scheduling}",
        )
    first = calls.duplicate_sends[0]
    units = sorted({unit_label(s["unit"]) + sent_from(s.get("engine")) for s in calls.duplicate_sends})
    return Verdict(
        False,
        f"{calls.duplicates} model call(s) were sent again after their response had been checkpointed: "
        f"{', '.join(units)} (first repeat at attempt {first['attempt']}, role {first['role']}). "
        "The engine re-executed completed work instead of replaying it: check that the retry or resume "
        "re-runs the same durable run (same flow run / workflow id) and that cache keys are stable.",
    )


TOOL_UNIT_KINDS = frozenset({"tool_call", "mcp"})
"""Unit kinds whose ``execute`` events are a tool's body running (a function tool, or an MCP server's
tool receiving the call)."""


def _names_tool(unit: dict[str, Any], tools: set[str]) -> bool:
    """Whether the scenario's side-effecting tool names cover this unit: a function tool by its name; an
    MCP tool (``<server>:<tool>``) by that full name or by its bare tool name."""
    name = unit["name"]
    return name in tools or (unit["kind"] == "mcp" and name.partition(":")[2] in tools)


def _tool_name(unit: dict[str, Any], tools: set[str] | dict[str, Any]) -> str:
    """The name the scenario gives this tool unit (an MCP tool may be named bare)."""
    name = str(unit["name"])
    return name if name in tools else name.partition(":")[2]


def _replayed_tool_attempts(evidence: Evidence) -> set[tuple[Any, str, Any]]:
    """(pid, fingerprint, attempt) of tool calls whose side effect sits in a journaled step that the
    engine replayed instead of running."""
    return {
        (e["pid"], e["unit"]["fingerprint"], e["attempt"])
        for e in evidence.faulted_events("ok")
        if e["unit"]["kind"] in TOOL_UNIT_KINDS and e.get("replayed")
    }


def _tool_executions(
    evidence: Evidence, roles: Callable[[str], bool], tools: set[str]
) -> list[dict[str, Any]]:
    """``execute`` events of the named tools in the matching roles, minus replayed journaled steps."""
    replayed = _replayed_tool_attempts(evidence)
    return [
        e
        for e in evidence.events
        if e["event"] == "execute"
        and roles(e["role"])
        and e["unit"]["kind"] in TOOL_UNIT_KINDS
        and _names_tool(e["unit"], tools)
        and (e["pid"], e["unit"]["fingerprint"], e["attempt"]) not in replayed
    ]


_MISSING = object()


def idempotency_key(execution: dict[str, Any], spec: Any) -> Any:
    """The idempotency key an ``execute`` event carried: its tool call id, or one argument's value
    (``_MISSING`` when the argument was not passed)."""
    if spec == "call_id":
        return execution.get("call_id")
    return (execution.get("args") or {}).get(spec["argument"], _MISSING)


def _logical_call(execution: dict[str, Any], spec: Any) -> str:
    """What stays the same across re-executions of one logical call: the tool and its arguments,
    without the key itself (the call id is not an argument; an argument key is left out)."""
    args = dict(execution.get("args") or {})
    if isinstance(spec, dict):
        args.pop(spec["argument"], None)
    return json.dumps([execution["unit"]["name"], args], sort_keys=True, default=str)


def _key_label(spec: Any) -> str:
    return "tool call id" if spec == "call_id" else f"argument {spec['argument']!r}"


def _idempotent_violation(evidence: Evidence, spec_of: dict[str, Any]) -> tuple[str | None, int]:
    """The first idempotent tool call re-executed under another key (a message naming both keys), and
    how many executions of idempotent tools were judged."""
    faulted = _tool_executions(evidence, is_faulted, set(spec_of))
    golden: dict[str, int] = {}
    for e in _tool_executions(evidence, lambda role: role == GOLDEN, set(spec_of)):
        call = _logical_call(e, spec_of[_tool_name(e["unit"], spec_of)])
        golden[call] = golden.get(call, 0) + 1
    keys: dict[str, list[Any]] = {}
    for e in faulted:
        name = e["unit"]["name"]
        spec = spec_of[_tool_name(e["unit"], spec_of)]
        key = idempotency_key(e, spec)
        if key is _MISSING or key is None:
            return (
                f"idempotent tool {name!r} ({unit_label(e['unit'])}, role {e['role']}) executed without "
                f"its idempotency key: the {_key_label(spec)} was not given, so a re-execution cannot be "
                "recognised as a repeat.",
                len(faulted),
            )
        call = _logical_call(e, spec)
        seen = keys.setdefault(call, [])
        if key in seen:
            continue
        seen.append(key)
        if len(seen) > max(1, golden.get(call, 0)):
            first = next(x for x in faulted if _logical_call(x, spec) == call)
            return (
                f"idempotent tool {name!r} was re-executed with another idempotency key: the first "
                f"execution (role {first['role']}) carried {_key_label(spec)} {seen[0]!r}, the re-execution "
                f"({unit_label(e['unit'])}, role {e['role']}, attempt {e['attempt']}) carried {key!r}. "
                "The side effect's service cannot tell it is a repeat: derive the key from something the "
                "retry, kill and resume keep (the tool call id journaled with the model response, or an "
                "argument the model chose), not from the attempt, the clock or a fresh random value.",
                len(faulted),
            )
    return None, len(faulted)


def _observed_effects(evidence: Evidence) -> tuple[str | None, str]:
    """Judge the tools whose real effects the scenario observes (``effects``): the faulted run and its
    resumes may make no more effects than the golden run made. Returns (the first violation, a summary
    of what held)."""
    held: list[str] = []
    for tool, (golden, faulted) in sorted(evidence.effects.items()):
        if faulted > golden:
            return (
                f"side-effecting tool {tool!r} made {faulted} real effect(s) in the faulted run and its "
                f"resumes, where the golden run made {golden} (observed by its effects function). "
                + _effects_hint(evidence, tool),
                "",
            )
        held.append(f"{tool!r} made {faulted} real effect(s), the golden run {golden}")
    return None, "; ".join(held)


def _effects_hint(evidence: Evidence, tool: str) -> str:
    """Why a tool made more effects than the golden run: in flight at a fault after its effect, or run
    again by the engine (the engine's hint for the unit kind it ran in)."""
    struck = [
        f
        for f in evidence.faulted_events(events.FAULT)
        if f["unit"]["kind"] in TOOL_UNIT_KINDS and _tool_name(f["unit"], {tool}) == tool
    ]
    if any(f["fault"]["phase"] == "after" for f in struck):
        return _AT_LEAST_ONCE
    kind = next((f["unit"]["kind"] for f in struck), "tool_call")
    return evidence.rules.tool_repeat_hint(kind)


_AT_LEAST_ONCE = (
    "It was in flight when a fault struck after its effect and before the engine journaled its result "
    "(the at-least-once window): the engine ran it again, and it did the effect again. Make the effect "
    "itself deduplicate (an idempotency key the external service checks, or an insert keyed by the "
    "tool call id), then declare that key (side_effecting_tools: [{name: ..., idempotency: ...}]) or "
    "observe its real effects (effects: module:function); a journaled unit alone does not close this "
    "window."
)


def tools_exactly_once(evidence: Evidence) -> Verdict:
    """Each call of a side-effecting tool executes its body once per logical call, across retries,
    kills and resumes; a tool declared idempotent may run again, but only with the idempotency key of
    its first execution; a tool whose real effects are observed (``effects``) may make no more effects
    than in the golden run."""
    tools = set(evidence.side_effecting_tools)
    if not tools:
        return Verdict(None, "the scenario marks no tool as side-effecting")
    observed_problem, observed = _observed_effects(evidence)
    if observed_problem is not None:
        return Verdict(False, observed_problem)
    tools -= set(evidence.effects)
    if not tools:
        return Verdict(True, observed)
    spec_of = {name: spec for name, spec in evidence.idempotency.items() if name in tools}
    idempotent_problem, idempotent_runs = _idempotent_violation(evidence, spec_of)
    if idempotent_problem is not None:
        return Verdict(False, idempotent_problem)
    executions: dict[str, list[dict[str, Any]]] = {}
    for event in _tool_executions(evidence, is_faulted, tools - set(spec_of)):
        executions.setdefault(event["unit"]["fingerprint"], []).append(event)
    repeated = {fp: runs for fp, runs in executions.items() if len(runs) > 1}
    if repeated and forced_fresh_run(evidence):
        again = sum(len(runs) - 1 for runs in repeated.values())
        return Verdict(
            None,
            f"{FRESH_RUN_COST}: {len(repeated)} side-effecting call(s) executed again ({again} extra "
            "execution(s))",
        )
    if not repeated:
        idempotent = (
            f"; {idempotent_runs} execution(s) of idempotent tools, every re-execution with its first key"
            if spec_of
            else ""
        )
        observed = f"; {observed}" if observed else ""
        once = f"{len(executions)} side-effecting call(s), each executed exactly once"
        return Verdict(True, f"{once}{idempotent}{observed}")
    runs = next(iter(repeated.values()))
    unit = runs[0]["unit"]
    roles = ", ".join(dict.fromkeys(r["role"] for r in runs))
    in_flight = any(
        f["unit"]["fingerprint"] == unit["fingerprint"] and f["fault"]["phase"] == "after"
        for f in evidence.faulted_events(events.FAULT)
    )
    if in_flight:
        why = _AT_LEAST_ONCE
    elif evidence.extra.get("resume") == "new_run":
        why = (
            "After the kill a fresh run with a new id was started instead of recovering the interrupted "
            "one, so nothing the interrupted run journaled (even a step-wrapped tool) could be replayed."
        )
    else:
        why = evidence.rules.tool_repeat_hint(unit["kind"])
    return Verdict(
        False,
        f"{len(repeated)} side-effecting call(s) executed more than once; first: tool {unit['name']!r} "
        f"(call {runs[0].get('call_id') or unit['fingerprint']}, {unit_label(unit)}) ran {len(runs)} times "
        f"(roles {roles}). {why}",
    )


CONVERSATION_CHANGING_FAULTS = CONVERSATION_CHANGING_KINDS
"""Faults after which the agent legitimately sends other requests than the golden run (a retry prompt;
``Traits.changes_conversation``)."""

Position = tuple[str, Any]
"""(scope, position) of one logical unit: a workflow relative to the run's root and a step id, command
index or ``<task name>#<n>``, as the engine's ``identity`` events name it."""


def refused_identities(evidence: Evidence) -> list[dict[str, Any]]:
    """``identity`` events of units the engine refused to replay because its journal held another
    identity at that position."""
    return [e for e in evidence.faulted_events("identity") if e["engine"].get("recorded") is not None]


def identities(events: list[dict[str, Any]]) -> dict[Position, list[dict[str, Any]]]:
    """``identity`` observations grouped by logical unit; a refused replay counts the recorded identity
    first, then the one executed."""
    groups: dict[Position, list[dict[str, Any]]] = {}
    for event in events:
        if event["event"] != "identity":
            continue
        engine = event["engine"]
        key = (str(engine.get("scope", "")), engine["position"])
        group = groups.setdefault(key, [])
        if engine.get("recorded") is not None:
            group.append({**event, "engine": {**engine, "identity": engine["recorded"]}})
        group.append(event)
    return groups


def distinct(observations: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(str(o["engine"]["identity"]) for o in observations))


def _place(key: Position) -> str:
    scope, position = key
    where = "the root run" if scope == "" else f"'<root>{scope}'"
    return f"{position} of {where}"


def stable_cache_keys(evidence: Evidence) -> Verdict:
    """Every attempt and resume of the same logical unit has the same identity in the engine (a cache
    key, the function at a step id, the activity at a command position); and, where the engine's
    journal is positional, the faulted run's units are the golden run's."""
    rules = evidence.rules
    faulted = identities(evidence.faulted_events())
    if not faulted:
        return Verdict(None, "the engine reported no unit identities (cache keys, steps) for this run")
    noun = rules.identity_noun
    changed = {key: obs for key, obs in faulted.items() if len(distinct(obs)) > 1}
    if changed and forced_fresh_run(evidence):
        return Verdict(None, f"{FRESH_RUN_COST}: {len(changed)} unit(s) got another {noun} in the fresh run")
    if changed:
        key, observations = min(changed.items(), key=lambda item: str(item[0]))
        names = distinct(observations)
        refused = [o for o in observations if o["engine"].get("recorded") is not None]
        how = (
            f"; {rules.journal_refusal} in role {refused[0]['role']}"
            if refused
            else f" (roles {', '.join(dict.fromkeys(o['role'] for o in observations))})"
        )
        parts = changed_components(observations)
        what = f"; the part(s) of it that changed: {', '.join(parts)}" if parts else ""
        return Verdict(
            False,
            f"{len(changed)} unit(s) changed {noun} between attempts; first: {_place(key)} had "
            f"{noun}s {', '.join(repr(n[:40]) for n in names)}{how}{what}. "
            f"{upgrade_hint(evidence, observations, noun) or rules.identity_change_hint(observations)}",
        )
    repeated = sum(1 for obs in faulted.values() if len(obs) > 1)
    held = f"{len(faulted)} unit(s), {repeated} seen more than once, each with one {noun}"
    if not rules.identity_comparable_with_golden:
        return Verdict(True, held)
    struck = {
        f["fault"]["kind"]
        for f in evidence.faulted_events(events.FAULT)
        if f["fault"]["kind"] in CONVERSATION_CHANGING_FAULTS or f["unit"]["kind"] == "mcp"
    }  # pydantic-ai tells the model about a failed MCP call (a retry prompt) by default
    if struck:
        return Verdict(
            True,
            f"{held}; not compared with the golden run because a {', '.join(sorted(struck))} fault "
            "legitimately changed the conversation",
        )
    reactions = rules.engine_reactions
    golden = paths(identities(evidence.role_events(GOLDEN)), reactions)
    ours = paths(faulted, reactions)
    pairs = sorted(
        (
            ((scope, position), golden[scope][position], now)
            for scope in set(golden) & set(ours)
            for position, now in ours[scope].items()
            if position in golden[scope]
        ),
        key=lambda pair: (pair[0][0], _position_order((pair[0][1], ""))),
    )
    diverged = [pair for pair in pairs if pair[1] != pair[2]]
    if diverged:
        key, was, now = diverged[0]
        return Verdict(
            False,
            f"{len(diverged)} unit(s) differ from the golden run's with the same inputs; first: "
            f"{_place(key)} was {was!r} in the golden run and {now!r} in the faulted run. "
            f"{rules.divergence_hint()}",
        )
    skipped = sum(1 for obs in faulted.values() if distinct(obs)[0] in reactions) - sum(
        1 for path in ours.values() for name in path.values() if name in reactions
    )
    modulo = (
        f" (modulo {skipped} wait(s) the engine inserted before retrying a unit: "
        f"{', '.join(sorted(reactions))})"
        if skipped
        else ""
    )
    return Verdict(True, f"{held}; {len(pairs)} of them paired with the golden run's, all the same{modulo}")


def _position_order(entry: tuple[Any, str]) -> tuple[int, Any]:
    position = entry[0]
    return (0, position) if isinstance(position, int) else (1, str(position))


def paths(
    groups: dict[Position, list[dict[str, Any]]], reactions: frozenset[str]
) -> dict[str, dict[Any, str]]:
    """Per scope, a run's path: its units' identities by position, modulo the engine's own reactions
    (:attr:`EngineRules.engine_reactions`): a unit, a reaction, then the same unit again is one unit,
    retried, kept at its first position, and every later (numeric) position moves back by the steps the
    retry took, so it lines up with the run that had no reaction. Without a reaction, positions are the
    engine's own, unchanged: units are paired only at the same position, and a position one run never
    reached (a gap, a unit seen in only one run) pairs with nothing."""
    by_scope: dict[str, list[tuple[Any, str]]] = {}
    for (scope, position), observations in groups.items():
        by_scope.setdefault(scope, []).append((position, distinct(observations)[0]))
    out: dict[str, dict[Any, str]] = {}
    for scope, entries in by_scope.items():
        path: list[tuple[Any, Any, str]] = []  # (the engine's position, the aligned position, identity)
        shift = 0
        for position, name in sorted(entries, key=_position_order):
            numeric = isinstance(position, int) and not isinstance(position, bool)
            retried = len(path) >= 2 and path[-1][2] in reactions and path[-2][2] == name
            if retried and name not in reactions:
                first, aligned, _ = path[-2]
                if numeric and isinstance(first, int):
                    shift += position - first
                path[-2:] = [(position, aligned, name)]
            else:
                path.append((position, position - shift if numeric else position, name))
        out[scope] = {aligned: name for _, aligned, name in path}
    return out


def deterministic_replay(evidence: Evidence) -> Verdict:
    """Every finished workflow of the faulted run replays against its recorded history with the same
    code, as the engine's own replayer checks it; in an upgrade trial, the golden run's (version N)
    history also replays against N+1's code."""
    checks = evidence.faulted_events("replay_check")
    upgraded = [check for check in checks if check.get("against") == "N+1"]
    if not evidence.faulted.completed and not upgraded:
        return Verdict(None, "the faulted run did not finish, so there is no finished history to replay")
    if not checks:
        return Verdict(None, "the engine offers no replay check of finished runs")
    problems = [p for check in checks for p in check.get("problems") or []]
    undecided = [check["undecided"] for check in checks if check.get("undecided")]
    if undecided and not problems:
        return Verdict(
            None,
            f"the replay check could not decide, for a reason of the infrastructure, not of the workflow: "
            f"{undecided[0]}",
        )
    if not problems:
        also = ", N's golden history against N+1's code included" if upgraded else ""
        return Verdict(
            True, f"{len(checks)} finished run(s) replayed against their history{also}, no divergence"
        )
    across = [p for check in upgraded for p in check.get("problems") or []]
    if across:
        return Verdict(
            False,
            f"a history version N recorded does not replay against N+1's code; first divergence: "
            f"{across[0]}. The upgrade changed the workflow's command sequence: guard the change with "
            "workflow.patched() (runs N started keep N's commands), or keep them on N's workers (Worker "
            "Versioning)",
        )
    return Verdict(
        False,
        f"{len(problems)} replay divergence(s); first: {problems[0]}. The workflow code is not "
        "deterministic: it decides on something outside its history (set iteration order, the clock, "
        "a random draw, process state). Use the engine's deterministic APIs (workflow.now(), "
        "workflow.random()) or move the decision into an activity.",
    )


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
    if not evidence.golden.completed:
        return Verdict(None, "the golden run has no output to compare with")
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
        attempt = evidence.rules.engine_attempt(engine)
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
            f"{unit_label(units[most])}, made {len(attempts[most])} of {bounds[most]} allowed attempt(s)",
        )
    key = over[0]
    made, allowed = len(attempts[key]), bounds[key]
    instances = len({a[:-1] for a in attempts[key]})
    kind = f"{evidence.rules.unit_noun}s"
    return Verdict(
        False,
        f"{len(over)} unit(s) retried beyond their policy; first: {unit_label(units[key])} made {made} "
        f"engine-level attempts in role {key[0]} where its policy allows {allowed}, as {instances} separate "
        f"{kind} ({sends[key]} HTTP send(s) or calls in all). Something retries it on top of the "
        "engine: a retry loop around agent.run or inside the tool, or new tasks/steps for the same request. "
        "Retry layers multiply (SDK x engine x your loop): keep one layer in charge of retries.",
    )


def same_model_endpoint(evidence: Evidence) -> Verdict:
    """Every model request of the faulted run and its resumes goes to an endpoint (URL and model) the
    golden run used (:mod:`durable_chaos.judge.endpoints`)."""
    return Verdict(*stray_endpoints(evidence))


def usage_consistent(evidence: Evidence) -> Verdict:
    """The usage the faulted run's result reports after its retries and resumes equals the golden run's
    (:mod:`durable_chaos.judge.usage`)."""
    return Verdict(*usage_difference(evidence))


def events_complete(evidence: Evidence) -> Verdict:
    """The events the agent's event stream handler receives across the faulted run's retries and resumes
    are the golden run's, each once (:mod:`durable_chaos.judge.events`)."""
    return Verdict(*event_difference(evidence))


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
        units = ", ".join(unit_label(s["unit"]) for s in missing)
        return (
            f"variant {variant.name!r} sent {len(own) - len(missing)} of the {len(own)} model request(s) it "
            f"makes in a fresh engine context, yet completed: {units} "
            "got a result cached for a different request of another run. The cache key does not cover "
            "everything the result depends on (a cache policy that hashes only part of the inputs, such as "
            "the task source, the prompt or the step's position, without the messages, the run's deps, "
            "metadata and model settings, and the run id)."
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


def upgrade_hint(evidence: Evidence, observations: list[dict[str, Any]], noun: str) -> str | None:
    """In an upgrade trial, a unit whose identity changed between N's run and N+1's resume: the release
    changed it (docs/upgrades.md)."""
    roles = {o["role"] for o in observations}
    if not evidence.extra.get("upgrade") or not any(r.startswith(RESUME_PREFIX) for r in roles):
        return None
    if all(r.startswith(RESUME_PREFIX) for r in roles):
        return None
    return (
        f"It changed across the upgrade: N's run and N+1's resume gave the same step another {noun}, because "
        "the release changed it (a step added, moved or renamed before it, or the inputs or source its "
        "identity covers, such as the instructions), so N+1 cannot reuse what N completed. Guard such a "
        "change so that runs N started keep N's steps (DBOS.patch(), workflow.patched()), keep the "
        "unit's inputs unchanged for runs in flight, or let them finish on N"
    )


def no_stale_replay(evidence: Evidence) -> Verdict:
    """After an upgrade, the run never goes on with N's inputs for one step and N+1's for another
    (:mod:`durable_chaos.judge.upgrades`)."""
    return Verdict(*stale_replay(evidence))


def _checkers() -> dict[str, Checker]:
    """Each property of the table and its checker: the function of this module named like it."""
    found = globals()
    missing = [p.name for p in PROPERTIES if not callable(found.get(p.name))]
    if missing:
        raise ImportError(f"no checker function in judge.checkers for the properties {missing}")
    return {p.name: found[p.name] for p in PROPERTIES}


CHECKERS: dict[str, Checker] = _checkers()


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
