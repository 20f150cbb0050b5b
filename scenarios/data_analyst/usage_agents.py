"""The data-analysis agent with a spend limit per job, and the usage its runs report.

KNOWN-BAD ``analyst_job_budget``: the team caps each job's spend with ``UsageLimits`` and keeps the job's
running total in a ``RunUsage`` that it passes to every ``agent.run(usage=...)`` of the job (the flow
run), so that one job cannot exceed its budget whatever it does. But a flow retry runs the agent again in
the same flow run: the replayed model responses are counted again on top of the failed attempt's, the
result reports more requests and tokens than a clean run made, and the budget trips on replays. The
harness must report exactly ``usage_consistent``.

FINDING ``analyst_delegating``: pydantic-ai's agent delegation as its docs show it, a tool that runs a
sub-agent with ``usage=ctx.usage`` so that the parent run counts the sub-agent's usage, inside a
``PrefectDurability`` tool task. A clean run counts it; a run resumed after a kill replays the tool task
from Prefect's cache, the sub-agent does not run, and its usage is lost from the result (the task's
cached result carries the tool's return value, not the usage it added). The harness reports exactly
``usage_consistent``.

Correct twin ``analyst_run_budget``: the limit applies to each run's own usage (``usage_limits`` alone,
no usage carried in): pydantic-ai counts every response once, whether its model task ran or was
replayed from Prefect's cache.
"""

from __future__ import annotations

from typing import Any

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset, RunContext
from pydantic_ai.agent import WrapperAgent
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig
from pydantic_ai.usage import RunUsage, UsageLimits

MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])
BUDGET = UsageLimits(request_limit=20)

analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[FunctionToolset([load_dataset, compute_statistics], id="analyst_tools")],
    capabilities=[
        PrefectDurability(
            model_task_config=TaskConfig(
                retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0
            ),
            tool_task_config=TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1]),
        )
    ],
)

JOB_USAGE: dict[str, RunUsage] = {}
"""KNOWN-BAD: each job's (flow run's) running usage, kept across the agent runs of the job."""


def job_usage() -> RunUsage:
    from prefect.runtime import flow_run

    return JOB_USAGE.setdefault(str(flow_run.id), RunUsage())


class JobBudget(WrapperAgent[None, DataAnalysis]):
    """Every run counts against its job's budget: the job's running usage is carried into the run."""

    async def run(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return await super().run(*args, usage=job_usage(), usage_limits=BUDGET, **kwargs)


class RunBudget(WrapperAgent[None, DataAnalysis]):
    """Every run is limited on its own usage."""

    async def run(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return await super().run(*args, usage_limits=BUDGET, **kwargs)


analyst_job_budget = JobBudget(analyst)
analyst_run_budget = RunBudget(analyst)


summarizer = Agent("openai-chat:gpt-4o", instructions="You write one-line summaries of datasets.")


async def summarize_dataset(ctx: RunContext[None], name: str) -> str:
    """A one-line summary of a dataset."""
    result = await summarizer.run(f"Summarize {load_dataset(name)}", usage=ctx.usage)
    return result.output


analyst_delegating = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[FunctionToolset([summarize_dataset], id="analyst_tools")],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)
