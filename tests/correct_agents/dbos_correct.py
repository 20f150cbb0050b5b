"""A correct data analyst on DBOS, written as DBOS's docs advise: every tool body is a ``@DBOS.step``
with retries (so a failure inside it is retried by DBOS and a recovery replays it), model requests are
steps (``DBOSDurability``), and the one side effect (``load_dataset``) is idempotent by its tool call id.
Its requests are the data analyst's, so it replays that cassette."""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from dbos import DBOS
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.dbos import DBOSDurability, StepConfig

MODEL_STEPS = StepConfig(retries_allowed=True, max_attempts=6, interval_seconds=0.05, backoff_rate=1.0)
TOOL_STEPS = {"retries_allowed": True, "max_attempts": 3, "interval_seconds": 0.05}


@DBOS.step(name="correct.load_dataset", **TOOL_STEPS)
def load_dataset_step(name: str) -> dict[str, list[float] | list[str]]:
    return load_dataset(name)


@DBOS.step(name="correct.compute_statistics", **TOOL_STEPS)
def compute_statistics_step(column: str) -> dict[str, float]:
    return compute_statistics(column)


def load_dataset_tool(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset_step(name)


def compute_statistics_tool(column: str) -> dict[str, float]:
    """Mean, max and min of a numeric column of the loaded dataset."""
    return compute_statistics_step(column)


tools = FunctionToolset(id="analyst_tools")
tools.tool_plain(load_dataset_tool, name="load_dataset")
tools.tool_plain(compute_statistics_tool, name="compute_statistics")

analyst = Agent(
    "openai-chat:gpt-4o",
    name="correct_dbos",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)
