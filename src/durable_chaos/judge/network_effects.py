"""What the network faults of a trial did to its run, in words, from the history (pure).

A ``network`` fault records a ``network`` event when its toxic is applied and another when it is
removed (``why``: ``until``, ``duration``, ``run_end``). Between the two, every failed attempt of a
unit is the network's doing or happened under it; a worker killed in between left the toxic for the
harness to heal.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from durable_chaos.judge.evidence import is_faulted

_REMOVED = {
    "until": "removed at its 'until' boundary",
    "duration": "removed after its duration",
    "run_end": "removed when the run ended",
}


def _where(event: dict[str, Any]) -> str:
    unit = event.get("unit")
    if not unit:
        return ""
    return f" at {unit['kind']} #{unit['ordinal']} ({unit['name']}) attempt {event.get('attempt')}"


def applied_spans(
    events: list[dict[str, Any]],
) -> list[tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]]:
    """Per network fault applied in the faulted run and its resumes: the ``applied`` event, the event
    that ended it (its ``removed`` event, or the worker's ``killed``; ``None`` if the run ended first),
    and the unit attempts that failed in between."""
    run = [e for e in events if is_faulted(e["role"])]
    spans = []
    for start, applied in enumerate(run):
        if applied["event"] != "network" or applied.get("action") != "applied":
            continue
        ended: dict[str, Any] | None = None
        failed: list[dict[str, Any]] = []
        for event in run[start + 1 :]:
            removed = event["event"] == "network" and event.get("action") == "removed"
            if (removed and event.get("index") == applied["index"]) or event["event"] == "killed":
                ended = event
                break
            if event["event"] == "fail" and event.get("unit"):
                failed.append(event)
        spans.append((applied, ended, failed))
    return spans


def network_failures(events: list[dict[str, Any]]) -> dict[str, bool]:
    """Units whose attempts failed while a network fault was applied (fingerprint -> whether the request
    had been sent: a lost response on the model endpoint), which a system without checkpoints would
    have to restart from scratch, as after a timeout."""
    struck: dict[str, bool] = {}
    for applied, _ended, failed in applied_spans(events):
        sent = applied.get("target") == "model_endpoint"
        for event in failed:
            fp = event["unit"]["fingerprint"]
            struck[fp] = struck.get(fp, False) or sent
    return struck


def network_effects(events: list[dict[str, Any]]) -> list[str]:
    """One sentence per network fault applied in the faulted run and its resumes."""
    sentences = []
    for applied, end, failed in applied_spans(events):
        index = applied["index"]
        fault = f"network fault #{index + 1} ({applied.get('toxic')} on {applied.get('target')})"
        failures: Counter[str] = Counter(
            str(event.get("error") or f"HTTP {event.get('status')}") for event in failed
        )
        if end is None:
            ended = "still applied when the run ended"
        elif end["event"] == "killed":
            ended = "still applied when the worker was killed (healed before the resume)"
        else:
            seconds = end["t"] - applied["t"]
            ended = f"{_REMOVED.get(end.get('why', ''), 'removed')}{_where(end)} ({seconds:.1f} s later)"
        if failures:
            kinds = ", ".join(f"{name} x{count}" for name, count in failures.most_common())
            effect = f"{sum(failures.values())} unit attempt(s) failed while it was applied ({kinds})"
        else:
            effect = "no unit attempt failed while it was applied"
        sentences.append(f"{fault} applied{_where(applied)}, {ended}: {effect}")
    return sentences
