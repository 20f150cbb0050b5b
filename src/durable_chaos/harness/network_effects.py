"""What the network faults of a trial did to its run, in words, from the history (pure).

A ``network`` fault records a ``network`` event when its toxic is applied and another when it is
removed (``why``: ``until``, ``duration``, ``run_end``). Between the two, every failed attempt of a
unit is the network's doing or happened under it; a worker killed in between left the toxic for the
harness to heal.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from durable_chaos.harness.evidence import is_faulted

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


def network_effects(events: list[dict[str, Any]]) -> list[str]:
    """One sentence per network fault applied in the faulted run and its resumes."""
    run = [e for e in events if is_faulted(e["role"])]
    sentences = []
    for start, applied in enumerate(run):
        if applied["event"] != "network" or applied.get("action") != "applied":
            continue
        index = applied["index"]
        fault = f"network fault #{index + 1} ({applied.get('toxic')} on {applied.get('target')})"
        failures: Counter[str] = Counter()
        ended = "still applied when the run ended"
        for event in run[start + 1 :]:
            if (
                event["event"] == "network"
                and event.get("index") == index
                and event.get("action") == "removed"
            ):
                seconds = event["t"] - applied["t"]
                ended = (
                    f"{_REMOVED.get(event.get('why', ''), 'removed')}{_where(event)} ({seconds:.1f} s later)"
                )
                break
            if event["event"] == "killed":
                ended = "still applied when the worker was killed (healed before the resume)"
                break
            if event["event"] == "fail" and event.get("unit"):
                failures[str(event.get("error") or f"HTTP {event.get('status')}")] += 1
        if failures:
            kinds = ", ".join(f"{name} x{count}" for name, count in failures.most_common())
            effect = f"{sum(failures.values())} unit attempt(s) failed while it was applied ({kinds})"
        else:
            effect = "no unit attempt failed while it was applied"
        sentences.append(f"{fault} applied{_where(applied)}, {ended}: {effect}")
    return sentences
