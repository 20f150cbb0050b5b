"""A billing agent whose tools live in an MCP server (``ledger_server.py``, stdio), made durable with
Prefect (``PrefectDurability``): each call of the server's tools is a Prefect task (the tool listing
runs in the flow). ``billing_dbos.py`` and ``billing_temporal.py`` have the DBOS and Temporal versions.

Model traffic comes from ``cassettes/billing.yaml``, recorded from ``script.yaml`` with
``pytest --chaos --chaos-record scenarios/mcp/`` (no provider needed).

KNOWN-BAD: ``billing_uncached`` gives its MCP tasks ``cache_policy=NO_CACHE`` (as one does when a
result would not pickle): a resumed flow run cannot replay the completed ``record_invoice`` task, so the
invoice is booked again. The harness must report exactly ``tools_exactly_once``.

``billing_strict``'s toolset raises protocol errors (``tool_error_behavior="error"``) instead of telling
the model, so a dead MCP server fails the MCP task (``server_exit*.yaml``). ``billing_relisting``'s
(``cache_tools=False``) lists the server's tools as a task of its own before every model request
(``relisting.yaml``: the report counts the listings per model request).
"""

from __future__ import annotations

from billing_core import INSTRUCTIONS, ledger_toolset
from prefect.cache_policies import NO_CACHE
from pydantic_ai import Agent
from pydantic_ai.durable_exec.prefect import PrefectDurability, TaskConfig

MODEL = "openai-chat:gpt-4o"
MODEL_TASKS = TaskConfig(retries=3, retry_delay_seconds=[0.05, 0.1, 0.2], timeout_seconds=60.0)
MCP_TASKS = TaskConfig(retries=2, retry_delay_seconds=[0.05, 0.1])

billing = Agent(
    MODEL,
    name="billing",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset()],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, mcp_task_config=MCP_TASKS)],
)

billing_uncached = Agent(
    MODEL,
    name="billing_uncached",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset()],
    capabilities=[
        PrefectDurability(
            model_task_config=MODEL_TASKS, mcp_task_config=TaskConfig(**MCP_TASKS, cache_policy=NO_CACHE)
        )
    ],
)

billing_strict = Agent(
    MODEL,
    name="billing_strict",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset(tool_error_behavior="error")],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, mcp_task_config=MCP_TASKS)],
)

billing_relisting = Agent(
    MODEL,
    name="billing_relisting",
    instructions=INSTRUCTIONS,
    toolsets=[ledger_toolset(cache_tools=False)],
    capabilities=[PrefectDurability(model_task_config=MODEL_TASKS, mcp_task_config=MCP_TASKS)],
)
