"""The data analyst streaming its events to a UI on Temporal, in the two places a handler can be given
(the Prefect pair is in ``events_agents.py``).

KNOWN-BAD ``ui_in_workflow``: the handler is a ``ProcessEventStream`` capability beside
``TemporalDurability``. It runs in workflow code, and when a new worker replays the workflow after a crash,
the replayed model and tool activities hand their events to the handler again. The harness must report
exactly ``events_complete``.

Correct twin ``ui_in_activities``: ``TemporalDurability(event_stream_handler=...)``: model events are
delivered inside the model activity, every other event in an activity of its own, so a replay does not
deliver the events of completed activities again.
"""

from __future__ import annotations

from datetime import timedelta

from data_analyst_core import INSTRUCTIONS, DataAnalysis
from events_agents import to_ui, tools
from pydantic_ai import Agent
from pydantic_ai.capabilities import ProcessEventStream
from pydantic_ai.durable_exec.temporal import TemporalDurability
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityConfig

BRIEF = timedelta(seconds=0.05)
ACTIVITIES = ActivityConfig(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(initial_interval=BRIEF, backoff_coefficient=1.0, maximum_attempts=3),
)

ui_in_workflow = Agent(
    "openai-chat:gpt-4o",
    name="analyst_ui_in_temporal_workflow",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools()],
    capabilities=[
        ProcessEventStream(to_ui),  # KNOWN-BAD: runs in workflow code, and again on every replay
        TemporalDurability(activity_config=ACTIVITIES),
    ],
)

ui_in_activities = Agent(
    "openai-chat:gpt-4o",
    name="analyst_ui_in_activities",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools()],
    capabilities=[TemporalDurability(activity_config=ACTIVITIES, event_stream_handler=to_ui)],
)
