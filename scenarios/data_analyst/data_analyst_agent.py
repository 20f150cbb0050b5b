"""The data-analysis agent of the Prefect article (three model requests, two tools, structured
output), made durable with Prefect in the two ways users have in production, plus known-bad
variants the harness must catch.

Model traffic comes from ``cassettes/data_analyst.yaml``, recorded from ``script.yaml`` with
``pytest --chaos --chaos-record`` (no provider needed). Retry delays are short so trials are fast;
the article uses 1, 2, 4 seconds.
"""

from __future__ import annotations

import datetime as dt
import warnings

from prefect.cache_policies import INPUTS, TASK_SOURCE
from pydantic import BaseModel, Field
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectAgent, PrefectDurability, TaskConfig
from pydantic_ai.exceptions import PydanticAIDeprecationWarning

SALES_Q4 = {"revenue": [120.0, 135.5, 128.0, 410.0, 140.25], "region": ["north", "south", "east", "west", "north"]}


class DataAnalysis(BaseModel):
    summary: str
    key_findings: list[str]
    anomalies: list[dict[str, float]]
    recommendations: list[str]


def load_dataset(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    if name != "sales_q4":
        raise ValueError(f"unknown dataset {name!r}")
    return SALES_Q4


def compute_statistics(column: str) -> dict[str, float]:
    """Mean, max and min of a numeric column of the loaded dataset."""
    values = [float(v) for v in SALES_Q4[column]]
    return {"mean": round(sum(values) / len(values), 2), "max": max(values), "min": min(values)}


MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])
INSTRUCTIONS = "You are an expert data analyst. Load the dataset, compute statistics, then report."


def analyst_tools(toolset_id: str) -> FunctionToolset:
    toolset = FunctionToolset(id=toolset_id)
    toolset.tool_plain(load_dataset)
    toolset.tool_plain(compute_statistics)
    return toolset


# The capability form (pydantic-ai 2.x): the agent runs inside a flow and its model requests and
# tool calls become Prefect tasks of that flow.
analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[analyst_tools("analyst_tools")],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS)],
)

# The deprecated wrapper form, as in the article: `.run()` is a flow of its own.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", PydanticAIDeprecationWarning)
    analyst_wrapper = PrefectAgent(
        Agent(
            "openai-chat:gpt-4o",
            name="data_analyst",
            instructions=INSTRUCTIONS,
            output_type=DataAnalysis,
            toolsets=[analyst_tools("analyst_tools")],
        ),
        model_task_config=MODEL_TASKS,
        tool_task_config=TOOL_TASKS,
    )


# KNOWN-BAD: a tool argument carries the current time. The model never sends `as_of`, so pydantic
# fills it with "now" when the arguments are validated: every attempt of the tool task hashes a
# different input, its cache key changes, and a retried run can never reuse the tool's result.
def compute_statistics_as_of(
    column: str, as_of: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
) -> dict[str, float]:
    """Mean, max and min of a numeric column, as of a point in time."""
    return compute_statistics(column)


def unstable_tools() -> FunctionToolset:
    toolset = FunctionToolset(id="analyst_tools")
    toolset.tool_plain(load_dataset)
    toolset.tool_plain(compute_statistics_as_of, name="compute_statistics")
    return toolset


analyst_unstable_cache_key = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[unstable_tools()],
    capabilities=[
        PrefectDurability(
            model_task_config=MODEL_TASKS,
            # Prefect's plain input hashing instead of pydantic-ai's policy: every input counts.
            tool_task_config=TaskConfig(**TOOL_TASKS, cache_policy=INPUTS + TASK_SOURCE),
        )
    ],
)
