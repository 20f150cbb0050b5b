"""The data analyst on Prefect, built per release (``report_prefect_v1`` and its next releases): the
``PrefectDurability`` capability, so model requests and tool calls are Prefect tasks cached by
pydantic-ai's policy (inputs, task source, flow run id)."""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])


def analyst_tools() -> FunctionToolset:
    toolset = FunctionToolset(id="analyst_tools")
    toolset.tool_plain(load_dataset)
    toolset.tool_plain(compute_statistics)
    return toolset


def build(
    instructions: str = INSTRUCTIONS, model_tasks: TaskConfig = MODEL_TASKS
) -> Agent[None, DataAnalysis]:
    return Agent(
        "openai-chat:gpt-4o",
        name="data_analyst",
        instructions=instructions,
        output_type=DataAnalysis,
        toolsets=[analyst_tools()],
        capabilities=[PrefectDurability(model_task_config=model_tasks, tool_task_config=TOOL_TASKS)],
    )
