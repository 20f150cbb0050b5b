"""``usage_consistent``'s judgement: the usage the faulted run's result reports equals the golden run's.
The checker in :mod:`durable_chaos.judge.checkers` wraps it."""

from __future__ import annotations

from typing import Any

from durable_chaos import events
from durable_chaos.judge.evidence import GOLDEN, Evidence


def _reported_usage(events_: list[dict[str, Any]]) -> dict[str, int] | None:
    """The usage the last completed execution of an agent target's run reported, if any."""
    reports = [e for e in events_ if e["event"] == events.RUN_USAGE]
    return dict(max(reports, key=lambda e: e["t"])["engine"]["usage"]) if reports else None


def usage_difference(evidence: Evidence) -> tuple[bool | None, str]:
    """The usage the faulted run's result reports (pydantic-ai's ``RunUsage``: requests, tool calls,
    input and output tokens) after its retries and resumes equals the golden run's: replayed units are
    counted once, neither lost nor counted again."""
    golden = _reported_usage(evidence.role_events(GOLDEN))
    faulted = _reported_usage(evidence.faulted_events())
    if golden is None or not evidence.golden.completed:
        return (None, "the golden run reported no usage (only an agent target's run reports it)")
    if faulted is None or not evidence.faulted.completed:
        return (None, "the faulted run did not complete with a reported usage")
    changed = evidence.conversation_changed()
    if changed:
        return (None, f"not judged: {changed}, so the run legitimately used more than a clean run")
    shown = ", ".join(f"{name} {golden.get(name, 0)}" for name in sorted(golden))
    differ = [
        name for name in sorted(set(golden) | set(faulted)) if golden.get(name, 0) != faulted.get(name, 0)
    ]
    if not differ:
        return (True, f"the faulted run's reported usage equals the golden run's: {shown}")
    parts = [
        f"{name} {faulted.get(name, 0)} where the golden run reported {golden.get(name, 0)} ("
        + ("counted again" if faulted.get(name, 0) > golden.get(name, 0) else "lost")
        + ")"
        for name in differ
    ]
    return (
        False,
        f"the faulted run's result reports {'; '.join(parts)}. The run's usage must count each request, "
        "tool call and token once whether its unit ran or was replayed: usage accumulated across attempts "
        "(a usage object that outlives one execution, passed to agent.run) is counted again on every retry "
        "or resume, and usage added inside a durable unit (a sub-agent given ctx.usage in a journaled tool) "
        "is lost when the unit is replayed. Spend limits (UsageLimits) trip on the wrong total too.",
    )
