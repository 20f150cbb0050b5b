"""The data-analysis agent on Restate (``restate.ext.pydantic``).

``RestateAgent`` journals every model request as a ``ctx.run`` entry ("Model call"); with
``auto_wrap_tools=True`` every function tool call too ("Calling <tool>"). After a crash Restate retries
the invocation against the restarted endpoint, which replays the journal: completed entries answer
from it without running again. Its requests are identical to the Prefect and DBOS versions', so it
replays the same cassette.

* ``analyst``: the agent as a scenario's ``agent:`` target; the harness serves it in a service of its
  own.
* ``analyze``: the same agent inside the user's own service, as a scenario's ``entry:`` target.
* ``analyst_plain_tools``: KNOWN-BAD. ``RestateAgent(agent)`` leaves function tools outside ``ctx.run``
  (``auto_wrap_tools`` defaults to False), so every replay after a crash runs the side-effecting
  ``load_dataset`` again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import restate
from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.models.openai import OpenAIChatModel
from restate.ext.pydantic import RestateAgent

MODEL = OpenAIChatModel("gpt-4o")  # one client for every agent here (building one costs ~0.1 s, per worker)
RUN_OPTIONS = restate.RunOptions(max_attempts=4, initial_retry_interval=timedelta(milliseconds=50))


def agent(name: str) -> Agent[None, DataAnalysis]:
    tools = FunctionToolset(id="analyst_tools")
    tools.tool_plain(load_dataset)
    tools.tool_plain(compute_statistics)
    return Agent(MODEL, name=name, instructions=INSTRUCTIONS, output_type=DataAnalysis, toolsets=[tools])


analyst = RestateAgent(agent("data_analyst_restate"), auto_wrap_tools=True, run_options=RUN_OPTIONS)

# KNOWN-BAD: function tools run outside ctx.run, so a replay after a crash runs them again.
analyst_plain_tools = RestateAgent(agent("data_analyst_restate_plain"), run_options=RUN_OPTIONS)


analyst_service = restate.Service(
    "DataAnalyst",
    invocation_retry_policy=restate.InvocationRetryPolicy(
        initial_interval=timedelta(milliseconds=50),
        max_interval=timedelta(milliseconds=500),
        max_attempts=60,
        on_max_attempts="kill",
    ),
)


@analyst_service.handler()
async def analyze(ctx: restate.Context, prompt: str) -> dict[str, Any]:
    """The user's handler: run the agent, return its report."""
    result = await analyst.run(prompt)
    return result.output.model_dump(mode="json")
