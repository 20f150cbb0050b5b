"""The data-analysis agent on Restate (``restate.ext.pydantic``).

``RestateAgent`` journals every model request as a ``ctx.run`` entry ("Model call"); with
``auto_wrap_tools=True`` every function tool call too ("Calling <tool>"). After a crash Restate retries
the invocation against the restarted endpoint, which replays the journal: completed entries answer
from it without running again. Its requests are identical to the Prefect and DBOS versions', so it
replays the same cassette.

* ``analyst``: the agent as a scenario's ``agent:`` target; the harness serves it in a service of its
  own.
* ``analyze``: the same agent inside the user's own service, as a scenario's ``entry:`` target.
* ``analyst_run_tools``: function tools in handler code (``RestateAgent(agent)`` without
  ``auto_wrap_tools``) whose bodies run their work in ``ctx.run`` themselves: ``load_dataset`` through
  ``restate_context().run_typed`` with a sync action (Restate runs it in an executor),
  ``compute_statistics`` through ``ctx.run`` with an async action. Each is a journal entry with retries,
  so a failure inside it is retried by Restate and a replay does not run it again.
* ``analyst_plain_tools``: KNOWN-BAD. ``RestateAgent(agent)`` leaves function tools outside ``ctx.run``
  (``auto_wrap_tools`` defaults to False), so every replay after a crash runs the side-effecting
  ``load_dataset`` again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import data_analyst_core as core
import restate
from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.models.openai import OpenAIChatModel
from restate.ext.pydantic import RestateAgent, restate_context

MODEL = OpenAIChatModel("gpt-4o")  # one client for every agent here (building one costs ~0.1 s, per worker)
RUN_OPTIONS = restate.RunOptions(max_attempts=4, initial_retry_interval=timedelta(milliseconds=50))


def agent(
    name: str, load: Any = load_dataset, compute: Any = compute_statistics
) -> Agent[None, DataAnalysis]:
    # The tools keep their names (and so the requests) whatever their bodies: one cassette replays.
    tools = FunctionToolset(id="analyst_tools")
    tools.tool_plain(load, name="load_dataset")
    tools.tool_plain(compute, name="compute_statistics")
    return Agent(MODEL, name=name, instructions=INSTRUCTIONS, output_type=DataAnalysis, toolsets=[tools])


analyst = RestateAgent(agent("data_analyst_restate"), auto_wrap_tools=True, run_options=RUN_OPTIONS)


async def load_dataset_in_run(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return await restate_context().run_typed("load_dataset", core.load_dataset, RUN_OPTIONS, name=name)


async def compute_statistics_in_run(column: str) -> dict[str, float]:
    """Mean, max and min of a numeric column of the loaded dataset."""

    async def compute() -> dict[str, float]:
        return core.compute_statistics(column)

    return await restate_context().run("compute_statistics", compute, max_attempts=RUN_OPTIONS.max_attempts)


# Correct: the tools run in handler code and put their work in ctx.run entries of their own.
analyst_run_tools = RestateAgent(
    agent("data_analyst_restate_run_tools", load_dataset_in_run, compute_statistics_in_run),
    run_options=RUN_OPTIONS,
)


# The at-least-once twins: `load_dataset` bills a warehouse query in a ctx.run entry its body opens.
# Restate journals the entry's result only after the action returns: a crash in between has the retried
# invocation run the action again. KNOWN-BAD `analyst_billed_run` bills every run of the action;
# `analyst_billed_once_run` bills once per (invocation id, dataset), which the retries keep.
async def load_dataset_billed_in_run(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""

    def billed(name: str) -> dict[str, list[float] | list[str]]:
        core.bill_query(name)
        return core.load_dataset(name)

    return await restate_context().run_typed("load_dataset", billed, RUN_OPTIONS, name=name)


async def load_dataset_billed_once_in_run(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    key = f"{restate_context().request().id}:{name}"  # the invocation's id: its retries keep it

    def billed_once(name: str) -> dict[str, list[float] | list[str]]:
        core.bill_query(name, key=key)
        return core.load_dataset(name)

    return await restate_context().run_typed("load_dataset", billed_once, RUN_OPTIONS, name=name)


async def load_dataset_billed_per_process_in_run(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    invocation = restate_context().request().id

    def billed(name: str) -> dict[str, list[float] | list[str]]:
        # KNOWN-BAD, only a warm worker shows it: the key numbers this process's bills (see there).
        core.bill_query_numbered_per_process(name, invocation)
        return core.load_dataset(name)

    return await restate_context().run_typed("load_dataset", billed, RUN_OPTIONS, name=name)


analyst_billed_run = RestateAgent(
    agent("data_analyst_restate_billed", load_dataset_billed_in_run, compute_statistics_in_run),
    run_options=RUN_OPTIONS,
)
analyst_billed_once_run = RestateAgent(
    agent("data_analyst_restate_billed_once", load_dataset_billed_once_in_run, compute_statistics_in_run),
    run_options=RUN_OPTIONS,
)
analyst_billed_per_process_run = RestateAgent(
    agent(
        "data_analyst_restate_billed_per_process",
        load_dataset_billed_per_process_in_run,
        compute_statistics_in_run,
    ),
    run_options=RUN_OPTIONS,
)

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
