"""The billing agent under DBOS (``DBOSDurability``): the ledger server's tool listing and each tool
call are DBOS steps, replayed from the system database after a crash. Its requests are identical to
the Prefect version's, so it replays the same cassette.

``billing_strict``'s toolset raises protocol errors (``tool_error_behavior="error"``), so a dead MCP
server fails the MCP step instead of telling the model (``dbos_server_exit.yaml``)."""

from __future__ import annotations

from billing_core import INSTRUCTIONS, ledger_toolset
from pydantic_ai import Agent
from pydantic_ai.durable_exec.dbos import DBOSDurability, StepConfig

STEPS = StepConfig(retries_allowed=True, max_attempts=3, interval_seconds=0.05, backoff_rate=1.0)

billing = Agent(
    "openai-chat:gpt-4o",
    name="billing_dbos",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset()],
    capabilities=[DBOSDurability(model_step_config=STEPS, mcp_step_config=STEPS)],
)

billing_strict = Agent(
    "openai-chat:gpt-4o",
    name="billing_dbos_strict",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset(tool_error_behavior="error")],
    capabilities=[DBOSDurability(model_step_config=STEPS, mcp_step_config=STEPS)],
)
