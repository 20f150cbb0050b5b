"""The data analyst streaming its events to a UI (what an ``event_stream_handler`` is for), made durable
with Prefect, in the two places a handler can be given.

KNOWN-BAD ``ui_in_flow``: the handler is a ``ProcessEventStream`` capability beside ``PrefectDurability``
(the way a non-durable agent takes it). It runs in the flow, not in a task: when the flow run is retried,
pydantic-ai replays the completed model requests and tool calls from Prefect's cache and hands their events
to the handler again, so the UI shows the first part of the run twice. The harness must report exactly
``events_complete``.

Correct twin ``ui_in_tasks``: the handler is given to ``PrefectDurability(event_stream_handler=...)``, as
pydantic-ai's Prefect docs advise: model events are delivered live inside the model-request task, and every
other event in a task of its own, so a replayed task does not deliver its events again and each event
reaches the UI once.
"""

from __future__ import annotations

from collections.abc import AsyncIterable
from typing import Any

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset, RunContext
from pydantic_ai.capabilities import ProcessEventStream
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
TOOL_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])

UI: list[str] = []
"""What the user's screen shows: one line per event."""


async def to_ui(ctx: RunContext[None], events: AsyncIterable[Any]) -> None:
    """Forward each event of the run to the UI."""
    async for event in events:
        UI.append(type(event).__name__)


def tools() -> FunctionToolset[None]:
    toolset: FunctionToolset[None] = FunctionToolset(id="analyst_tools")
    toolset.tool_plain(load_dataset)
    toolset.tool_plain(compute_statistics)
    return toolset


ui_in_flow = Agent(
    "openai-chat:gpt-4o",
    name="analyst_ui_in_flow",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools()],
    capabilities=[
        ProcessEventStream(to_ui),  # KNOWN-BAD: runs in the flow, and again on every flow retry
        PrefectDurability(model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS),
    ],
)

ui_in_tasks = Agent(
    "openai-chat:gpt-4o",
    name="analyst_ui_in_tasks",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools()],
    capabilities=[
        PrefectDurability(
            model_task_config=MODEL_TASKS, tool_task_config=TOOL_TASKS, event_stream_handler=to_ui
        )
    ],
)
