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


def stale_replay(evidence: Evidence) -> tuple[bool | None, str]:
    """After the deploy, the run sends N+1's inputs for every step it asks anew, or N's for every one:
    never N's for one step and N+1's for another (see the module's docstring). Returns ``no_stale_replay``'s
    (held, detail)."""
    if not evidence.extra.get("upgrade"):
        return (None, "not an upgrade trial (no 'upgrade' in the scenario)")
    new = [fp for fp, _ in answered_requests(evidence.role_ledger(UPGRADED_REFERENCE))]
    old = [fp for fp, _ in answered_requests(evidence.role_ledger(GOLDEN))]
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
