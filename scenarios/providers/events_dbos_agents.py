"""The data analyst streaming its events to a UI under DBOS, in the two places a handler can be given
(the Prefect pair is in ``events_agents.py``).

KNOWN-BAD ``ui_in_workflow``: the handler is a ``ProcessEventStream`` capability beside ``DBOSDurability``.
It runs in the workflow function, and when a new worker recovers the workflow after a crash, the replayed
model steps and tool calls hand their events to the handler again. The harness must report exactly
``events_complete``.

Correct twin ``ui_in_steps``: ``DBOSDurability(event_stream_handler=...)``: model events are delivered
inside the model-request step, every other event in a step of its own, so a recovered workflow does not
deliver the events of its journaled steps again.
"""

from __future__ import annotations

from data_analyst_core import INSTRUCTIONS, DataAnalysis
from events_agents import to_ui, tools
from pydantic_ai import Agent
from pydantic_ai.capabilities import ProcessEventStream
from pydantic_ai.durable_exec.dbos import DBOSDurability, StepConfig

MODEL_STEPS = StepConfig(retries_allowed=True, max_attempts=4, interval_seconds=0.05, backoff_rate=1.0)

ui_in_workflow = Agent(
    "openai-chat:gpt-4o",
    name="analyst_ui_in_workflow",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools()],
    capabilities=[
        ProcessEventStream(to_ui),  # KNOWN-BAD: runs in the workflow, and again on every recovery
        DBOSDurability(model_step_config=MODEL_STEPS),
    ],
)

ui_in_steps = Agent(
    "openai-chat:gpt-4o",
    name="analyst_ui_in_steps",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools()],
    capabilities=[DBOSDurability(model_step_config=MODEL_STEPS, event_stream_handler=to_ui)],
)
