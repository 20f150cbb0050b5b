"""``no_stale_replay``: after an upgrade, the run does not go on with version N's inputs.

An upgrade trial (docs/upgrades.md) resumes the faulted run on version N+1. The model requests a run
sends are compared with two references: the golden run's (what N sends) and the N+1 run from scratch
(what N+1 sends, role :data:`~durable_chaos.judge.evidence.UPGRADED_REFERENCE`), by body, not position
(a release may make a resumed run ask again what N had asked). Each request the faulted run sent after
the deploy (on a resume) carries N's inputs, N+1's, inputs both share, or neither (it differs from both,
e.g. because an earlier answer differed). The run is stale when, after the deploy, it sent N's inputs
for one step and N+1's for another: N+1 went on with a unit N had prepared (Temporal: an activity's
input is recorded when it is scheduled, so the retry after the deploy sends N's instructions) instead of
asking with its own. Answers N got before the deploy and N+1 reused are a mixed-version run (said in the
detail, not a violation: a durable engine exists to reuse them); a run that keeps N's inputs throughout
(a change guarded so that runs N started keep N's path) is consistent.

Where the engine restores a unit's result from a cache without running it (Prefect), no request says what
that result answers: the engine reports, per unit, the fingerprints of the inputs it was computed for and
of its result (``identity`` and ``checkpoint`` events: ``inputs``, ``output``, ``restored``).
:func:`restored_stale` judges those: a result N computed, restored on N+1 for a unit that N+1 computes
differently (other inputs: a cache key that ignores the instructions; or, for the same inputs, another
result: a tool whose body changed), is a stale replay.
"""

from __future__ import annotations

from typing import Any

from durable_chaos.judge.evidence import GOLDEN, RESUME_PREFIX, UPGRADED_REFERENCE, Evidence


def answered_requests(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The model requests a run got an answer to, in order, each once: ``(fingerprint, role)`` (a request
    sent again with the same body, after a kill, is the same step)."""
    seen: dict[str, str] = {}
    for entry in sorted(entries, key=lambda e: e["t"]):
        status = entry.get("status")
        if isinstance(status, int) and status < 300 and entry["fingerprint"] not in seen:
            seen[entry["fingerprint"]] = entry["role"]
    return list(seen.items())


def task_units(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The units an engine reported (an ``identity`` joined with the ``checkpoint`` of the same unit
    attempt, by role and ``task_run_id``), in order: ``role``, ``position``, ``key``, ``inputs``,
    ``output``, ``restored``. Units without fingerprints are left out."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for event in sorted(events, key=lambda e: e.get("t", 0)):
        engine = event.get("engine") or {}
        run = engine.get("task_run_id")
        if run is None or event["event"] not in ("identity", "checkpoint"):
            continue
        unit = found.setdefault((event["role"], str(run)), {"role": event["role"], "restored": None})
        if event["event"] == "identity" and "inputs" in engine:
            unit.update(position=engine["position"], key=engine["identity"], inputs=engine["inputs"])
        elif event["event"] == "checkpoint" and "restored" in engine:
            unit.update(output=engine.get("output"), restored=bool(engine["restored"]))
    return [u for u in found.values() if "position" in u and u["restored"] is not None]


def restored_stale(
    faulted: list[dict[str, Any]], golden: list[dict[str, Any]], upgraded: list[dict[str, Any]]
) -> list[str]:
    """Results N computed that N+1 restored for a unit N+1 computes differently, each as a sentence (the
    units of :func:`task_units` of the faulted run, the golden run and N+1's run from scratch).

    A unit restored on a resume (N+1) answers with the result of the unit of the faulted run that
    computed that key. That result is stale when the golden run shows it is what N computes at that
    position (same fingerprint: N computes it reproducibly, so a difference is not chance) and N+1's run
    from scratch computes another there: other inputs, which the key ignored (the resume's own inputs
    differ from the producer's too), or the same inputs with another result (a body the key ignores)."""
    gold = {u["position"]: u for u in golden}
    new = {u["position"]: u for u in upgraded}
    stale: list[str] = []
    for unit in faulted:
        if not (unit["restored"] and unit["role"].startswith(RESUME_PREFIX)):
            continue
        producer = next((u for u in faulted if u["key"] == unit["key"] and not u["restored"]), None)
        n, n_plus_1 = gold.get(unit["position"]), new.get(unit["position"])
        if producer is None or n is None or n_plus_1 is None:
            continue
        where = f"{unit['position']} (restored by {unit['role']} from the result {producer['role']} computed)"
        if (
            None not in (producer["inputs"], unit["inputs"])
            and producer["inputs"] != unit["inputs"]
            and producer["inputs"] == n["inputs"]
            and n_plus_1["inputs"] != producer["inputs"]
        ):
            stale.append(
                f"{where}: its inputs changed across the upgrade (N computed it for inputs "
                f"{str(producer['inputs'])[:12]}, N+1 gives it {str(unit['inputs'])[:12]}, as N+1's run from "
                f"scratch does{'' if n_plus_1['inputs'] == unit['inputs'] else ' not'}), but its cache key "
                f"did not ('{str(unit['key'])[:60]}'): the key ignores an input the release changed"
            )
        elif (
            producer["inputs"] == unit["inputs"] == n_plus_1["inputs"]
            and producer["output"] is not None
            and producer["output"] == n["output"]
            and n_plus_1["output"] != producer["output"]
        ):
            stale.append(
                f"{where}: for the same inputs N+1 computes another result (N's "
                f"{str(producer['output'])[:12]}, N+1's {str(n_plus_1['output'])[:12]}), so the code that "
                "computes it changed and its cache key does not cover it (a tool's body)"
            )
    return stale


def changed_components(observations: list[dict[str, Any]]) -> list[str]:
    """The parts of a unit's identity that differ between its observations, where the engine reports
    the key each part of it computes (``identity`` events' ``components``: Prefect's cache policy parts)."""
    parts = [o["engine"]["components"] for o in observations if o.get("engine", {}).get("components")]
    names = dict.fromkeys(name for components in parts for name in components)
    return [name for name in names if len({str(c.get(name)) for c in parts}) > 1]


STALE_RESTORE_FIX = (
    "Key the unit on everything its result depends on (pydantic-ai's default Prefect cache policy covers "
    "the inputs, the task's source and the flow run id, not a tool's body: change the tool's name or "
    "description with its body, or add a version to the cache key), or let runs in flight finish on N"
)


def stale_replay(evidence: Evidence) -> tuple[bool | None, str]:
    """After the deploy, the run sends N+1's inputs for every step it asks anew, or N's for every one:
    never N's for one step and N+1's for another (see the module's docstring). Returns ``no_stale_replay``'s
    (held, detail)."""
    if not evidence.extra.get("upgrade"):
        return (None, "not an upgrade trial (no 'upgrade' in the scenario)")
    new = [fp for fp, _ in answered_requests(evidence.role_ledger(UPGRADED_REFERENCE))]
    old = [fp for fp, _ in answered_requests(evidence.role_ledger(GOLDEN))]
    restored = restored_stale(
        task_units(evidence.faulted_events()),
        task_units(evidence.role_events(GOLDEN)),
        task_units(evidence.role_events(UPGRADED_REFERENCE)),
    )
    if restored:
        return (
            False,
            f"after the deploy {len(restored)} unit(s) answered with a result N computed for what N+1 "
            f"computes differently (a stale replay), first {restored[0]}. {STALE_RESTORE_FIX}",
        )
    if not new:
        return (None, "the run of N+1 from scratch got no model answer, so there is nothing to compare")
    faulted = answered_requests(evidence.faulted_ledger())
    stale: list[str] = []
    current = shared = before = 0
    for step, (fingerprint, role) in enumerate(faulted, start=1):
        n_plus_1, n = fingerprint in new, fingerprint in old
        if not role.startswith(RESUME_PREFIX):
            before += n_plus_1  # answered before the deploy, as N+1 would have asked it too
        elif n_plus_1 and not n:
            current += 1
        elif n_plus_1:
            shared += 1
        elif n:
            stale.append(f"model request #{step} (sent by {role})")
    # Steps N+1 makes from scratch that the finished run did not ask after the deploy nor before it as N+1
    # asks them: answered by N's results (replayed from a journal, restored from a cache).
    reused = max(0, len(new) - current - shared - len(stale) - before) if evidence.faulted.completed else 0
    mixed = (
        f"; {reused} answer(s) N got before the deploy were reused with N's inputs (a mixed-version run)"
        if reused
        else ""
    )
    if stale and current:
        return (
            False,
            f"after the deploy the run sent N's inputs for {len(stale)} step(s), first {stale[0]}, and N+1's "
            f"for {current} other(s): N+1 went on with a unit N had prepared (its request is N's, as the "
            "golden run sent it, not what N+1 sends from scratch) instead of asking with its own inputs. "
            "The answer mixes both versions silently. Make the unit take its inputs from the code that "
            "runs it (Temporal: an in-flight activity retries with the input recorded when N scheduled "
            "it: version the change with workflow.patched() so runs N started keep N's inputs throughout, "
            f"or let them finish on N's workers){mixed}",
        )
    if stale:
        return (
            True,
            f"after the deploy the run kept N's inputs throughout ({len(stale)} request(s)){mixed}",
        )
    return (
        True,
        f"{current + shared} request(s) sent after the deploy, as N+1 sends them from scratch "
        f"({current} with inputs N+1 changed, {shared} with inputs both versions share){mixed}",
    )
