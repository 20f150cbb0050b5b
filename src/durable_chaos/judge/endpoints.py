"""``same_model_endpoint``'s judgement: every model request after a retry or resume goes to an endpoint
(URL and model) the golden run used. The checker in :mod:`durable_chaos.judge.checkers` wraps it."""

from __future__ import annotations

from typing import Any

from durable_chaos import events
from durable_chaos.faults.model import KILL_KINDS
from durable_chaos.judge.evidence import Evidence, unit_label


def _endpoint(send: dict[str, Any]) -> tuple[str, str] | None:
    """Where a ledger entry's request went (URL without query) and the model it named; None for an
    entry recorded before the ledger carried endpoints."""
    endpoint = send.get("endpoint")
    return None if endpoint is None else (str(endpoint), str(send.get("model") or "?"))


def _model_failures(evidence: Evidence) -> dict[str, list[float]]:
    """Per role, when a fault (not a kill) failed a model request: after one, a fallback model may
    legitimately take over on another endpoint."""
    failures: dict[str, list[float]] = {}
    for fault in evidence.faulted_events(events.FAULT):
        if fault["unit"]["kind"] == "model_request" and fault["fault"]["kind"] not in KILL_KINDS:
            failures.setdefault(fault["role"], []).append(fault["t"])
    return failures


def stray_endpoints(evidence: Evidence) -> tuple[bool | None, str]:
    """Every model request of the faulted run and its resumes goes to an endpoint (URL and model) the
    golden run used: a model rebuilt from defaults on the other side of a durable boundary is caught."""
    golden = {key for key in map(_endpoint, evidence.golden_ledger()) if key is not None}
    if not golden:
        return (None, "the golden run recorded no model request with its endpoint")
    failures = _model_failures(evidence)
    strays, fallbacks = [], 0
    for send in evidence.faulted_ledger():
        key = _endpoint(send)
        if key is None or key in golden:
            continue
        if any(t < send["t"] for t in failures.get(send["role"], [])):
            fallbacks += 1  # after a failed model request: a fallback model's endpoint
            continue
        strays.append(send)
    used = ", ".join(f"{url} (model {model})" for url, model in sorted(golden))
    if not strays:
        after = (
            f"; {fallbacks} request(s) went elsewhere only after a fault failed a model request (a fallback)"
            if fallbacks
            else ""
        )
        return (True, f"every model request went to an endpoint the golden run used: {used}{after}")
    first = strays[0]
    url, model = _endpoint(first) or ("?", "?")
    others = sorted({_endpoint(s) or ("?", "?") for s in strays})
    more = f" ({len(others)} endpoint(s) the golden run never used in all)" if len(others) > 1 else ""
    return (
        False,
        f"{len(strays)} model request(s) went to an endpoint the golden run never used; first: "
        f"{unit_label(first['unit'])} in role {first['role']} went to {url} (model {model}){more}, where "
        f"the golden run used only {used}. The model was built differently on this side of the durable "
        "boundary (from defaults or ambient settings that a replayed unit no longer sets): build it from "
        "what the run carries (its inputs, deps or a durable unit's result), never from process state.",
    )
