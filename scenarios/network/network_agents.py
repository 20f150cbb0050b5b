"""The data analyst (``../_shared/data_analyst_core.py``) with a short model timeout, for network faults.

The OpenAI client times out after 1 s and does not retry by itself (``max_retries=0``), so what a
toxic on the model endpoint does is decided by the durable unit's own retries: Prefect's task
retries here, DBOS's step retries in ``analyst_dbos``. Same requests as the data analyst's, so it
replays the same cassette.
"""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from openai import AsyncOpenAI
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig
from pydantic_ai.models.openai import OpenAIChatModel
from pydantic_ai.providers.openai import OpenAIProvider

MODEL_TIMEOUT_SECONDS = 1.0


def model() -> OpenAIChatModel:
    client = AsyncOpenAI(timeout=MODEL_TIMEOUT_SECONDS, max_retries=0)
    return OpenAIChatModel("gpt-4o", provider=OpenAIProvider(openai_client=client))


def _tools(toolset_id: str) -> FunctionToolset:
    toolset = FunctionToolset(id=toolset_id)
    toolset.tool_plain(load_dataset)
    toolset.tool_plain(compute_statistics)
    return toolset


analyst = Agent(
    model(),
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[_tools("analyst_tools")],
    capabilities=[
        PrefectDurability(
            model_task_config=TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2]),
            tool_task_config=TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1]),
        )
    ],
)

# KNOWN-BAD: no retries. A model endpoint that is down for one attempt fails the run.
analyst_without_retries = Agent(
    model(),
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[_tools("analyst_tools")],
    capabilities=[
        PrefectDurability(model_task_config=TaskConfig(retries=0), tool_task_config=TaskConfig(retries=0))
    ],
)
