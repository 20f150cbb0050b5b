"""The data-analysis agent under DBOS (the ``DBOSDurability`` capability): model requests are DBOS
steps, replayed from the system database after a crash. Its requests are identical to the Prefect
version's, so it replays the same cassette.

Under DBOS, plain function tools are NOT steps: they run in the workflow and run again on every
recovery. ``analyst`` journals its side-effecting tool in a ``@DBOS.step``; ``analyst_plain_tools``
does not (known-bad when ``load_dataset`` has a side effect).
"""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from dbos import DBOS
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.dbos import DBOSDurability, StepConfig

MODEL_STEPS = StepConfig(retries_allowed=True, max_attempts=4, interval_seconds=0.05, backoff_rate=1.0)


@DBOS.step(name="data_analyst.load_dataset")
def load_dataset_step(name: str) -> dict[str, list[float] | list[str]]:
    return load_dataset(name)


def load_dataset_journaled(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset_step(name)


def toolset(journaled: bool) -> FunctionToolset:
    tools = FunctionToolset(id="analyst_tools")
    tools.tool_plain(load_dataset_journaled if journaled else load_dataset, name="load_dataset")
    tools.tool_plain(compute_statistics)
    return tools


analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset(journaled=True)],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)

# KNOWN-BAD: `load_dataset` is a plain function tool, so it runs again when DBOS recovers the workflow.
analyst_plain_tools = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos_plain",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[toolset(journaled=False)],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)
