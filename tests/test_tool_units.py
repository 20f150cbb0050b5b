"""Tool faults inside the durable unit a tool's body opens, engine-free: an engine that retries the unit
by calling the tool again (as Restate does after a failed ``ctx.run``) continues the same tool call."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from event_recorder import EventRecorder
from pydantic import TypeAdapter

from durable_chaos.faults.context import Injection, activated, unit_body
from durable_chaos.faults.injectors.tools import _call
from durable_chaos.faults.model import Fault
from durable_chaos.faults.plan import ArmedPlan
from durable_chaos.faults.units import UnitTracker


def run_tool(phase: str, *, opens_unit: bool = True) -> tuple[list[tuple[str, int]], int, Injection]:
    """Call the tool until it succeeds, the way an engine that replays its caller retries the unit."""
    tool_error = TypeAdapter(Fault).validate_python(
        {"kind": "tool_error", "exception": "ConnectionError", "at": {"kind": "tool_call", "phase": phase}}
    )
    recorder = EventRecorder()
    injection = Injection(ArmedPlan([tool_error]), UnitTracker(), recorder)
    effects = 0

    async def body(toolset: Any, name: str, args: dict[str, Any], ctx: Any, tool: Any) -> str:
        nonlocal effects
        if not opens_unit:
            effects += 1
            return "done"
        with unit_body(("invocation", 2)):  # the unit the tool's body opens (a journal entry)
            effects += 1
            return "done"

    async def engine() -> None:
        for _ in range(3):
            try:
                await _call(body, None, "load", {"name": "q4"}, SimpleNamespace(tool_call_id="c1"), None)
                return
            except ConnectionError:
                continue  # the engine retries the unit by running the caller again

    with activated(injection):
        asyncio.run(engine())
    seen = [(e["event"], e["attempt"]) for e in recorder.events]
    return seen, effects, injection


def test_a_failure_before_the_unit_ran_is_retried_by_the_next_call_without_a_second_execution() -> None:
    seen, effects, injection = run_tool("before")
    assert seen == [("invoke", 1), ("execute", 1), ("fault", 1), ("fail", 1), ("invoke", 2), ("ok", 2)]
    assert effects == 1 and injection.interrupted_tools == {}


def test_a_failure_after_the_unit_ran_counts_the_next_calls_execution() -> None:
    seen, effects, injection = run_tool("after")
    assert seen == [
        ("invoke", 1),
        ("execute", 1),
        ("fault", 1),
        ("fail", 1),
        ("invoke", 2),
        ("execute", 2),
        ("ok", 2),
    ]
    assert effects == 2 and injection.interrupted_tools == {}


@pytest.mark.parametrize("phase", ["before", "after"])
def test_a_tool_that_opens_no_unit_gets_the_fault_outside_and_every_call_executes(phase: str) -> None:
    seen, effects, _ = run_tool(phase, opens_unit=False)
    assert seen == [
        ("invoke", 1),
        ("execute", 1),
        ("fault", 1),
        ("fail", 1),
        ("invoke", 2),
        ("execute", 2),
        ("ok", 2),
    ]
    assert effects == 2
