"""The billing agent on Temporal: the ledger server's tool listing and each of its tool calls are Temporal
activities (``<agent>__mcp_server__ledger__get_tools`` / ``__call_tool``), replayed from the workflow
history after a crash. Its requests are identical to the Prefect version's, so it replays the same
cassette.

* ``billing``: the ``TemporalDurability`` capability (pydantic-ai 2.x).
* ``billing_wrapper``: the deprecated ``TemporalAgent`` wrapper around a plain agent with the same
  ``MCPToolset``: it temporalizes the toolset the same way.
* ``billing_strict``: the toolset raises protocol errors (``tool_error_behavior="error"``), so a dead
  MCP server fails the MCP activity instead of telling the model (``temporal_server_exit.yaml``).
* KNOWN-BAD ``billing_strict_single_attempt``: as ``billing_strict``, but its activities run once
  (``maximum_attempts=1``, as one sets for a side-effecting tool): a dead MCP server fails the run
  (``temporal_server_exit_single_attempt.yaml``; the harness must report exactly ``completes``).

Retry policies are short so trials are fast (production policies usually back off for seconds).
"""

from __future__ import annotations

import warnings
from datetime import timedelta

from billing_core import INSTRUCTIONS, ledger_toolset
from pydantic_ai import Agent
from pydantic_ai.durable_exec.temporal import TemporalAgent, TemporalDurability
from pydantic_ai.exceptions import PydanticAIDeprecationWarning
from temporalio.common import RetryPolicy
from temporalio.workflow import ActivityConfig

MODEL = "openai-chat:gpt-4o"
BRIEF = timedelta(seconds=0.05)
ACTIVITIES = ActivityConfig(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(initial_interval=BRIEF, backoff_coefficient=1.0, maximum_attempts=3),
)
MODEL_ACTIVITIES = ActivityConfig(
    retry_policy=RetryPolicy(initial_interval=BRIEF, backoff_coefficient=1.0, maximum_attempts=4)
)

billing = Agent(
    MODEL,
    name="billing_temporal",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset()],
    capabilities=[TemporalDurability(activity_config=ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)],
)

billing_strict = Agent(
    MODEL,
    name="billing_temporal_strict",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset(tool_error_behavior="error")],
    capabilities=[TemporalDurability(activity_config=ACTIVITIES, model_activity_config=MODEL_ACTIVITIES)],
)

billing_strict_single_attempt = Agent(
    MODEL,
    name="billing_temporal_single_attempt",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset(tool_error_behavior="error")],
    capabilities=[
        TemporalDurability(
            activity_config=ActivityConfig(
                start_to_close_timeout=timedelta(seconds=60), retry_policy=RetryPolicy(maximum_attempts=1)
            ),
            model_activity_config=MODEL_ACTIVITIES,
        )
    ],
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", PydanticAIDeprecationWarning)
    billing_wrapper = TemporalAgent(
        Agent(MODEL, name="billing_temporal_wrapped", instructions=INSTRUCTIONS, toolsets=[ledger_toolset()]),
        activity_config=ACTIVITIES,
        model_activity_config=MODEL_ACTIVITIES,
    )
