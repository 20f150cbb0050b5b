"""The data-analysis agent (``data_analyst_core``, from ``../_shared``) on every
provider API durable-chaos speaks, made durable with Prefect (``PrefectDurability``): OpenAI Responses
(``openai-responses:``), Anthropic Messages (``anthropic:``) and Gemini (``google:``, which older
pydantic-ai versions call ``google-gla:``). Plus a streaming run: the ``ProcessEventStream`` capability
(the form of ``event_stream_handler`` this pydantic-ai version takes) makes ``agent.run`` stream every
model response (SSE), so stream faults can strike it.

Each has its own cassette, recorded from the one ``script.yaml`` through the scripted server (which
answers every provider's API) with ``pytest --chaos --chaos-record scenarios/providers/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset, RunContext
from pydantic_ai.capabilities import AbstractCapability, ProcessEventStream
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])


def analyst(model: str, name: str, *streaming: AbstractCapability[None]) -> Agent[None, DataAnalysis]:
    tools = FunctionToolset(id="analyst_tools")
    tools.tool_plain(load_dataset)
    tools.tool_plain(compute_statistics)
    return Agent(
        model,
        name=name,
        instructions=INSTRUCTIONS,
        output_type=DataAnalysis,
        toolsets=[tools],
        capabilities=[
            *streaming,
            PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS),
        ],
    )


async def count_events(ctx: RunContext[None], events: AsyncIterable[Any]) -> None:
    """Consume the run's stream events (what a UI would render)."""
    async for _ in events:
        pass


responses = analyst("openai-responses:gpt-4o", "analyst_responses")
anthropic = analyst("anthropic:claude-haiku-4-5", "analyst_anthropic")
gemini = analyst("google:gemini-2.5-flash", "analyst_gemini")
streaming = analyst("openai-chat:gpt-4o", "analyst_streaming", ProcessEventStream(count_events))
