"""events_complete: the pure judgement on hand-built histories (both directions), the pass-through
observation of a handler, and per engine a known-bad agent caught with exactly it next to its correct twin
(Prefect, DBOS, Temporal; Restate's known-bad alone)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from durable_chaos.infra.engines import engine_spec
from durable_chaos.infra.engines.base import RunOutcome
from durable_chaos.infra.engines.stream_events import observe_handlers
from durable_chaos.judge.checkers import events_complete
from durable_chaos.judge.evidence import Evidence
from durable_chaos.run.results import TrialResult
from durable_chaos.run.runner import TrialRunner
from durable_chaos.scenario.read import load_scenario
from durable_chaos.scenario.trial_specs import TrialSpec

RUN = ["PartStartEvent:0:ToolCallPart:load_dataset", "FunctionToolCallEvent:ToolCallPart:load_dataset",
       "FunctionToolResultEvent:ToolReturnPart:load_dataset", "FinalResultEvent:final_result"]  # fmt: skip


def got(t: float, role: str, signature: str, in_unit: bool = False) -> dict[str, Any]:
    return {"t": t, "pid": 1, "role": role, "event": "handler_event", "signature": signature,
            "in_unit": in_unit, "engine": {}}  # fmt: skip


def run(role: str, signatures: list[str], t: float = 1.0, in_unit: bool = False) -> list[dict[str, Any]]:
    return [got(t + i / 100, role, s, in_unit) for i, s in enumerate(signatures)]


def evidence(events: list[dict[str, Any]], completed: bool = True) -> Evidence:
    golden = RunOutcome("golden", True, output="x")
    faulted = RunOutcome("faulted", completed, output="x" if completed else None)
    return Evidence(golden, faulted, events, [], rules=engine_spec("prefect").rules)


def test_every_event_once_across_a_resume_holds() -> None:
    # the faulted run delivered the first two events before it was killed, the resume the rest
    events = run("golden", RUN) + run("faulted", RUN[:2], 2, True) + run("resume-1", RUN[2:], 3, True)
    verdict = events_complete(evidence(events))
    assert verdict.held is True and "4 event(s), each once" in verdict.detail


def test_a_unit_run_again_may_deliver_its_events_again() -> None:
    # a model-request task cut mid-stream runs again and streams again: the engine's at-least-once
    events = (
        run("golden", RUN, in_unit=True) + run("faulted", RUN[:1], 2, True) + run("faulted", RUN, 3, True)
    )
    assert events_complete(evidence(events)).held is True


def test_events_replayed_in_workflow_code_are_received_again() -> None:
    events = run("golden", RUN) + run("faulted", RUN[:3], 2) + run("faulted", RUN, 3)
    verdict = events_complete(evidence(events))
    assert verdict.held is False
    assert "received again: FunctionToolCallEvent:ToolCallPart:load_dataset x2 (golden x1)" in verdict.detail
    assert "event_stream_handler=" in verdict.detail


def test_events_never_delivered_are_named() -> None:
    events = run("golden", RUN) + run("resume-1", RUN[2:], 3, True)
    verdict = events_complete(evidence(events))
    assert verdict.held is False and "never received: FunctionToolCallEvent" in verdict.detail


def test_not_applicable_without_a_handler_or_a_completed_run_or_after_a_changed_conversation() -> None:
    assert events_complete(evidence([])).held is None
    assert events_complete(evidence(run("golden", RUN), completed=False)).held is None
    unit = {"kind": "model_request", "name": "gpt-4o", "ordinal": 3, "fingerprint": "fp-new"}
    fault = {"t": 2, "pid": 1, "role": "faulted", "event": "fault", "unit": unit, "attempt": 1,
             "fault": {"index": 0, "kind": "malformed_output", "phase": "after"}}  # fmt: skip
    pairs = (("golden", "fp-1"), ("faulted", "fp-1"), ("faulted", "fp-new"))
    sends = [{"t": 1.0, "role": r, "unit": {**unit, "fingerprint": fp}, "fingerprint": fp} for r, fp in pairs]
    changed = [*run("golden", RUN), fault, *run("faulted", RUN + RUN[:1], 3)]
    golden = RunOutcome("golden", True, output="x")
    verdict = events_complete(Evidence(golden, golden, changed, sends, rules=engine_spec("prefect").rules))
    assert verdict.held is None and "malformed_output changed the conversation" in verdict.detail


def test_the_observation_hands_every_event_on_unchanged() -> None:
    from pydantic_ai import Agent
    from pydantic_ai.capabilities import ProcessEventStream
    from pydantic_ai.models.test import TestModel

    seen: list[str] = []

    async def handler(ctx: Any, stream: Any) -> None:
        async for event in stream:
            seen.append(type(event).__name__)

    agent = Agent(TestModel(), capabilities=[ProcessEventStream(handler)])
    asyncio.run(agent.run("hi"))
    unobserved = list(seen)
    assert observe_handlers(agent) == 1 and observe_handlers(agent) == 1  # idempotent
    seen.clear()
    asyncio.run(agent.run("hi"))
    assert seen == unobserved and seen


# ---------------------------------------------------------------------------------- end to end, per engine

EXAMPLES = Path(__file__).resolve().parent.parent / "scenarios" / "providers"
PAIRS = {
    "prefect": ("events_ui_in_flow.yaml", "events_ui_in_tasks.yaml"),
    "dbos": ("events_dbos_ui_in_workflow.yaml", "events_dbos_ui_in_steps.yaml"),
    "temporal": ("events_temporal_ui_in_workflow.yaml", "events_temporal_ui_in_activities.yaml"),
}
"""Per engine: the handler in workflow code (known-bad, a flow retry / a recovery after a kill) and the
handler given to the durability capability (correct twin)."""
KNOWN_BAD = {e: pair[0] for e, pair in PAIRS.items()} | {"restate": "events_restate_ui_in_handler.yaml"}
"""Restate has no correct twin: restate-sdk 1.3.0's documented one fails every run (see the scenario)."""


def _trial(runner: TrialRunner, file: str) -> TrialResult:
    scenario = load_scenario(EXAMPLES / file)
    return runner.run(TrialSpec(scenario, scenario.engines[0], scenario.plans[0]))


@pytest.mark.parametrize("engine", sorted(KNOWN_BAD))
def test_a_handler_in_workflow_code_is_caught_with_exactly_events_complete(
    runner: TrialRunner, engine: str
) -> None:
    result = _trial(runner, KNOWN_BAD[engine])
    violated = {name for name, verdict in result.verdicts.items() if verdict.held is False}
    assert violated == {"events_complete"}, result.reason
    assert result.verdict == "pass", result.reason
    assert "received again: FunctionToolCallEvent" in result.verdicts["events_complete"].detail
    assert any("event stream handler was wrapped" in change for change in result.harness_changes)


@pytest.mark.parametrize("engine", sorted(PAIRS))
def test_a_handler_in_the_durability_capability_holds(runner: TrialRunner, engine: str) -> None:
    result = _trial(runner, PAIRS[engine][1])
    assert result.verdict == "pass", result.reason
    assert result.verdicts["events_complete"].held is True, result.verdicts["events_complete"].detail


class RenamedCapability:
    """A release that keeps the handler under another name than the observation looks for."""

    def __init__(self, *, event_stream_handler: object = None) -> None:
        self._handler = event_stream_handler


def test_the_private_shapes_the_observation_relies_on_are_checked_and_a_broken_one_is_named() -> None:
    from durable_chaos.infra.engines import stream_events
    from durable_chaos.patching import Hook, check_hooks

    assert check_hooks(stream_events.HOOKS) == {}
    broken = Hook(
        library="pydantic-ai-slim",
        target=f"{__name__}:RenamedCapability.__init__",
        why="test",
        properties=("events_complete",),
        check=stream_events.HOOKS[0].check,
    )
    problem = check_hooks([broken])["events_complete"]
    assert "no longer sets self._event_stream_handler, self._process_event_stream" in problem
