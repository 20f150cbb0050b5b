"""The data-analysis agent run by a flow that takes more than the prompt: the run's deps (the region to
focus on), its metadata (the quarter whose dataset the tool loads) and its model settings (the
temperature). Two runs with the same prompt and other deps, metadata or settings must not share cached
results (``no_false_cache_sharing`` with variants that change only those).

KNOWN-BAD ``analyze_sales_cached_by_prompt``: to let a new flow run that asks the same question reuse
the model responses already paid for, each model request is cached by the run's prompt and its position
in the conversation, not by pydantic-ai's default policy (every input + task source + flow run id). It
looks like the fix of ``shared_cache.yaml`` (that key left the prompt out), but the request also depends
on the deps (the instructions name the region), the metadata (the tool's result is in the next request)
and the model settings (the temperature is in the request): a run for the west region, for Q3 or at
another temperature receives the golden run's cached responses. The harness must report exactly
``no_false_cache_sharing``.

Correct twin ``analyze_sales_for``: the same flow with the default model-task cache policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_analyst_core import INSTRUCTIONS, SALES_Q4, DataAnalysis, compute_statistics
from prefect import flow
from prefect.cache_policies import TASK_SOURCE, CachePolicy
from pydantic_ai import Agent, FunctionToolset, RunContext
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])

SALES_Q3 = {
    "revenue": [110.0, 98.5, 131.0, 122.0, 104.25],
    "region": ["north", "south", "east", "west", "north"],
}


@dataclass
class Focus:
    """The run's deps: the region the report focuses on."""

    region: str


def load_dataset(ctx: RunContext[Focus], name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    if name != "sales_q4":
        raise ValueError(f"unknown dataset {name!r}")
    return SALES_Q3 if (ctx.metadata or {}).get("quarter") == "Q3" else SALES_Q4


def focus(ctx: RunContext[Focus]) -> str:
    return f"Focus on the {ctx.deps.region} region."


@dataclass
class PromptAndPosition(CachePolicy):
    """Cache key: the run's prompt and how many messages the model request carries."""

    def compute_key(
        self, task_ctx: Any, inputs: dict[str, Any], flow_parameters: dict[str, Any], **kwargs: Any
    ) -> str | None:
        messages = next((v for v in inputs.get("logical_inputs", ()) if isinstance(v, list)), [])
        prompt = next(
            (
                str(part.content)
                for message in messages
                for part in getattr(message, "parts", ())
                if getattr(part, "part_kind", "") == "user-prompt"
            ),
            "",
        )
        return f"{inputs.get('operation_name')} for {prompt!r} at message {len(messages)}"


def analyst(model_tasks: TaskConfig) -> Agent[Focus, DataAnalysis]:
    tools: FunctionToolset[Focus] = FunctionToolset(id="analyst_tools")
    tools.tool(load_dataset)
    tools.tool_plain(compute_statistics)
    agent = Agent(
        "openai-chat:gpt-4o",
        name="data_analyst",
        instructions=INSTRUCTIONS,
        output_type=DataAnalysis,
        deps_type=Focus,
        toolsets=[tools],
        capabilities=[PrefectDurability(model_task_config=model_tasks, tool_task_config=TOOL_TASKS)],
    )
    agent.instructions(focus)
    return agent


analyst_default_keys = analyst(MODEL_TASKS)
analyst_keyed_by_prompt = analyst(
    TaskConfig(**MODEL_TASKS, cache_policy=TASK_SOURCE + PromptAndPosition())  # type: ignore[typeddict-item]
)


async def _analyze(
    agent: Agent[Focus, DataAnalysis], prompt: str, region: str, quarter: str, temperature: float
) -> DataAnalysis:
    result = await agent.run(
        prompt, deps=Focus(region), metadata={"quarter": quarter}, model_settings={"temperature": temperature}
    )
    return result.output


@flow(name="analyze-sales-for")
async def analyze_sales_for(
    prompt: str, region: str = "north", quarter: str = "Q4", temperature: float = 0.0
) -> DataAnalysis:
    return await _analyze(analyst_default_keys, prompt, region, quarter, temperature)


@flow(name="analyze-sales-cached-by-prompt")
async def analyze_sales_cached_by_prompt(
    prompt: str, region: str = "north", quarter: str = "Q4", temperature: float = 0.0
) -> DataAnalysis:
    return await _analyze(analyst_keyed_by_prompt, prompt, region, quarter, temperature)
