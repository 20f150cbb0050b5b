"""A correct data analyst on Temporal, written as Temporal's and pydantic-ai's docs advise: every model
request and tool call is an activity with a retry policy (``TemporalDurability``), replayed from the
history after a crash, and the one side effect (``load_dataset``) is idempotent by its tool call id.
Its requests are the data analyst's, so it replays that cassette."""

from __future__ import annotations

from datetime import timedelta

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.temporal import TemporalDurability
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityConfig

BRIEF = timedelta(seconds=0.05)
MODEL_ACTIVITIES = ActivityConfig(
    retry_policy=RetryPolicy(initial_interval=BRIEF, backoff_coefficient=1.0, maximum_attempts=5)
)
TOOL_ACTIVITIES = ActivityConfig(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(initial_interval=BRIEF, backoff_coefficient=1.0, maximum_attempts=3),
)

tools = FunctionToolset(id="analyst_tools")
tools.tool_plain(load_dataset)
tools.tool_plain(compute_statistics)

analyst = Agent(
    "openai-chat:gpt-4o",
    name="correct_temporal",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[tools],
    capabilities=[
        TemporalDurability(activity_config=TOOL_ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)
    ],
)
