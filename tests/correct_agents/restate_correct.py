"""A correct data analyst on Restate, written as Restate's docs advise: ``RestateAgent`` journals every
model request and, with ``auto_wrap_tools=True``, every tool call as a ``ctx.run`` entry with retries,
replayed after a crash, and the one side effect (``load_dataset``) is idempotent by its tool call id.
Its requests are the data analyst's, so it replays that cassette."""

from __future__ import annotations

from datetime import timedelta

import restate
from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.models.openai import OpenAIChatModel
from restate.ext.pydantic import RestateAgent

RUN_OPTIONS = restate.RunOptions(max_attempts=5, initial_retry_interval=timedelta(milliseconds=50))

tools = FunctionToolset(id="analyst_tools")
tools.tool_plain(load_dataset)
tools.tool_plain(compute_statistics)

analyst = RestateAgent(
    Agent(
        OpenAIChatModel("gpt-4o"),
        name="correct_restate",
        instructions=INSTRUCTIONS,
        output_type=DataAnalysis,
        toolsets=[tools],
    ),
    auto_wrap_tools=True,
    run_options=RUN_OPTIONS,
)
