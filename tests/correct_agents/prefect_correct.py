"""A correct data analyst on Prefect, written as Prefect's and pydantic-ai's docs advise: the agent
runs in a flow, every model request and tool call is a task with retries (``PrefectDurability``), whose
cached results a retried or re-run flow run reuses, and the one side effect (``load_dataset``) is
idempotent by its tool call id. Its requests are the data analyst's, so it replays that cassette."""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

MODEL_TASKS = TaskConfig(retries=4, retry_delay_seconds=0.05, timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=0.05)

tools = FunctionToolset(id="analyst_tools")
tools.tool_plain(load_dataset)
tools.tool_plain(compute_statistics)

analyst = Agent(
    "openai-chat:gpt-4o",
    name="correct_prefect",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)
