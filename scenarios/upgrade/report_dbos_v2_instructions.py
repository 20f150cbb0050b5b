"""Version N+1 of ``report_dbos_v1`` that changes only the agent's instructions (same workflow, same
steps in the same order). With a pinned application version DBOS recovers the run N started: the model
request N had answered replays from the journal (N's instructions: a mixed-version run), and every
request after the deploy is made by N+1's code with N+1's instructions (``no_stale_replay`` holds).

It builds its own agent (the same name, so the same step names) rather than importing N's module: a
process runs one version, as a deployment does."""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from dbos import DBOS
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.dbos import DBOSDurability, StepConfig

NEW_INSTRUCTIONS = f"{INSTRUCTIONS} Round every figure to one decimal."
MODEL_STEPS = StepConfig(retries_allowed=True, max_attempts=4, interval_seconds=0.05, backoff_rate=1.0)


@DBOS.step(name="data_analyst.load_dataset")
def load_dataset_step(name: str) -> dict[str, list[float] | list[str]]:
    return load_dataset(name)


def load_dataset_journaled(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    return load_dataset_step(name)


tools = FunctionToolset(id="analyst_tools")
tools.tool_plain(load_dataset_journaled, name="load_dataset")
tools.tool_plain(compute_statistics)

analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_dbos",
    instructions=NEW_INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS)],
)


@DBOS.workflow(name="upgrade.report")
async def report(prompt: str) -> DataAnalysis:
    result = await analyst.run(prompt)
    return result.output
