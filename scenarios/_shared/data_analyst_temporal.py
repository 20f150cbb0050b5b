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
from typing import Any

from data_analyst_core import INSTRUCTIONS, DataAnalysis, bill_query, compute_statistics, load_dataset
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


# The at-least-once twins: `load_dataset` bills a warehouse query in its activity. The server learns an
# activity's result only after its body returns: a worker killed in between has the activity run again.
# KNOWN-BAD `analyst_billed` bills every attempt; `analyst_billed_once` bills once per (workflow id,
# activity id), which every attempt of the activity shares, so the repeat is deduplicated.
def load_dataset_billed(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    bill_query(name)
    return load_dataset(name)


def load_dataset_billed_once(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    from temporalio import activity

    info = activity.info()
    bill_query(name, key=f"{info.workflow_id}:{info.activity_id}")
    return load_dataset(name)


def load_dataset_billed_per_process(name: str) -> dict[str, list[float] | list[str]]:
    """Load a dataset by name."""
    import data_analyst_core as core
    from temporalio import activity

    info = activity.info()
    # KNOWN-BAD, only a warm worker shows it: the key numbers this process's bills (see there).
    core.bill_query_numbered_per_process(name, f"{info.workflow_id}:{info.activity_id}")
    return load_dataset(name)


def billed_tools(body: Any) -> FunctionToolset:
    toolset = FunctionToolset(id="analyst_tools")
    toolset.tool_plain(body, name="load_dataset")
    toolset.tool_plain(compute_statistics)
    return toolset


analyst_billed = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_billed",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[billed_tools(load_dataset_billed)],
    capabilities=[TemporalDurability(activity_config=ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)],
)
analyst_billed_once = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_billed_once",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[billed_tools(load_dataset_billed_once)],
    capabilities=[TemporalDurability(activity_config=ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)],
)
analyst_billed_per_process = Agent(
    "openai-chat:gpt-4o",
    name="data_analyst_billed_per_process",
    instructions=INSTRUCTIONS,
    output_type=DataAnalysis,
    toolsets=[billed_tools(load_dataset_billed_per_process)],
    capabilities=[TemporalDurability(activity_config=ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)],
)
