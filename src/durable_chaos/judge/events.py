"""``events_complete``'s judgement: what the agent's event stream handler receives over the faulted run
and all its retries and resumes is what it receives in the golden run, every event once.
The checker in :mod:`durable_chaos.judge.checkers` wraps it.

Evidence: the ``handler_event`` records of :mod:`durable_chaos.infra.engines.stream_events`, one per event
a handler received, with the event's signature and whether it was delivered inside a durable unit. A
delivery inside a unit (a model-request task, an event-handler step or activity) is the engine's to
repeat: a unit that fails or dies mid-way runs again and delivers its events again, as it runs a tool's
side effect again (at least once, by the engine's contract). Those deliveries count up to the golden
run's number, never above. A delivery in workflow or flow code is repeated by every retry and every
replay of the run: it counts every time.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from durable_chaos import events
from durable_chaos.judge.evidence import GOLDEN, Evidence


def received(events_: list[dict[str, Any]]) -> tuple[Counter[str], Counter[str]]:
    """The signatures handlers received: (delivered inside a durable unit, delivered in workflow code)."""
    inside: Counter[str] = Counter()
    outside: Counter[str] = Counter()
    for event in events_:
        if event["event"] == events.HANDLER_EVENT:
            (inside if event.get("in_unit") else outside)[event["signature"]] += 1
    return inside, outside


def _listed(counts: dict[str, tuple[int, int]]) -> str:
    shown = [f"{name} x{got} (golden x{want})" for name, (got, want) in sorted(counts.items())]
    return ", ".join(shown[:4]) + (f" and {len(shown) - 4} more" if len(shown) > 4 else "")


def event_difference(evidence: Evidence) -> tuple[bool | None, str]:
    """Every event the golden run's handler received reaches the faulted run's handlers (over all its
    processes, retries and resumes) and none reaches them more often than in the golden run, except a
    unit's own re-execution (see the module)."""
    golden_in, golden_out = received(evidence.role_events(GOLDEN))
    golden = golden_in + golden_out
    if not golden or not evidence.golden.completed:
        return (None, "the golden run's agent has no event stream handler the harness observed")
    if not evidence.faulted.completed:
        return (None, "the faulted run did not complete")
    changed = evidence.conversation_changed()
    if changed:
        return (None, f"not judged: {changed}, so the run legitimately streamed other events")
    inside, outside = received(evidence.faulted_events())
    names = set(golden) | set(inside) | set(outside)
    doubled = {
        n: (outside[n] + min(inside[n], golden[n]), golden[n])
        for n in names
        if outside[n] + min(inside[n], golden[n]) > golden[n]
    }
    dropped = {n: (inside[n] + outside[n], golden[n]) for n in names if inside[n] + outside[n] < golden[n]}
    total = sum(golden.values())
    if not doubled and not dropped:
        return (True, f"the faulted run's handlers received the golden run's {total} event(s), each once")
    problems = []
    if doubled:
        problems.append(
            f"received again: {_listed(doubled)}. The handler runs in workflow/flow code (a "
            "ProcessEventStream capability or the agent's own event_stream_handler beside the durability "
            "capability), so every retry or replay of the run hands it the replayed events again"
        )
    if dropped:
        problems.append(
            f"never received: {_listed(dropped)}. Events of units that ran before the retry or resume were "
            "not delivered, and the replay does not deliver them"
        )
    return (
        False,
        "the event stream handler's events were not delivered exactly once across the faulted run: "
        + "; ".join(problems)
        + ". Give the handler to the durability capability (PrefectDurability/DBOSDurability/"
        "TemporalDurability(event_stream_handler=...)): each event is then delivered "
        "inside a durable unit, once, and a replay does not deliver it again.",
    )
