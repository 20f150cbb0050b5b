"""The data-analysis agent on Temporal: model requests and tool calls are Temporal activities. Its
requests are identical to the Prefect and DBOS versions', so it replays the same cassette.

* ``analyst``: the ``TemporalDurability`` capability (pydantic-ai 2.x).
* ``analyst_wrapper``: the deprecated ``TemporalAgent`` wrapper.

User workflows around ``analyst`` are in ``data_analyst_workflows``; as Temporal recommends, this module
is imported there through ``workflow.unsafe.imports_passed_through()``, so the agents are built once,
outside the sandbox.

Retry policies are short so trials are fast (production policies usually back off for seconds).
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from data_analyst_core import INSTRUCTIONS, DataAnalysis, compute_statistics, load_dataset
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.durable_exec.temporal import TemporalAgent, TemporalDurability
from pydantic_ai.exceptions import PydanticAIDeprecationWarning
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityConfig

BRIEF = timedelta(seconds=0.05)
MODEL_RETRIES = RetryPolicy(initial_interval=BRIEF, backoff_coefficient=1.0, maximum_attempts=4)
TOOL_RETRIES = RetryPolicy(initial_interval=BRIEF, backoff_coefficient=1.0, maximum_attempts=3)
ACTIVITIES = ActivityConfig(start_to_close_timeout=timedelta(seconds=60), retry_policy=TOOL_RETRIES)
MODEL_ACTIVITIES = ActivityConfig(retry_policy=MODEL_RETRIES)


def analyst_tools() -> FunctionToolset:
    toolset = FunctionToolset(id="analyst_tools")
    toolset.tool_plain(load_dataset)
    toolset.tool_plain(compute_statistics)
    return toolset


analyst = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[analyst_tools()],
    capabilities=[TemporalDurability(activity_config=ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)],
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PydanticAIDeprecationWarning)
    analyst_wrapper = TemporalAgent(
        Agent(
            "openai-chat:gpt-4o",
            name="data_analyst_wrapped",
            instructions=INSTRUCTIONS,
            output_type=DataAnalysis,
            toolsets=[analyst_tools()],
        ),
        activity_config=ACTIVITIES,
        model_activity_config=MODEL_ACTIVITIES,
    )
