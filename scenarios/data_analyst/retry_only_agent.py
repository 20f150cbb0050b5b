"""KNOWN-BAD (found only by an in-process retry): the flow reports how often its tools were loaded,
from a process-local counter keyed by the flow run. After a kill, the resumed process starts with an
empty counter and the flow's result matches the clean run's; after a tool's result is lost and the
engine retries it in the same process, the counter says 2 and the result differs. A sweep must show
``output_matches_golden`` violated in its ``retry``/``after`` cells and held in its ``kill`` cells.
"""

from __future__ import annotations

import functools
from collections import Counter
from typing import Any

from data_analyst_agent import INSTRUCTIONS, MODEL_TASKS, TOOL_TASKS
from data_analyst_core import DataAnalysis, compute_statistics, load_dataset
from prefect import flow
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability

CALLS: Counter[str] = Counter()
"""Tool bodies run in this process, per flow run and tool: the process-local state that leaks."""


def counted(tool: Any) -> Any:
    @functools.wraps(tool)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from prefect.runtime import flow_run

        CALLS[f"{flow_run.id}:{tool.__name__}"] += 1
        return tool(*args, **kwargs)

    return wrapper


toolset: FunctionToolset[None] = FunctionToolset(id="analyst_tools")
toolset.tool_plain(counted(load_dataset))
toolset.tool_plain(counted(compute_statistics))
counting_analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)


@flow(name="analyze-sales-counted")
async def analyze_sales_counted(prompt: str) -> dict[str, object]:
    from prefect.runtime import flow_run

    result = await counting_analyst.run(prompt)
    prefix = f"{flow_run.id}:"
    repeated = sum(n - 1 for key, n in CALLS.items() if key.startswith(prefix))
    return {"analysis": result.output.model_dump(), "repeated_tool_bodies": repeated}
