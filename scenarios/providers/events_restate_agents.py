"""The data analyst on Restate (``RestateAgent``) streaming its events to a UI (the Prefect pair is in
``events_agents.py``).

KNOWN-BAD ``ui_in_handler``: ``RestateAgent(event_stream_handler=...)`` without ``auto_wrap_tools``. The
model's stream events reach the handler inside the model's journaled action, but the run's other events
(tool calls, tool results) are handed to it in the handler code: when Restate retries the invocation
after a crash, the journal replays the model calls and the handler receives their tool events again. The
harness must report exactly ``events_complete``.

FINDING ``ui_in_journal``: the documented twin, ``RestateAgent(event_stream_handler=...,
auto_wrap_tools=True)``, which hands every such event to the handler in a ``ctx.run`` of its own, fails
every run with restate-sdk 1.3.0: it passes ``ctx.run_typed`` a lambda that returns the handler's
coroutine, which Restate does not await but serializes (``TypeError: Object of type coroutine is not JSON
serializable``). No correct twin runs on Restate with this SDK.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import restate
from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from events_agents import to_ui
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.models.openai import OpenAIChatModel
from restate.ext.pydantic import RestateAgent

RUN_OPTIONS = restate.RunOptions(max_attempts=5, initial_retry_interval=timedelta(milliseconds=50))


def analyst(name: str, *capabilities: Any) -> Agent[None, DataAnalysis]:
    tools: FunctionToolset[None] = FunctionToolset(id="analyst_tools")
    tools.tool_plain(load_dataset)
    tools.tool_plain(compute_statistics)
    return Agent(
        OpenAIChatModel("gpt-4o"),
        name=name,
        instructions=INSTRUCTIONS,
        output_type=DataAnalysis,
        toolsets=[tools],
        capabilities=list(capabilities),
    )


ui_in_handler = RestateAgent(
    analyst("analyst_ui_in_handler"),
    event_stream_handler=to_ui,
    auto_wrap_tools=False,  # KNOWN-BAD: the run's events are handed to the handler in handler code
    run_options=RUN_OPTIONS,
)

ui_in_journal = RestateAgent(
    analyst("analyst_ui_in_journal"),
    event_stream_handler=to_ui,
    auto_wrap_tools=True,
    run_options=RUN_OPTIONS,
)
