"""KNOWN-BAD only under TWO faults IN ONE ORDER: a rate-limit storm on a model request, then (later in
the same run) a tool whose result is lost after it ran. Found by the Hypothesis tests of
``tests/test_hypothesis_mode.py``, which shrink it to exactly that two-fault schedule.

The data analyst's tools read a (billed) warehouse through a per-run query cache, and the flow
reports how many queries it billed. A circuit breaker guards the warehouse: a 429 storm that outlasts
the provider SDK's own retries opens it (``BreakerModel``), and nothing closes it again (the bug). A
tool that is *retried* while the breaker is open skips the query cache and goes straight to the
warehouse, billing the query a second time:

- a 429 storm alone opens the breaker, but no tool is retried;
- a tool error alone retries the tool with the breaker closed, so the cached query is reused;
- a tool error *followed* by a storm retries the tool before the breaker opens;
- only a storm *followed* by a tool error after the tool ran bills twice, and the flow's result (its
  billed queries) differs from the clean run's: ``output_matches_golden`` is violated.

All of this is process-local, so a kill (a new process) resets it. ``analyze_with_breaker_fixed`` is the
correct version: a retry always reuses the cached query, whatever the breaker says.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from data_analyst_agent import INSTRUCTIONS, MODEL_TASKS, TOOL_TASKS
from data_analyst_core import DataAnalysis, compute_statistics, load_dataset
from prefect import flow
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability
from pydantic_ai.exceptions import ModelHTTPError
from pydantic_ai.models.wrapper import WrapperModel

OPEN_BREAKERS: set[str] = set()
"""Per flow run, process-local: the circuit breaker a rate-limit storm opened (never closed again)."""
QUERY_CACHE: dict[str, Any] = {}
"""Per flow run and query: the warehouse's answer."""
BILLED: Counter[str] = Counter()
"""Per flow run: warehouse queries billed."""


class BreakerModel(WrapperModel):
    """Opens the breaker when a 429 reaches the agent (the SDK's own retries did not absorb it)."""

    async def request(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().request(*args, **kwargs)
        except ModelHTTPError as exc:
            if exc.status_code == 429:
                from prefect.runtime import flow_run

                OPEN_BREAKERS.add(flow_run.id)
            raise


def warehouse(tool: Callable[..., Any], *, bypass_when_open: bool) -> Callable[..., Any]:
    """The tool, reading through the per-run query cache and billing each warehouse query."""

    def query(argument: str) -> Any:
        from prefect.runtime import flow_run, task_run

        key = f"{flow_run.id}:{tool.__name__}:{argument}"
        retried_while_open = task_run.run_count > 1 and flow_run.id in OPEN_BREAKERS
        if key in QUERY_CACHE and not (bypass_when_open and retried_while_open):
            return QUERY_CACHE[key]
        BILLED[flow_run.id] += 1
        QUERY_CACHE[key] = tool(argument)
        return QUERY_CACHE[key]

    return query


def toolset(bypass_when_open: bool) -> FunctionToolset[None]:
    tools: FunctionToolset[None] = FunctionToolset(id="analyst_tools")
    load = warehouse(load_dataset, bypass_when_open=bypass_when_open)
    stats = warehouse(compute_statistics, bypass_when_open=bypass_when_open)

    def load_dataset_tool(name: str) -> dict[str, list[float] | list[str]]:
        """Load a dataset by name."""
        return load(name)  # type: ignore[no-any-return]

    def compute_statistics_tool(column: str) -> dict[str, float]:
        """Mean, max and min of a numeric column of the loaded dataset."""
        return stats(column)  # type: ignore[no-any-return]

    tools.tool_plain(load_dataset_tool, name="load_dataset")
    tools.tool_plain(compute_statistics_tool, name="compute_statistics")
    return tools


def analyst(bypass_when_open: bool) -> Agent[None, DataAnalysis]:
    return Agent(
        BreakerModel("openai-chat:gpt-4o"),
        name="data_analyst",
        instructions=INSTRUCTIONS,
        output_type=DataAnalysis,
        toolsets=[toolset(bypass_when_open)],
        capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
    )


breaker_analyst = analyst(bypass_when_open=True)
fixed_analyst = analyst(bypass_when_open=False)


async def _analyze(agent: Agent[None, DataAnalysis], prompt: str) -> dict[str, object]:
    from prefect.runtime import flow_run

    result = await agent.run(prompt)
    return {"analysis": result.output.model_dump(), "warehouse_queries_billed": BILLED[flow_run.id]}


@flow(name="analyze-sales-breaker")
async def analyze_with_breaker(prompt: str) -> dict[str, object]:
    """KNOWN-BAD: a storm then a lost tool result bills a warehouse query twice."""
    return await _analyze(breaker_analyst, prompt)


@flow(name="analyze-sales-breaker-fixed")
async def analyze_with_breaker_fixed(prompt: str) -> dict[str, object]:
    """Correct: a retried tool reuses the cached query whatever the breaker says."""
    return await _analyze(fixed_analyst, prompt)
